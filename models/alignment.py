"""Alignment templates: where a model expects the five facial points inside its square input crop.

Points are in crop units ([0, 1] × [0, 1]), in this order: image-left eye centre, image-right eye centre, nose
tip, image-left and image-right mouth corners. The template travels inside the model file, so the crop a face
gets at inference is the crop its model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Mean landmarks of CelebA's img_align_celeba (178x218) after the original StarGAN's 178 px centre crop.
CELEBA_TEMPLATE = ((0.388, 0.506), (0.601, 0.517), (0.494, 0.635), (0.399, 0.742), (0.590, 0.742))

# Mean five points of the selfie2anime selfies (dlib 68-point landmarks, 383 of the first 400 images, 256 px),
# measured once over those images; benchmarks/alignment.py checks the crops it gives. Anime faces in that set are
# framed the same way, so one template serves both.
SELFIE_TEMPLATE = ((0.364, 0.358), (0.642, 0.362), (0.503, 0.529), (0.383, 0.643), (0.617, 0.645))

# Mean five points of ../shared's 48 px CK+ frames (dlib found all 981 at one up-sampling), which are tight face
# crops: a model trained on them sees faces framed the same way at inference.
CKPLUS48_TEMPLATE = ((0.304, 0.401), (0.672, 0.397), (0.490, 0.576), (0.337, 0.785), (0.653, 0.781))


@dataclass(frozen=True)
class Alignment:
    """``kind`` is ``face`` (crop by similarity transform onto ``template``) or ``none`` (whole image, resized)."""

    kind: str = "face"
    template: tuple[tuple[float, float], ...] = CELEBA_TEMPLATE
    source: str = "CelebA img_align_celeba mean landmarks, 178 px centre crop"

    def points(self, size: int) -> np.ndarray:
        """Template in pixels of a ``size``-pixel crop, as a 5×2 float32 array."""
        return np.asarray(self.template, dtype=np.float32) * size

    def to_json(self) -> dict:
        return {"kind": self.kind, "points": list(POINT_NAMES), "template": [list(p) for p in self.template],
                "source": self.source}

    @classmethod
    def from_json(cls, data: dict) -> Alignment:
        kind = str(data.get("kind", "face"))
        if kind == "none":
            return cls("none", (), str(data.get("source", "")))
        template = tuple((float(x), float(y)) for x, y in data["template"])
        if kind != "face" or len(template) != len(POINT_NAMES):
            raise ValueError(f"alignment must be 'none' or 'face' with {len(POINT_NAMES)} points")
        return cls("face", template, str(data.get("source", "")))


NO_ALIGNMENT = Alignment("none", (), "whole image resized; not a face model")
