"""``edit_video``: decode → (detect → track → align → translate → smooth → composite) → encode, streamed."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from stylize.models.modelfile import StyleModel

from .atomic import atomic_output, check_output_path
from .decode import read_frames
from .edit import EditStats, edit_frames
from .errors import InputError
from .ffmpeg_tools import probe
from .frames import VideoInfo
from .options import EditOptions
from .stream import prefetch
from .translate import generator_threads

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
SHORT_STREAM = 0.9  # fewer frames than this share of the announced count is worth a warning


@dataclass
class VideoReport:
    info: VideoInfo
    stats: EditStats
    seconds: float

    @property
    def short(self) -> str:
        """A warning when the stream ended well before the frames it announced (a cut-off file), else ''."""
        if self.stats.frames >= SHORT_STREAM * self.info.frame_estimate:
            return ""
        return f"decoded {self.stats.frames} of the {self.info.frame_estimate} frames the video stream announces"

    @property
    def fps(self) -> float:
        return self.stats.frames / max(self.seconds, 1e-9)


def edit_video(source: Path, output: Path, model: StyleModel, request: dict[str, str],
               options: EditOptions | None = None) -> VideoReport:
    """Writes the edited video to ``output`` (atomically: nothing appears under that name unless it finished).
    Same frame count, size, frame rate and audio as ``source``. Raises InputError for bad input."""
    options = options or EditOptions()
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{output}: unsupported output type (use one of {', '.join(VIDEO_SUFFIXES)})")
    if output.resolve() == source.resolve():
        raise InputError(f"{output}: output would overwrite the input")
    check_output_path(output)
    info = probe(source)
    translator = options.make_translator(model, request)  # validates before any decoding
    detector = options.make_detector() if model.alignment.kind == "face" else None
    stats = EditStats()
    start = time.perf_counter()
    with atomic_output(output) as tmp, options.make_writer(tmp, info, source) as writer, generator_threads():
        frames = prefetch(read_frames(source, info), 16, "decode")
        bar = tqdm(total=info.frame_estimate, unit="frame", desc=source.name, disable=not options.progress,
                   dynamic_ncols=True)
        with bar, closing(edit_frames(frames, translator, detector, options, stats, video=True)) as edited:
            for _, image in edited:
                writer.write(image)
                bar.update(1)
            bar.total = bar.n
    return VideoReport(info, stats, time.perf_counter() - start)
