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
from .options import X264_PARAMS

# Audio codecs an MP4 can carry as they are; others (e.g. PCM from a .mov) are re-encoded to AAC there.
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
WEBM_AUDIO = {"opus", "vorbis"}  # WebM allows only these; anything else becomes Opus
# x264's CRF mapped onto libvpx-vp9's 0–63 scale (x264 18 ≈ VP9 31, both "visually lossless" presets' defaults)
VP9_CRF_OFFSET = 13


def check_x264_params(params: str) -> None:
    """Raises ValueError when x264 rejects an option in ``params``. ffmpeg only logs such an option and encodes
    without it, so a typo would pass unnoticed; one 16x16 frame encoded to nowhere (~0.1 s) finds out."""
    if not params:
        return
    args = [ffmpeg_exe(), "-v", "warning", "-nostdin", "-f", "lavfi", "-i", "color=s=16x16:d=0.04", "-c:v", "libx264",
            "-x264-params", params, "-f", "null", "-"]
    run = subprocess.run(args, capture_output=True, text=True)
    bad = [line.split("] ", 1)[-1].strip() for line in run.stderr.splitlines() if "option" in line.lower()]
    if bad or run.returncode:
        raise ValueError(f"x264 does not accept {params!r}: {(bad or run.stderr.splitlines() or ['?'])[0]}")


class VideoWriter:
    """Encodes RGB frames written one at a time to ``path`` at the source's frame rate, then muxes the source's
    audio (copied, not re-encoded, when the container allows). Odd frame sizes are kept exactly by encoding
    4:4:4 instead of 4:2:0, which needs even sizes. The video starts as late after the audio as it did in the
    source (``info.start``), so lips stay in sync with the sound."""

    def __init__(self, path: Path, info: VideoInfo, source: Path, crf: int = 18, preset: str = "veryfast",
                 x264_params: str = X264_PARAMS) -> None:
        self.path, self.info = path, info
        odd = info.width % 2 or info.height % 2
        webm = path.suffix.lower() == ".webm"
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{info.width}x{info.height}",
                             framerate=str(info.fps), itsoffset=f"{info.start:.6f}")
        streams = [video.video]
        # passthrough: frames keep their timestamps (the first one at info.start); no frames are duplicated to
        # fill the gap before it, which is what a constant-rate output would do
        out_args = {"pix_fmt": "yuv444p" if odd else "yuv420p", "fps_mode": "passthrough"}
        if webm:
            out_args.update({"vcodec": "libvpx-vp9", "crf": min(63, crf + VP9_CRF_OFFSET), "b:v": 0,
                             "deadline": "realtime", "cpu-used": 8, "row-mt": 1})
        else:
            out_args.update({"vcodec": "libx264", "crf": crf, "preset": preset})
            if x264_params:
                out_args["x264-params"] = x264_params
        if info.has_audio:
            streams.append(ffmpeg.input(str(source)).audio)
            if webm:
                out_args["acodec"] = "copy" if info.audio_codec in WEBM_AUDIO else "libopus"
            elif path.suffix.lower() in (".mp4", ".m4v", ".mov") and info.audio_codec not in MP4_AUDIO:
                out_args["acodec"] = "aac"
            else:
                out_args["acodec"] = "copy"
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
