"""Flicker measure: warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency") in face regions.

Optical flow is computed on the *source* frames, so it describes the real motion. Each output frame is compared
with the previous output frame warped along that flow; pixels the flow cannot explain (occlusions, found by
forward-backward disagreement) are left out. The source's own warping error, over the same pixels and flows,
is the floor that flow error and real change give; ``ratio`` = output error / source error is therefore 1.0 for
an edit that adds no flicker, and grows with every frame-to-frame shimmer the edit adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .decode import read_frames
from .detect import FaceDetector
from .ffmpeg_tools import probe

# Forward-backward disagreement (pixels) beyond which a pixel counts as occluded, as in Lai et al.'s
# |F + F'|^2 < 0.01 (|F|^2 + |F'|^2) + 0.5 test.
OCCLUSION_ALPHA, OCCLUSION_BETA = 0.01, 0.5
FLOW_MAX_SIDE = 480  # flow on a copy at most this wide: face regions are large, Farneback cost grows with area


@dataclass
class FlickerReport:
    frames: int = 0  # frame pairs that had face pixels
    source_error: float = 0.0  # mean squared warping error per pixel (0..255 scale), source frames
    output_error: float = 0.0
    edit_strength: float = 0.0  # mean |output − source| in the face regions (0..255): is the edit visible at all?
    per_frame: list[tuple[float, float]] = field(default_factory=list)  # (source, output) per pair

    @property
    def ratio(self) -> float:
        return self.output_error / self.source_error if self.source_error > 0 else float("nan")


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from gray ``a`` to gray ``b``: ``a(x) ≈ b(x + flow(x))``."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def _warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _small(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale != 1.0:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return rgb


def pair_errors(src_prev: np.ndarray, src_cur: np.ndarray, out_prev: np.ndarray, out_cur: np.ndarray,
                region: np.ndarray) -> tuple[float, float] | None:
    """(source, output) mean squared warping error from frame t-1 to t over ``region`` (bool, full size) minus
    occlusions; None when no pixel is left."""
    h, w = src_cur.shape[:2]
    scale = min(1.0, FLOW_MAX_SIDE / max(h, w))
    s_prev, s_cur, o_prev, o_cur = (_small(x, scale) for x in (src_prev, src_cur, out_prev, out_cur))
    g_prev, g_cur = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (s_prev, s_cur))
    s_prev, s_cur, o_prev, o_cur = (x.astype(np.float32) for x in (s_prev, s_cur, o_prev, o_cur))
    back, fwd = _flow(g_cur, g_prev), _flow(g_prev, g_cur)
    fwd_there = _warp(fwd, back)  # the forward flow where each pixel's backward flow lands
    mismatch = np.sum((back + fwd_there) ** 2, axis=2)
    bound = OCCLUSION_ALPHA * (np.sum(back ** 2, axis=2) + np.sum(fwd_there ** 2, axis=2)) + OCCLUSION_BETA
    mask = (mismatch < bound) & (cv2.resize(region.astype(np.uint8), back.shape[1::-1],
                                            interpolation=cv2.INTER_NEAREST) > 0)
    if not mask.any():
        return None
    src = np.mean(np.sum((s_cur - _warp(s_prev, back)) ** 2, axis=2)[mask]) / 3
    out = np.mean(np.sum((o_cur - _warp(o_prev, back)) ** 2, axis=2)[mask]) / 3
    return float(src), float(out)


def face_region(rgb: np.ndarray, detector: FaceDetector, margin: float = 0.25) -> np.ndarray:
    """Boolean mask of the detected faces' boxes, each grown by ``margin`` of its size (hair and chin)."""
    mask = np.zeros(rgb.shape[:2], bool)
    for det in detector.detect(rgb):
        x0, y0, x1, y1 = det.box
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        mask[max(0, int(y0 - 1.5 * my)):max(0, int(y1 + my)), max(0, int(x0 - mx)):max(0, int(x1 + mx))] = True
    return mask


def measure_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], detector: FaceDetector) -> FlickerReport:
    """Streams (source, output) frame pairs; regions come from faces detected in the source frame."""
    report, prev = FlickerReport(), None
    strength = []
    for src, out in pairs:
        if prev is not None:
            region = face_region(src, detector)
            errors = pair_errors(prev[0], src, prev[1], out, region) if region.any() else None
            if errors is not None:
                report.per_frame.append(errors)
                strength.append(float(np.mean(np.abs(out[region].astype(np.float32) - src[region]))))
        prev = (src, out)
    report.frames = len(report.per_frame)
    if report.frames:
        report.source_error, report.output_error = np.mean(report.per_frame, axis=0).tolist()
        report.edit_strength = float(np.mean(strength))
    return report


def _images(path: Path) -> Iterator[np.ndarray]:
    return (f.image for f in read_frames(path, probe(path)))


def measure_flicker(source: Path, output: Path, detector: FaceDetector | None = None) -> FlickerReport:
    """Face-region flicker of ``output`` (an edit of ``source``, same frame count) against ``source``."""
    return measure_pairs(zip(_images(source), _images(output), strict=True), detector or FaceDetector())
