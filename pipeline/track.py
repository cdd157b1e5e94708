"""Stage 3: link faces across frames into tracks and smooth each track over time.

Per-frame landmarks jitter by a pixel or two, so per-frame crops (and the generated faces) shimmer; detections
drop out for a frame and the edit blinks. Like STIT-style editors we hold a short look-ahead buffer (a few
frames, so memory stays flat) and, per track:
- average the five alignment points over a centred Gaussian window (no lag, unlike a causal filter);
- fill detection gaps of up to ``max_gap`` frames by linear interpolation between the neighbouring detections;
- fade the edit in and out over ``fade`` frames when a face appears or leaves mid-shot (not at cuts);
Tracks end at scene cuts, detected from the frames themselves by a colour-histogram change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from .detect import patch
from .frames import Face, Frame

# The look compared between frames is an 8x8 aligned gray patch: coarse enough that landmark noise on a partly
# hidden face keeps it above 0.49 (correlation with the previous frame), while a cut to another person gives at
# most 0.31 (measured over benchmarks/clips.py's selfie clip).
LOOK_SIZE = 8


@dataclass(frozen=True)
class SmoothingConfig:
    window: int = 3  # centred smoothing radius, frames
    sigma: float = 1.5  # Gaussian width of the smoothing window, frames
    max_gap: int = 4  # missing detections filled by interpolation, frames
    fade: int = 3  # fade in/out length, frames
    match_distance: float = 0.5  # association limit: centre distance / face size
    cut_threshold: float = 0.6  # colour-histogram correlation below this starts a new shot
    cut_difference: float = 30.0  # ... and so does a mean change of the gray thumbnail above this (0..255)
    same_person: float = 0.4  # a face in a track's place that looks less alike than this (patch NCC) is new

    @property
    def lookahead(self) -> int:
        return max(self.window, self.fade + self.max_gap)

    @classmethod
    def off(cls) -> SmoothingConfig:
        """Per-frame behaviour (``--no-smooth``): raw landmarks, no gap filling, no fades; tracks still exist so
        attributes are estimated per person."""
        return cls(window=0, max_gap=0, fade=0)


class CutDetector:
    """Flags the first frame of a new shot: the hue/saturation histogram's correlation with the previous frame
    drops (a new place), or a small gray thumbnail changes by more than ``difference`` on average even at its
    best small shift (a new person in front of the same wall, which a whole-frame histogram barely sees).
    Measured: camera motion and jumps of a face change it by 2-21 levels, cuts between people by 45-48."""

    def __init__(self, threshold: float, difference: float) -> None:
        self.threshold, self.difference = threshold, difference
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, rgb: np.ndarray) -> bool:
        small = cv2.resize(rgb, (96, max(1, 96 * rgb.shape[0] // rgb.shape[1])), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
        hist = cv2.normalize(hist, hist).flatten()
        thumb = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (32, 18), interpolation=cv2.INTER_AREA)
        thumb = thumb.astype(np.float32)
        cut = self._prev is not None and (
            cv2.compareHist(self._prev[0], hist, cv2.HISTCMP_CORREL) < self.threshold
            or shifted_difference(self._prev[1], thumb) > self.difference)
        self._prev = (hist, thumb)
        return bool(cut)


def shifted_difference(a: np.ndarray, b: np.ndarray, reach: int = 2) -> float:
    """Mean absolute difference of two thumbnails at the best shift within ``reach`` cells (6% of the width
    each way at 32 cells), so a fast pan or a jump of the picture does not count as a new shot."""
    h, w = a.shape
    core = b[reach:h - reach, reach:w - reach]
    return min(float(np.abs(a[reach + dy:h - reach + dy, reach + dx:w - reach + dx] - core).mean())
               for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1))


def face_centre_size(points5: np.ndarray) -> tuple[np.ndarray, float]:
    return points5.mean(0), float(np.linalg.norm(points5[1] - points5[0]) * 2.5) + 1e-6


@dataclass
class Track:
    id: int
    first: int
    starts_shot: bool
    obs: dict[int, Face] = field(default_factory=dict)
    last: int = -1
    ended: bool = False
    ends_shot: bool = False
    look: np.ndarray | None = None  # gray patch of the last observation (detect.patch)

    def observe(self, index: int, face: Face, look: np.ndarray) -> None:
        self.obs[index] = face
        self.last = index
        self.look = look


class FaceTracker:
    """Consumes frames carrying raw detections, yields them ``lookahead`` frames later with tracked, smoothed
    faces. Only the look-ahead window of frames and each live track's recent detections are held."""

    def __init__(self, config: SmoothingConfig) -> None:
        self.cfg = config
        self.cuts = CutDetector(config.cut_threshold, config.cut_difference)
        self.tracks: dict[int, Track] = {}
        self.next_id = 0
        self.buffer: deque[Frame] = deque()
        self.shot_start = 0
        self.track_count = 0

    def __call__(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self.push(frame)
            while self.buffer and self.buffer[0].index <= frame.index - self.cfg.lookahead:
                yield self.emit(self.buffer.popleft())
        for t in self.tracks.values():  # the video's end ends every track, like a cut: no fade-out
            if not t.ended:
                t.ended, t.ends_shot = True, True
        while self.buffer:
            yield self.emit(self.buffer.popleft())

    def push(self, frame: Frame) -> None:
        t = frame.index
        frame.cut = self.cuts(frame.image)
        if frame.cut:
            self.shot_start = t
            for tr in self.tracks.values():
                if not tr.ended:
                    tr.ended, tr.ends_shot = True, True
        live = [tr for tr in self.tracks.values() if not tr.ended]
        looks = [patch(frame.image, det.points5, LOOK_SIZE) for det in frame.faces]
        centres = [face_centre_size(det.points5)[0] for det in frame.faces]
        pairs, replaced = [], set()
        for tr in live:
            pc, ps = face_centre_size(tr.obs[tr.last].points5)
            near = [(float(np.linalg.norm(c - pc)) / ps, di) for di, c in enumerate(centres)]
            near = [(d, di) for d, di in near if d < self.cfg.match_distance]
            alike = [(d, di) for d, di in near if self.alike(tr.look, looks[di])]
            if near and not alike:  # someone else where this person was: a cut the whole frame did not show
                tr.ended, tr.ends_shot = True, True
                replaced.update(di for _, di in near)
            pairs += [(d, di, tr.id) for d, di in alike]
        used_d, used_t = set(), set()
        for _, di, tid in sorted(pairs):
            if di in used_d or tid in used_t:
                continue
            used_d.add(di)
            used_t.add(tid)
            self.tracks[tid].observe(t, frame.faces[di], looks[di])
        for di, det in enumerate(frame.faces):
            if di not in used_d:
                tr = Track(self.next_id, t, starts_shot=t == self.shot_start or di in replaced)
                tr.observe(t, det, looks[di])
                self.tracks[tr.id] = tr
                self.next_id += 1
                self.track_count += 1
        for tr in live:
            if t - tr.last > self.cfg.max_gap:
                tr.ended = True
        frame.faces = []
        self.buffer.append(frame)

    def alike(self, a: np.ndarray | None, b: np.ndarray) -> bool:
        """Same person by appearance; a blank patch (nothing to judge) always passes."""
        if a is None or not a.any() or not b.any():
            return True
        return float(np.sum(a * b)) >= self.cfg.same_person

    def emit(self, frame: Frame) -> Frame:
        t, cfg = frame.index, self.cfg
        for tr in list(self.tracks.values()):
            if tr.ended and tr.last < t:
                del self.tracks[tr.id]
                continue
            if tr.first > t:
                continue
            face = self.face_at(tr, t)
            if face is not None:
                frame.faces.append(face)
            keep_from = min(t - cfg.window, max((i for i in tr.obs if i <= t), default=t))
            for old in [i for i in tr.obs if i < keep_from]:
                del tr.obs[old]
        return frame

    def face_at(self, tr: Track, t: int) -> Face | None:
        cfg = self.cfg
        if t in tr.obs:
            near = [(i, f) for i, f in tr.obs.items() if abs(i - t) <= cfg.window]
            w = np.array([np.exp(-0.5 * ((i - t) / max(cfg.sigma, 1e-6)) ** 2) for i, _ in near])
            pts = np.tensordot(w / w.sum(), np.stack([f.points5 for _, f in near]), axes=1)
            src = tr.obs[t]
        else:
            before = max((i for i in tr.obs if i < t), default=None)
            after = min((i for i in tr.obs if i > t), default=None)
            if before is None or after is None:
                return None
            a = (t - before) / (after - before)
            pts = (1 - a) * tr.obs[before].points5 + a * tr.obs[after].points5
            src = tr.obs[before]
        fade_in = 1.0 if tr.starts_shot else min(1.0, (t - tr.first + 1) / (cfg.fade + 1))
        fade_out = 1.0 if not tr.ended or tr.ends_shot else min(1.0, (tr.last - t + 1) / (cfg.fade + 1))
        return Face(pts.astype(np.float32), src.box, score=src.score, track_id=tr.id,
                    weight=min(fade_in, fade_out), detected=t in tr.obs)
