"""The plain dataclasses that flow between stages: decode → detect → track → align → translate → smooth → composite
→ encode."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from stylize.models.catalogue import FEATHER


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts of a video file (``ffmpeg_tools.probe``). ``width``/``height`` are as displayed, i.e. after
    the rotation flag is applied, which is how frames are decoded. ``start`` is where the video stream begins
    after the file's earliest stream (usually the audio): the offset lip sync depends on. ``duration`` and
    ``frames`` (0 when the container does not say) are the video stream's own."""

    width: int
    height: int
    fps: Fraction
    duration: float
    rotation: int = 0
    pix_fmt: str = ""
    codec: str = ""
    has_audio: bool = False
    audio_codec: str = ""
    variable_fps: bool = False
    start: float = 0.0
    frames: int = 0

    @property
    def frame_estimate(self) -> int:
        """Frames the video stream announces: its frame count, else its duration × rate."""
        return self.frames or max(1, round(self.duration * float(self.fps)))


@dataclass
class Face:
    """One face in one frame. ``points5`` are the five alignment points in frame pixels (smoothed when the face
    belongs to a track); ``weight`` is the edit's opacity, below 1 while a track fades in or out."""

    points5: np.ndarray
    box: tuple[float, float, float, float]
    score: float = 0.0  # detector confidence
    track_id: int = -1
    weight: float = 1.0
    detected: bool = True
    feather: float = FEATHER  # share of the crop over which the paste-back mask ramps up; set by translate_frames
    transform: np.ndarray | None = None  # frame → crop, 2×3
    crop: np.ndarray | None = None  # aligned S×S×3 uint8 RGB
    change: np.ndarray | None = None  # the model's output minus ``crop``, S×S×3 float32 (what the edit adds)
    keep_detail: bool = True  # paste ``change`` onto the full-resolution face, not the model-size output


@dataclass
class Frame:
    """One decoded RGB frame and what the stages found in it. ``cut`` marks the first frame of a new shot."""

    index: int
    image: np.ndarray
    faces: list[Face] = field(default_factory=list)
    cut: bool = False
    tag: object = None  # whatever the caller carries along with the frame (the batch command's job)
