"""Stage 6: paste each face's edit back into its frame through the inverse alignment transform.

What is pasted is the *change* the model made (its output minus its model-size input), warped — and so
up-sampled — to the face's own resolution and added to the frame's own pixels. A 400 px face edited by a 128 px
model keeps its own detail, and where the model changed less than a grey level (``translate.CHANGE_FLOOR``)
the output is the source, bit for bit. Models
that redraw everything (``keep_detail`` off) paste their output instead.

A feathered mask (zero at the crop's edge, one inside a margin, Gaussian-blurred between) hides the crop's
border, so no seam or box shows; the track's fade weight scales it.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .align import invert
from .frames import Face, Frame


@functools.lru_cache(maxsize=8)
def feather_mask(size: int, feather: float) -> np.ndarray:
    """S×S float32 mask: 0 at the border, 1 in the middle, a smooth ramp ``feather·S`` wide between."""
    margin = int(round(size * feather))
    if margin == 0:
        return np.ones((size, size), np.float32)
    mask = np.zeros((size, size), np.float32)
    mask[margin:size - margin, margin:size - margin] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=margin / 2)
    mask.setflags(write=False)
    return mask


def paste_face(image: np.ndarray, face: Face) -> None:
    """Adds ``face.change`` to ``image`` in place, touching only the face's bounding box."""
    if face.change is None or face.transform is None or face.weight <= 0:
        return
    size = face.change.shape[0]
    back = invert(face.transform)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float32) @ back.T
    h, w = image.shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = back.copy()
    roi[:, 2] -= (x0, y0)
    out_size = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(feather_mask(size, face.feather), roi, out_size, flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = (alpha * face.weight)[..., None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    if face.keep_detail:
        delta = cv2.warpAffine(face.change, roi, out_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        output = face.crop.astype(np.float32) + face.change
        delta = cv2.warpAffine(output, roi, out_size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) - region
    image[y0:y1, x0:x1] = np.clip(region + alpha * delta + 0.5, 0, 255).astype(np.uint8)


def composite(frame: Frame) -> np.ndarray:
    """The edited frame (a copy; the decoded frame is read-only)."""
    if not any(f.change is not None for f in frame.faces):
        return frame.image
    image = frame.image.copy()
    for face in frame.faces:
        paste_face(image, face)
    return image
