"""Where an edit may act, in the aligned crop: a hair colour edit has no business inside the face.

A generator trained against a small classifier learns shortcuts the classifier rewards: besides the hair, CelebA
models tint the irises and the skin around the eyes (blond goes with light eyes in the data), which shows as
coloured eyes in every edited frame and flickers as the eyes move. Because every crop is aligned to the model's
template, the inner face (brows, eyes, nose, mouth, chin) sits at the same place in all of them, so a hair edit
can be kept out of it with one fixed soft mask, built from the template's own five points: nothing is learned
and nothing depends on the frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from stylize.models.alignment import Alignment

OUTSIDE_FACE_GROUPS = frozenset({"hair"})  # label groups whose edits belong outside the inner face
MODES = ("auto", "everywhere")  # `--region`: auto applies the rule below, everywhere leaves the change as it is

# The inner-face ellipse in units of the template: centred 0.4 of the way from the eyes' midpoint to the mouth's,
# half-width 1.1 eye distances, half-height 1.05 eye-to-mouth distances (from the brows' top to below the lips),
# its edge softened over 0.15 eye distances. Measured on CelebA crops: the eye tints lie well inside.
CENTRE_SHARE, HALF_WIDTH, HALF_HEIGHT, SOFTNESS = 0.4, 1.1, 1.05, 0.15


def inner_face(alignment: Alignment, size: int) -> np.ndarray:
    """S×S float32: 1 over the template's inner face, 0 outside, with a soft edge."""
    p = alignment.points(size).astype(np.float64)
    eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
    eye_dist, eye_mouth = np.linalg.norm(p[1] - p[0]), np.linalg.norm(mouth - eyes)
    centre = eyes + CENTRE_SHARE * (mouth - eyes)
    angle = float(np.degrees(np.arctan2(p[1][1] - p[0][1], p[1][0] - p[0][0])))
    shift = 4  # cv2.ellipse takes fixed-point coordinates: sub-pixel placement at 1/16 px
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, tuple(int(round(v * 2 ** shift)) for v in centre),
                tuple(int(round(v * 2 ** shift)) for v in (HALF_WIDTH * eye_dist, HALF_HEIGHT * eye_mouth)),
                angle, 0, 360, 1.0, thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    return cv2.GaussianBlur(mask, (0, 0), SOFTNESS * eye_dist)


def edit_region(alignment: Alignment, size: int, groups: Iterable[str], mode: str = "auto") -> np.ndarray | None:
    """S×S×1 float32 weights for the model's change when only ``groups`` are asked, or None when the change may
    act everywhere (mode "everywhere", any group other than hair asked, or a model without face alignment)."""
    if mode not in MODES:
        raise ValueError(f"region must be one of {', '.join(MODES)}")
    groups = set(groups)
    if mode == "everywhere" or alignment.kind != "face" or not groups or not groups <= OUTSIDE_FACE_GROUPS:
        return None
    return (1.0 - inner_face(alignment, size))[..., None]
