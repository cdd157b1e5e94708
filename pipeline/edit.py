"""The chain every command shares: detect → track → align → translate → smooth → composite, on any stream of
frames (a video's, a photo's single frame), yielding each frame with its edited image."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .align import align_frames
from .composite import composite
from .detect import FaceDetector, detect_frames
from .frames import Frame
from .options import EditOptions
from .smooth import smooth_changes
from .stream import prefetch
from .track import FaceTracker, SmoothingConfig
from .translate import Translator, translate_frames


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
