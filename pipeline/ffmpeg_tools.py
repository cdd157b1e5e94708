"""Where the ffmpeg binary comes from, and how we read stream facts without ffprobe."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

from .errors import InputError
from .frames import VideoInfo

# Frame rates written as 29.97 etc. in ffmpeg's banner, mapped back to their exact NTSC fractions.
NTSC_RATES = (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(120000, 1001))


def ffmpeg_exe() -> str:
    """The static ffmpeg shipped by imageio-ffmpeg, so no system ffmpeg is needed."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def exact_rate(text: str) -> Fraction:
    value = Fraction(text) if "/" in text else Fraction(text.rstrip("k")) * (1000 if text.endswith("k") else 1)
    for r in NTSC_RATES:
        if abs(float(value) - float(r)) < 0.006:
            return r
    return value.limit_denominator(1001)


def probe(path: Path) -> VideoInfo:
    """Reads size, rotation, fps, pixel format, codecs and audio presence from ``ffmpeg -i``'s banner."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                         errors="replace").stderr
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)(.*)", out)
    if video is None:
        reason = out.strip().splitlines()[-1] if out.strip() else "no output from ffmpeg"
        raise InputError(f"{path}: not a readable video ({reason.split(': ')[-1]})")
    codec, pix_fmt, w, h, rest = video.groups()
    rate = re.search(r"([\d.]+k?) fps", rest) or re.search(r"([\d.]+k?) tbr", rest)
    if rate is None:
        raise InputError(f"{path}: the video stream has no frame rate")
    tbr = re.search(r"([\d.]+k?) tbr", rest)
    fps = exact_rate(rate.group(1))
    rot = re.search(r"rotation of (-?[\d.]+) degrees", out, re.IGNORECASE)
    rotation = int(round(float(rot.group(1)))) % 360 if rot else 0
    width, height = (int(h), int(w)) if rotation in (90, 270) else (int(w), int(h))
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", out)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", out)
    return VideoInfo(width, height, fps, duration, rotation, pix_fmt, codec, audio is not None,
                     audio.group(1) if audio else "",
                     variable_fps=tbr is not None and abs(float(exact_rate(tbr.group(1))) - float(fps)) > 0.01)
