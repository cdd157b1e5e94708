"""Stage 2: find faces and their 68 landmarks with dlib.

HOG is the default (about 12 ms per 640x360 frame here); the CNN (MMOD) detector finds more profile and small
faces at about 0.9 s a frame on CPU. Detection may run on a downscaled copy of the frame; the landmark predictor
always runs on the full-resolution frame, so landmark precision does not drop with the detection scale.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from stylize.models.alignment import SELFIE_TEMPLATE

from .align import similarity_transform
from .frames import Face, Frame

# 68-point indices (iBUG 300-W) of the five alignment points: eye centres, nose tip, mouth corners.
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT = 30, 48, 54


def dlib_model_file(name: str) -> Path:
    """A model file shipped by ``face-recognition-models``. Located with find_spec because its ``__init__``
    imports ``pkg_resources``, which new setuptools no longer has."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from face-recognition-models")
    return path


@dataclass
class Detection:
    """One face in frame coordinates: box (x0, y0, x1, y1), 68 landmarks (68×2) and the detector's score."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def points5(self) -> np.ndarray:
        return five_points(self.landmarks)

    @property
    def size(self) -> float:
        """Inter-ocular-based face size in pixels, robust to how loose the detector's box is."""
        p = self.points5
        return float(np.linalg.norm(p[1] - p[0]) * 2.5)


# A refitted face whose landmarks moved, after removing the best similarity motion, by more than this fraction
# of its size, or whose box no longer looks like it did in the previous frame (normalised cross-correlation of
# the two patches below LOST_NCC) has been lost (it left, turned away, or the shot changed): detect afresh.
LOST_RESIDUAL = 0.08
LOST_NCC = 0.6


def patch(rgb: np.ndarray, points5: np.ndarray, size: int = 24) -> np.ndarray:
    """A small zero-mean, unit-norm gray patch of the face, aligned on its five points (so detector-box jitter
    does not move it), for telling whether two faces in consecutive frames are the same one."""
    template = np.asarray(SELFIE_TEMPLATE, np.float32) * 2 * size
    m = similarity_transform(points5, template)
    crop = cv2.warpAffine(rgb, m, (2 * size, 2 * size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    g = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)
    g = g.astype(np.float32) - g.mean()
    return g / max(float(np.linalg.norm(g)), 1e-6)


def detect_frames(frames: Iterable[Frame], detector: FaceDetector, every: int = 1) -> Iterator[Frame]:
    """Stage: attaches the faces (raw landmarks, not yet tracked) to each frame.

    The full detector runs on every ``every``-th frame. In between, each face's landmarks are refitted on its
    box carried over from the previous frame (dlib's shape predictor takes about a millisecond; the detector
    12-50 ms), and a face whose refit does not hold together sends that frame to the full detector. New faces
    are therefore found at most ``every`` - 1 frames late, which the tracker's fade-in covers."""
    carried: list[Detection] = []
    previous = None
    since = every  # frames since the last full detection: the first frame gets one
    for frame in frames:
        faces = None
        if every > 1 and since < every:
            faces = detector.refit(frame.image, carried, previous) if carried else []
        if faces is None:
            faces, since = detector.detect(frame.image), 0
        since += 1
        carried, previous = faces, frame.image
        frame.faces = [Face(d.points5, d.box, score=d.score) for d in faces]
        yield frame


def moved_box(box: tuple[float, float, float, float], m: np.ndarray) -> tuple[float, float, float, float]:
    """``box`` carried by similarity ``m`` (its centre moved, its size scaled; boxes stay upright)."""
    x0, y0, x1, y1 = box
    cx, cy = m[:, :2] @ np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + m[:, 2]
    half = np.sqrt(abs(np.linalg.det(m[:, :2]))) * np.array([x1 - x0, y1 - y0]) / 2
    return (float(cx - half[0]), float(cy - half[1]), float(cx + half[0]), float(cy + half[1]))


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The five alignment points (order of :data:`stylize.models.alignment.POINT_NAMES`) from 68 landmarks."""
    return np.stack([
        landmarks[LEFT_EYE].mean(0), landmarks[RIGHT_EYE].mean(0), landmarks[NOSE_TIP],
        landmarks[MOUTH_LEFT], landmarks[MOUTH_RIGHT],
    ]).astype(np.float32)


class FaceDetector:
    """dlib detector + 68-point shape predictor. Holds the loaded dlib models; create one per process."""

    def __init__(self, method: str = "hog", upsample: int = 0, max_side: int | None = 640,
                 min_size: float = 0.0) -> None:
        if method not in ("hog", "cnn"):
            raise ValueError(f"unknown detector '{method}' (hog or cnn)")
        self.method, self.upsample, self.max_side, self.min_size = method, upsample, max_side, min_size
        if method == "hog":
            self._detector = dlib.get_frontal_face_detector()
        else:
            self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model_file("mmod_human_face_detector.dat")))
        self._predictor = dlib.shape_predictor(str(dlib_model_file("shape_predictor_68_face_landmarks.dat")))

    def boxes(self, rgb: np.ndarray, upsample: int | None = None
              ) -> list[tuple[tuple[float, float, float, float], float]]:
        """Face boxes in full-frame coordinates with scores, detected on a copy at most ``max_side`` on its longest
        side."""
        upsample = self.upsample if upsample is None else upsample
        h, w = rgb.shape[:2]
        scale = 1.0
        small = rgb
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        found = []
        if self.method == "hog":
            rects, scores, _ = self._detector.run(small, upsample, 0.0)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [(d.rect, d.confidence) for d in self._detector(small, upsample)]
        return [((r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale), float(s))
                for r, s in found]

    def landmarks(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 landmarks for a face box (any source: a detection or a box predicted from a track)."""
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def refit(self, rgb: np.ndarray, faces: list[Detection], previous: np.ndarray) -> list[Detection] | None:
        """The same ``faces`` of frame ``previous`` in the new frame ``rgb``, landmarks refitted on boxes moved
        with them; None if any is lost."""
        rgb = np.ascontiguousarray(rgb)
        out = []
        for face in faces:
            box, lm = face.box, face.landmarks
            for _ in range(2):  # a second pass re-centres the box on where the face moved
                new = self.landmarks(rgb, box)
                m = similarity_transform(lm, new)
                box = moved_box(face.box, m)
            moved = lm @ m[:, :2].T + m[:, 2]
            if np.sqrt(np.mean(np.sum((moved - new) ** 2, axis=1))) > LOST_RESIDUAL * face.size:
                return None
            if float(np.sum(patch(previous, face.points5) * patch(rgb, five_points(new)))) < LOST_NCC:
                return None
            out.append(Detection(box, new, face.score))
        return out

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[Detection]:
        """All faces of at least ``min_size`` pixels, largest first."""
        rgb = np.ascontiguousarray(rgb)
        faces = [Detection(box, self.landmarks(rgb, box), score) for box, score in self.boxes(rgb, upsample)]
        faces = [f for f in faces if f.size >= self.min_size]
        return sorted(faces, key=lambda f: -f.size)
