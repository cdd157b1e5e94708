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

# A decode that stops this far short of the container's announced length is reported as a truncated file.
TRUNCATION_TOLERANCE = 0.9


def read_frames(path: Path, info: VideoInfo) -> Iterator[Frame]:
    """Yields every decoded frame once, as displayed (ffmpeg applies the rotation flag), with no frames
    duplicated or dropped (``fps_mode passthrough``), so the output can have exactly the input's frame count."""
    args = (ffmpeg.input(str(path))
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
        raise InputError(f"{path}: cannot decode the video ({message[-1] if message else f'ffmpeg exit {rc}'})")
    if info.duration and index < TRUNCATION_TOLERANCE * info.frame_estimate:
        raise InputError(f"{path}: looks truncated: decoded {index} of about {info.frame_estimate} frames")
