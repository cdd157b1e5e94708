"""Stage 3: cut each face out onto the model's template with a similarity transform (rotation, uniform scale,
translation), so the crop at inference is framed like the crops the model was trained on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from stylize.models.alignment import Alignment

from .frames import Face, Frame

SUPERSAMPLE_MAX = 4  # beyond 4× the crop's size the face is sampled at 4× and averaged; enough against aliasing


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) taking points ``src`` onto ``dst``; a 2×3 matrix.

    Closed form rather than ``cv2.estimateAffinePartial2D``: no RANSAC randomness, so the same landmarks always
    give the same crop, which temporal smoothing relies on."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    scale = np.trace(np.diag(sig) @ e) / max(s.var(0).sum(), 1e-12)
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m.astype(np.float32)


def face_transform(points5: np.ndarray, alignment: Alignment, size: int) -> np.ndarray:
    """Frame → crop transform putting the five points on the template of a ``size``-pixel crop."""
    return similarity_transform(points5, alignment.points(size))


def warp_to_crop(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """The aligned ``size``×``size`` crop; outside the frame is filled by reflection, which looks like more
    background to the generator rather than a black edge it would try to translate.

    A face much larger than the crop is sampled at an integer multiple of the crop size and area-averaged down:
    bilinear sampling alone would alias hair and skin texture into patterns the model then edits."""
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2].astype(np.float64)))))
    k = int(min(SUPERSAMPLE_MAX, 1.0 / scale)) if scale < 0.5 else 1
    if k <= 1:
        return cv2.warpAffine(image, transform, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)
    big = transform.astype(np.float64) * k
    big[:, 2] += (k - 1) / 2  # the centre of each k×k block lands on its crop pixel's centre
    sharp = cv2.warpAffine(image, big.astype(np.float32), (size * k, size * k), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
    return cv2.resize(sharp, (size, size), interpolation=cv2.INTER_AREA)


def inside_mask(shape: tuple[int, int], transform: np.ndarray, size: int) -> np.ndarray:
    """Which pixels of ``warp_to_crop``'s crop of an image of ``shape`` (height, width) come from the image (255) and
    which from its reflection (0), edges in between. CelebA's loose crops put about 74% of the top eighth of an
    aligned crop outside the image: a critic that sees it learns mirrored crowns as real hair (``stylize-train
    --hide-padding``)."""
    return cv2.warpAffine(np.full(shape, 255, np.uint8), transform, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def invert(transform: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(transform)


def whole_image_transform(height: int, width: int, size: int) -> np.ndarray:
    """For models without face alignment (anime↔sketch): the whole image scaled to ``size``×``size``. Used the
    same way in training and inference, and undone exactly when pasting back, so no part of the image is lost."""
    return np.array([[size / width, 0, 0], [0, size / height, 0]], dtype=np.float32)


def align_frames(frames: Iterable[Frame], alignment: Alignment, size: int) -> Iterator[Frame]:
    """Stage: attaches each face's frame→crop transform and aligned crop. For non-face models the whole frame
    is one 'face' (the translate stage leaves it unfeathered, as it sets every face's paste fade)."""
    for frame in frames:
        if alignment.kind == "none":
            h, w = frame.image.shape[:2]
            frame.faces = [Face(np.zeros((5, 2), np.float32), (0, 0, w, h))]
            m = whole_image_transform(h, w, size)
            frame.faces[0].transform = m
            frame.faces[0].crop = cv2.resize(frame.image, (size, size), interpolation=cv2.INTER_AREA)
        for face in frame.faces:
            if face.crop is None:
                face.crop, face.transform = align_face(frame.image, face.points5, alignment, size)
        yield frame


def align_face(image: np.ndarray, points5: np.ndarray, alignment: Alignment, size: int) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
    """(crop, frame→crop transform) for one face."""
    m = face_transform(points5, alignment, size)
    return warp_to_crop(image, m, size), m
