"""Stage 7: encode frames with x264 through an ffmpeg pipe and copy the source's audio into the result."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import ffmpeg
import numpy as np

from .errors import InputError
from .ffmpeg_tools import ffmpeg_exe
from .frames import VideoInfo

# Audio codecs an MP4 can carry as they are; others (e.g. PCM from a .mov) are re-encoded to AAC there.
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}


class VideoWriter:
    """Encodes RGB frames written one at a time to ``path`` at the source's frame rate, then muxes the source's
    audio (copied, not re-encoded, when the container allows). Odd frame sizes are kept exactly by encoding
    4:4:4 instead of 4:2:0, which needs even sizes."""

    def __init__(self, path: Path, info: VideoInfo, source: Path, crf: int = 18, preset: str = "veryfast") -> None:
        self.path, self.info = path, info
        odd = info.width % 2 or info.height % 2
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{info.width}x{info.height}",
                             framerate=str(info.fps))
        streams = [video.video]
        out_args = {"vcodec": "libx264", "crf": crf, "preset": preset, "pix_fmt": "yuv444p" if odd else "yuv420p",
                    "r": str(info.fps)}
        if info.has_audio:
            streams.append(ffmpeg.input(str(source)).audio)
            copy = path.suffix.lower() not in (".mp4", ".m4v", ".mov") or info.audio_codec in MP4_AUDIO
            out_args["acodec"] = "copy" if copy else "aac"
        if path.suffix.lower() in (".mp4", ".m4v", ".mov"):
            out_args["movflags"] = "+faststart"
        args = (ffmpeg.output(*streams, str(path), **out_args)
                .global_args("-v", "error", "-nostdin", "-y")
                .compile(cmd=ffmpeg_exe()))
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=self._err)
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        try:
            self._proc.stdin.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames += 1

    def close(self) -> None:
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            self._fail()
        self._err.close()

    def abort(self) -> None:
        """Stops ffmpeg at once (error or Ctrl-C); the caller deletes the partial file."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._err.close()

    def _fail(self) -> None:
        self._proc.wait()
        self._err.seek(0)
        lines = self._err.read().decode(errors="replace").strip().splitlines()
        raise InputError(f"{self.path}: encoding failed ({lines[-1] if lines else 'ffmpeg exited early'})")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
