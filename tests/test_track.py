"""Face tracks and temporal smoothing on synthetic detections."""

from __future__ import annotations

import numpy as np

from stylize.pipeline.frames import Face, Frame
from stylize.pipeline.track import FaceTracker, SmoothingConfig

BASE = np.array([[40, 50], [60, 50], [50, 60], [42, 70], [58, 70]], np.float32)  # eye distance 20 px


def scene(shot: int) -> np.ndarray:
    img = np.zeros((36, 64, 3), np.uint8)
    img[..., shot % 3] = 200
    img[:, : 10 + 20 * shot] = 80
    return img


def run(n: int, faces_at, shot_of=lambda i: 0, config: SmoothingConfig | None = None) -> list[Frame]:
    """``faces_at(i)`` → list of 5×2 point arrays detected in frame i."""
    frames = [Frame(i, scene(shot_of(i)), [Face(p, (0, 0, 1, 1)) for p in faces_at(i)]) for i in range(n)]
    return list(FaceTracker(config or SmoothingConfig())(frames))


def test_single_missed_detection_is_filled_not_blinked():
    out = run(20, lambda i: [] if i == 10 else [BASE + i])
    assert [len(f.faces) for f in out] == [1] * 20
    f10 = out[10].faces[0]
    assert not f10.detected and f10.weight == 1.0
    assert np.allclose(f10.points5, BASE + 10, atol=0.5)
    assert len({f.faces[0].track_id for f in out}) == 1


def test_face_appearing_mid_shot_fades_in_and_out_but_not_at_the_start():
    out = run(30, lambda i: [BASE] + ([BASE + [100, 0]] if 8 <= i < 20 else []))
    late = [next((f.weight for f in fr.faces if f.points5[0, 0] > 100), None) for fr in out]
    assert late[7] is None and late[8] < late[9] < late[10] < 1.0 and late[12] == 1.0
    assert late[19] < late[18] < 1.0 and late[20] is None
    assert all(fr.faces[0].weight == 1.0 for fr in out)  # present from the first frame: no fade


def test_scene_cut_ends_tracks_and_starts_new_ones_without_fade():
    out = run(20, lambda i: [BASE + (0 if i < 10 else 3)], shot_of=lambda i: int(i >= 10))
    assert out[10].cut and not any(f.cut for k, f in enumerate(out) if k != 10)
    before, after = out[9].faces[0], out[10].faces[0]
    assert before.track_id != after.track_id
    assert before.weight == 1.0 and after.weight == 1.0
    # smoothing never mixes points across the cut
    assert np.allclose(out[10].faces[0].points5, BASE + 3)


def test_cut_to_another_person_in_front_of_the_same_wall_is_a_cut():
    """The whole-frame colour histogram barely changes; the picture where the people are does."""
    wall = np.full((36, 64, 3), 120, np.uint8)
    ramp = np.repeat(np.linspace(20, 235, 40, dtype=np.uint8)[None, :, None], 18, 0).repeat(3, 2)
    people = [ramp, ramp[:, ::-1]]  # the same colours (so the same histogram), in other places

    def image(i):
        img = wall.copy()
        img[9:27, 12:52] = people[int(i >= 10)]
        return img

    frames = [Frame(i, image(i), [Face(BASE.copy(), (0, 0, 1, 1))]) for i in range(20)]
    out = list(FaceTracker(SmoothingConfig())(frames))
    assert [k for k, f in enumerate(out) if f.cut] == [10]
    assert out[9].faces[0].track_id != out[10].faces[0].track_id


def test_another_face_in_the_same_place_starts_a_new_track_though_the_frame_barely_changes():
    wall = np.full((120, 160, 3), 120, np.uint8)
    ramp = np.repeat(np.linspace(20, 235, 50, dtype=np.uint8)[None, :, None], 40, 0).repeat(3, 2)

    def image(i):
        img = wall.copy()
        img[40:80, 25:75] = ramp if i < 10 else ramp[:, ::-1]  # 10% of the frame: no frame-level cut
        return img

    frames = [Frame(i, image(i), [Face(BASE.copy(), (0, 0, 1, 1))]) for i in range(20)]
    out = list(FaceTracker(SmoothingConfig())(frames))
    assert not any(f.cut for f in out)
    ids = [f.faces[0].track_id for f in out]
    assert len(set(ids[:10])) == 1 and len(set(ids[10:])) == 1 and ids[9] != ids[10]
    assert out[9].faces[0].weight == 1.0 and out[10].faces[0].weight == 1.0  # a cut: no fade either side


def test_smoothing_removes_landmark_jitter_and_off_keeps_raw_points():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1.5, size=(60, 5, 2)).astype(np.float32)
    smooth = run(60, lambda i: [BASE + noise[i]])
    raw = run(60, lambda i: [BASE + noise[i]], config=SmoothingConfig.off())
    s = np.stack([f.faces[0].points5 for f in smooth]) - BASE
    r = np.stack([f.faces[0].points5 for f in raw]) - BASE
    assert np.allclose(r, noise, atol=1e-4)
    assert s[5:-5].std() < 0.5 * r[5:-5].std()


def test_memory_is_bounded_on_long_streams():
    cfg = SmoothingConfig()
    tracker = FaceTracker(cfg)
    frames = (Frame(i, scene(0), [Face(BASE + (i % 7), (0, 0, 1, 1))]) for i in range(2000))
    sizes = []
    for k, _ in enumerate(tracker(frames)):
        if k % 100 == 0:
            sizes.append((len(tracker.buffer), max(len(t.obs) for t in tracker.tracks.values())))
    assert max(b for b, _ in sizes) <= cfg.lookahead + 1
    assert max(o for _, o in sizes) <= 2 * cfg.window + cfg.lookahead + 2
