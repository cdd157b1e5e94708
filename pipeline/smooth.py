"""Optional stage after translation (``--smooth-output``): a motion-compensated running blend of each track's
edit (the change the model makes), for when smoothing the alignment alone leaves shimmer in the edited face.
Blending the change rather than the output keeps the source's own motion (a blink, a mouth) untouched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from .align import invert
from .frames import Frame


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 affine ``a ∘ b`` (apply ``b`` first)."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2].astype(np.float32)


def smooth_changes(frames: Iterable[Frame], strength: float = 0.5) -> Iterator[Frame]:
    """d_t = (1 − s)·Δ_t + s·warp(d_{t−1}); the warp carries the previous crop into the current crop's
    coordinates through the frame (crop_{t−1} → frame → crop_t). A track's history is dropped when it is not in
    the frame, and every history is dropped at a cut."""
    history: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for frame in frames:
        if frame.cut:
            history.clear()
        seen = set()
        for face in frame.faces:
            if face.change is None or face.transform is None or face.track_id < 0:
                continue
            size = face.change.shape[0]
            if face.track_id in history:
                prev, prev_m = history[face.track_id]
                warp = compose(face.transform, invert(prev_m))
                moved = cv2.warpAffine(prev, warp, (size, size), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE)
                face.change = cv2.addWeighted(face.change, 1 - strength, moved, strength, 0)
            history[face.track_id] = (face.change, face.transform)
            seen.add(face.track_id)
        for tid in set(history) - seen:
            del history[tid]
        yield frame
