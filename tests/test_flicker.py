"""The flicker measure (warping error ratio in face regions) and what temporal smoothing does to it."""

from __future__ import annotations

import cv2
import numpy as np

from stylize.models import load_model
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.flicker import measure_flicker, measure_pairs
from stylize.pipeline.options import EditOptions
from stylize.pipeline.smooth import carry_change
from stylize.pipeline.video import edit_video

from .conftest import render_frames, write_clip


def shimmer(frames, amount, seed=0):
    """Adds fresh noise to the face area of every frame: the frame-to-frame change the measure must catch."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        g = f.astype(np.float32)
        g[20:220, :] += rng.normal(0, amount, g[20:220].shape)
        out.append(np.clip(g, 0, 255).astype(np.uint8))
    return out


def test_unchanged_video_has_ratio_one_and_no_edit():
    frames = render_frames(8)
    r = measure_pairs(zip(frames, frames, strict=True), FaceDetector())
    assert r.frames == 7 and r.ratio == 1.0 and r.edit_strength == 0.0


def test_shimmer_raises_the_ratio_and_a_steady_edit_does_not():
    frames = render_frames(8)
    noisy = measure_pairs(zip(frames, shimmer(frames, 12), strict=True), FaceDetector())
    assert noisy.ratio > 3
    tinted = [np.clip(f.astype(np.int16) + 30, 0, 255).astype(np.uint8) for f in frames]
    steady = measure_pairs(zip(frames, tinted, strict=True), FaceDetector())
    assert steady.ratio < 1.2 and steady.edit_strength > 20


def test_smoothing_lowers_flicker_of_a_real_edit(model_file, tmp_path):
    # a smooth pan: the default clip's drift jumps back every 15 frames, a teleport no smoothing should follow
    clip = write_clip(tmp_path / "pan.mp4", render_frames(45, wrap=False))
    model = load_model(model_file)
    ratios = {}
    for name, options in {"off": EditOptions(smoothing=None, smooth_output=0.0, progress=False),
                          "on": EditOptions(progress=False)}.items():
        out = tmp_path / f"{name}.mp4"
        edit_video(clip, out, model, {"hair": "blond"}, options)
        report = measure_flicker(clip, out)
        assert report.frames >= 40 and report.edit_strength > 10
        ratios[name] = report.ratio
    assert ratios["on"] < 0.8 * ratios["off"], ratios


def textured_crop(size=64, seed=1):
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    g = cv2.normalize(noise, None, 20, 235, cv2.NORM_MINMAX)
    return np.repeat(g[..., None], 3, axis=2).astype(np.uint8)


def test_carried_change_follows_motion_the_similarity_missed():
    # the face content moved 3 px right between frames while the alignment stayed put (a jaw, a turn):
    # the edit made on the previous crop must land on the same features, 3 px right, and be trusted there
    prev_crop = textured_crop()
    crop = np.roll(prev_crop, 3, axis=1)
    prev_change = np.zeros((64, 64, 3), np.float32)
    prev_change[26:34, 26:34] = 40.0
    carried, trust = carry_change(prev_change, prev_crop, crop, np.eye(2, 3, dtype=np.float32))
    cols = np.nonzero(carried[30, :, 0] > 20)[0]
    assert abs(cols.mean() - (29.5 + 3)) < 0.75, cols
    assert trust[16:48, 16:48].mean() > 0.9


def test_carried_change_is_not_trusted_over_an_occluder():
    prev_crop = textured_crop()
    crop = prev_crop.copy()
    crop[20:44, 20:44] = (200, 150, 120)  # a hand in front of the face
    carried, trust = carry_change(np.full((64, 64, 3), 30, np.float32), prev_crop, crop,
                                  np.eye(2, 3, dtype=np.float32))
    assert trust[26:38, 26:38].max() < 0.2
    assert trust[:12, :12].mean() > 0.8
