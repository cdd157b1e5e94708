"""Stage 1: decode a video into RGB frames, streamed from an ffmpeg pipe one frame at a time."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np

from .errors import InputError
from .ffmpeg_tools import ffmpeg_exe
from .frames import Frame, VideoInfo


def read_frames(path: Path, info: VideoInfo, seek: float | None = None) -> Iterator[Frame]:
    """Yields every decoded frame once, as displayed (ffmpeg applies the rotation flag), with no frames
    duplicated or dropped (``fps_mode passthrough``), so the output can have exactly the input's frame count.
    A stream that ends early is not an error (the caller compares the count with ``info.frame_estimate``); a
    decoder that fails is, with where it failed. ``seek``: start at the first frame at or after this time (an
    accurate seek: ffmpeg decodes from the keyframe before it and drops what comes earlier)."""
    args = (ffmpeg.input(str(path), **({"ss": f"{seek:.6f}"} if seek else {}))
            .output("pipe:", format="rawvideo", pix_fmt="rgb24", map="0:v:0", fps_mode="passthrough")
            .global_args("-v", "error", "-nostdin")
            .compile(cmd=ffmpeg_exe()))
    frame_bytes = info.width * info.height * 3
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, bufsize=frame_bytes)
        index = 0
        try:
            while True:
                buf = proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                yield Frame(index, np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3))
                index += 1
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        message = err.read().decode(errors="replace").strip().splitlines()
    if rc != 0 or index == 0:
        where = f"at frame {index} ({info.start + index / float(info.fps):.2f} s)" if index else "at its first frame"
        raise InputError(f"{path}: cannot decode the video {where} "
                         f"({message[-1] if message else f'ffmpeg exit {rc}'})")
