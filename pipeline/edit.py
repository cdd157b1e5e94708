"""The chain every command shares: detect → track → align → translate → smooth → composite, on any stream of
frames (a video's, a photo's single frame), yielding each frame with its edited image."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylize.models.modelfile import StyleModel

from .align import align_frames
from .composite import composite
from .detect import FaceDetector, detect_frames
from .encode import X264_PARAMS, VideoWriter
from .frames import Frame, VideoInfo
from .smooth import smooth_changes
from .stream import prefetch
from .track import FaceTracker, SmoothingConfig
from .translate import Translator, translate_frames


@dataclass
class EditOptions:
    """Everything the CLI can tune; defaults are what a user should get without flags."""

    device: str = "auto"
    batch_size: int = 16
    detector: str = "hog"
    upsample: int = 0
    detect_max_side: int = 640
    detect_every: int = 3  # full detection every N video frames, landmark refits between (see detect_frames)
    min_face: int = 36  # faces smaller than this (pixels, about 2.5× the eye distance) are left alone
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)  # None: --no-smooth
    smooth_output: float = 0.9  # blend strength of --smooth-output (0 is off); benchmarks/flicker.py measures it
    apply: str | None = None  # "change" or "output"; None: what the model file says (see composite.py)
    region: str = "auto"  # where the change may act: "auto" keeps hair edits out of the inner face (regions.py)
    crf: int = 18
    preset: str = "veryfast"
    x264_params: str = X264_PARAMS  # over the preset; "" for the preset's own settings
    progress: bool = True

    def make_translator(self, model: StyleModel, request: dict[str, str]) -> Translator:
        return Translator(model, request, self.device, self.apply, self.region)

    def make_detector(self) -> FaceDetector:
        return FaceDetector(self.detector, self.upsample, self.detect_max_side, self.min_face)

    def make_writer(self, path: Path, info: VideoInfo, source: Path) -> VideoWriter:
        return VideoWriter(path, info, source, self.crf, self.preset, self.x264_params)


@dataclass
class EditStats:
    frames: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    tracks: int = 0


def edit_frames(frames: Iterable[Frame], translator: Translator, detector: FaceDetector | None,
                options: EditOptions, stats: EditStats, video: bool = True) -> Iterator[tuple[Frame, np.ndarray]]:
    """Yields (frame, edited RGB image) in input order. ``video`` enables tracking and temporal smoothing;
    photos are one frame each and skip it. ``detector`` is None for whole-image models."""
    model = translator.model
    tracker = None
    stages = [frames]
    if model.alignment.kind == "face":
        if detector is None:
            raise ValueError("a face model needs a detector")
        stages.append(detect_frames(stages[-1], detector, options.detect_every if video else 1))
        if video:
            stages.append(prefetch(stages[-1], 16, "detect"))
            tracker = FaceTracker(options.smoothing or SmoothingConfig.off())
            stages.append(tracker(stages[-1]))
    stages.append(align_frames(stages[-1], model.alignment, model.image_size))
    stages.append(translate_frames(stages[-1], translator, options.batch_size))
    if video and options.smooth_output > 0:
        stages.append(smooth_changes(stages[-1], options.smooth_output))
    try:
        for frame in stages[-1]:
            stats.frames += 1
            stats.faces += len(frame.faces)
            stats.frames_with_faces += bool(frame.faces)
            if tracker is not None:
                stats.tracks = tracker.track_count
            yield frame, composite(frame)
    finally:
        # Close every stage, outermost first, so worker threads and ffmpeg processes stop now, not whenever the
        # garbage collector gets to them (a daemon thread still inside dlib at exit aborts the interpreter).
        for stage in reversed(stages):
            close = getattr(stage, "close", None)
            if close is not None:
                close()
