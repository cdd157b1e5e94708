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
# The head and its hair, the same way: centred 0.4 eye-to-mouth distances above the eyes, 1.7 eye distances to each
# side and tall enough to run off the crop's top and bottom, so that it leaves out the sides and top corners of a
# crop, where CelebA's hair-colour difference (mean blond crop - mean black crop) is lowest and real blonds' backdrops
# are brightest (docs/celeba-experiments.md, *Hiding the backdrop, and more CPU time*).
HEAD = (-0.4, 1.7, 4.0, 0.2)
# The face's skin, the inner face and the jaw and cheeks below and beside it: centred 0.6 of the way from the eyes to
# the mouth, 1.15 eye distances to each side and 1.55 eye-to-mouth distances down and up (the trainer's
# --lambda-skin; where the bundled celeba model's --gender female drew a sheet of dark hair over men's faces).
SKIN = (0.6, 1.15, 1.55, 0.15)


def face_template(alignment: Alignment) -> Alignment:
    """``alignment``, or ValueError when its crops are not aligned to a face template (no face to place masks by)."""
    if alignment.kind != "face":
        raise ValueError("the crops are not aligned to a face template")
    return alignment


def ellipse(alignment: Alignment, size: int, centre_share: float, half_width: float, half_height: float,
            softness: float) -> np.ndarray:
    """S×S float32: 1 inside a soft ellipse placed by the template's five points, 0 outside. Its centre lies
    ``centre_share`` of the way from the eyes' midpoint to the mouth's (negative: above the eyes); its half-axes
    and its edge's blur are in eye distances (width, softness) and eye-to-mouth distances (height)."""
    p = alignment.points(size).astype(np.float64)
    eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
    eye_dist, eye_mouth = np.linalg.norm(p[1] - p[0]), np.linalg.norm(mouth - eyes)
    centre = eyes + centre_share * (mouth - eyes)
    angle = float(np.degrees(np.arctan2(p[1][1] - p[0][1], p[1][0] - p[0][0])))
    shift = 4  # cv2.ellipse takes fixed-point coordinates: sub-pixel placement at 1/16 px
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, tuple(int(round(v * 2 ** shift)) for v in centre),
                tuple(int(round(v * 2 ** shift)) for v in (half_width * eye_dist, half_height * eye_mouth)),
                angle, 0, 360, 1.0, thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    return cv2.GaussianBlur(mask, (0, 0), softness * eye_dist)


def inner_face(alignment: Alignment, size: int) -> np.ndarray:
    """S×S float32: 1 over the template's inner face, 0 outside, with a soft edge. ValueError for crops not aligned
    to a face template."""
    return ellipse(face_template(alignment), size, CENTRE_SHARE, HALF_WIDTH, HALF_HEIGHT, SOFTNESS)


def head(alignment: Alignment, size: int) -> np.ndarray:
    """S×S float32: 1 over the template's head and where hair usually falls, 0 over the backdrop beside it and
    the top corners (the trainer's ``--hide-backdrop``). ValueError for crops not aligned to a face template."""
    return ellipse(face_template(alignment), size, *HEAD)


def skin(alignment: Alignment, size: int) -> np.ndarray:
    """S×S float32: 1 over the template's face skin (inner face, cheeks and jaw), 0 outside. ValueError for crops
    not aligned to a face template."""
    return ellipse(face_template(alignment), size, *SKIN)


def edit_region(alignment: Alignment, size: int, groups: Iterable[str], mode: str = "auto") -> np.ndarray | None:
    """S×S×1 float32 weights for the model's change when only ``groups`` are asked, or None when the change may
    act everywhere (mode "everywhere", any group other than hair asked, or a model without face alignment)."""
    if mode not in MODES:
        raise ValueError(f"region must be one of {', '.join(MODES)}")
    groups = set(groups)
    if mode == "everywhere" or alignment.kind != "face" or not groups or not groups <= OUTSIDE_FACE_GROUPS:
        return None
    return (1.0 - inner_face(alignment, size))[..., None]
