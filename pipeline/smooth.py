"""Stage after translation (``--smooth-output``): a motion-compensated running blend of each track's edit (the
change the model makes), so the change moves with the face instead of being redrawn slightly differently every
frame. Blending the change rather than the output keeps the source's own motion (a blink, a mouth) untouched.

The previous change is carried onto the current crop in two steps: the tracks' similarity transforms (crop_{t−1}
→ frame → crop_t) move it roughly into place, then dense optical flow between the two crops follows what a
similarity cannot (a jaw, an eyebrow, a turning head). Where the carried previous crop does not match the
current one (a hand passing in front, a revealed background), the current change is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from .align import invert
from .frames import Frame

# Mean |carried previous crop − current crop| (0..255, RGB mean) at which the carried change is no longer
# trusted at all; trust falls linearly from 1 at 0. Chosen on the real footage clips (benchmarks/flicker.py):
# 20-40 all measure within 0.01 of each other; an occluding hand differs by far more.
TRUST_TOLERANCE = 30.0


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 affine ``a ∘ b`` (apply ``b`` first)."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2].astype(np.float32)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def carry_change(prev_change: np.ndarray, prev_crop: np.ndarray, crop: np.ndarray, warp: np.ndarray,
                 tolerance: float = TRUST_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """(the previous change carried onto ``crop``, trust in it per pixel, S×S×1 in 0..1). ``warp`` takes the
    previous crop's coordinates to the current crop's."""
    size = crop.shape[0]

    def moved(img: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(img, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    prev_crop, prev_change = moved(prev_crop), moved(prev_change)
    # crop(x) ≈ prev_crop(x + flow(x)); window about an eighth of the crop, two pyramid levels (crops are small)
    flow = cv2.calcOpticalFlowFarneback(_gray(crop), _gray(prev_crop), None, 0.5, 2, max(5, size // 8), 3, 5, 1.1, 0)
    grid = np.mgrid[0:size, 0:size][::-1].transpose(1, 2, 0).astype(np.float32) + flow
    map_x, map_y = grid[..., 0], grid[..., 1]
    carried = cv2.remap(prev_change, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fitted = cv2.remap(prev_crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mismatch = np.abs(fitted.astype(np.float32) - crop).mean(axis=2)
    trust = cv2.GaussianBlur(np.clip(1.0 - mismatch / tolerance, 0.0, 1.0), (0, 0), 1.0)
    return carried, trust[..., None]


def smooth_changes(frames: Iterable[Frame], strength: float = 0.9) -> Iterator[Frame]:
    """d_t = Δ_t + s·w·(carry(d_{t−1}) − Δ_t): the model's change Δ_t pulled toward the previous smoothed change
    carried onto this crop, by ``strength`` s where that carry is trusted (w). A track's history is dropped when
    it is not in the frame, and every history is dropped at a cut."""
    history: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for frame in frames:
        if frame.cut:
            history.clear()
        seen = set()
        for face in frame.faces:
            if face.change is None or face.transform is None or face.crop is None or face.track_id < 0:
                continue
            if face.track_id in history:
                prev, prev_crop, prev_m = history[face.track_id]
                carried, trust = carry_change(prev, prev_crop, face.crop, compose(face.transform, invert(prev_m)))
                face.change = face.change + (strength * trust) * (carried - face.change)
            history[face.track_id] = (face.change, face.crop, face.transform)
            seen.add(face.track_id)
        for tid in set(history) - seen:
            del history[tid]
        yield frame
