"""Where the ffmpeg binary comes from, and how we read stream facts (PyAV: FFmpeg's demuxer as a library,
so start times, time bases, frame counts and rotation come as numbers, not parsed from ffmpeg's banner)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

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
    """Stream facts from FFmpeg's own demuxer through PyAV: the video stream's size, rate, start, duration and
    frame count, its display rotation, and the audio stream. Times are relative to the file's earliest stream,
    which is where an output made from it starts too."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable video ({_reason(e)})") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: not a readable video (no video stream)")
        v = container.streams.video[0]
        rate = v.average_rate or v.guessed_rate or v.base_rate
        if not rate:
            raise InputError(f"{path}: the video stream has no frame rate")
        audio = container.streams.audio[0] if container.streams.audio else None
        file_start = min((_seconds(s.start_time, s.time_base) for s in (v, audio) if s is not None
                          and s.start_time is not None), default=0.0)
        start = _seconds(v.start_time, v.time_base) if v.start_time is not None else file_start
        end = _tag_seconds(v.metadata.get("DURATION", ""))
        if v.duration:
            duration = float(v.duration * v.time_base)
        elif end:  # Matroska/WebM: the stream's DURATION tag is where it ends
            duration = max(0.0, end - start)
        else:  # no per-stream figure: the file's, less where the video starts
            duration = max(0.0, (container.duration or 0) / av.time_base - (start - file_start))
        first, counted, span = _first_frame_and_count(container, v, count=not v.frames)
        if first is None:
            raise InputError(f"{path}: cannot decode the video's first frame")
        rotation = int(round(first.rotation or 0)) % 360
        w, h = v.codec_context.width, v.codec_context.height
        width, height = (h, w) if rotation in (90, 270) else (w, h)
        fps = exact_rate(str(Fraction(rate)))
        frames = int(v.frames or counted)
        variable = bool(v.base_rate) and abs(float(v.base_rate) - float(fps)) > 0.01 * float(fps)
        if v.base_rate and not variable:  # a constant rate: its nominal value, not an average off by a frame
            fps = exact_rate(str(Fraction(v.base_rate)))
        if counted and span > 0:  # no frame count in the header (Matroska/WebM): the packets tell the truth
            duration = span
            mean = counted / span
            if abs(mean - float(fps)) > 0.01 * float(fps):  # the header's rate is not what the stream does: VFR
                fps, variable = exact_rate(str(Fraction(mean).limit_denominator(100_000))), True
        return VideoInfo(width, height, fps, duration, rotation, v.codec_context.format.name if
                         v.codec_context.format else "", v.codec_context.name, audio is not None,
                         audio.codec_context.name if audio is not None else "", variable_fps=variable,
                         start=round(start - file_start, 6), frames=frames)


def _first_frame_and_count(container, stream, count: bool) -> tuple[av.VideoFrame | None, int, float]:
    """The first decoded frame (for its rotation) and, when ``count``, the number of video packets and the time
    they span, read by demuxing alone (no decoding, so this is I/O-bound and fast)."""
    first, n, lo, hi = None, 0, None, None
    try:
        for packet in container.demux(stream):
            if first is None:  # the empty packet at the end flushes the decoder: a 1-frame video's frame
                first = next(iter(packet.decode()), None)
            if packet.size == 0:
                continue
            if not count:
                if first is not None:
                    break
                continue
            n += 1
            if packet.pts is not None:
                lo = packet.pts if lo is None else min(lo, packet.pts)
                hi = max(hi or 0, packet.pts + (packet.duration or 0))
    except av.FFmpegError:
        pass  # a damaged tail: what was read stands; decoding will say where it fails
    span = float((hi - lo) * stream.time_base) if count and lo is not None and hi is not None else 0.0
    return first, n, span


def _tag_seconds(text: str) -> float:
    """``00:00:02.852000000`` → 2.852; 0.0 for anything else."""
    try:
        h, m, s = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return 0.0


def _seconds(pts: int, time_base: Fraction) -> float:
    return float(pts * time_base)


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.split(": '")[0].removeprefix("[Errno ").split("] ")[-1]
