"""`--ray`: photo folders and video lists on a local Ray cluster (2 CPUs), against the single-machine run."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from stylize.cli.main import main
from stylize.pipeline.cluster import CRASH_ONCE
from stylize.pipeline.ffmpeg_tools import probe

from .conftest import read_all_frames, render_frames, write_clip
from .test_batch import make_tree

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray instance whose workers die once, on the first photo call they get (the crash marker is
    created as they go), so every Ray run below also proves that a lost worker loses nothing."""
    marker = tmp_path_factory.mktemp("crash") / "crashed"
    os.environ[CRASH_ONCE] = str(marker)  # workers inherit the environment at start-up
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield marker
    ray.shutdown()
    del os.environ[CRASH_ONCE]


def run(*args):
    return CliRunner().invoke(main, [*map(str, args), "--no-progress"])


def images(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)
            for p in sorted(folder.rglob("*")) if p.suffix in (".jpg", ".png", ".webp")}


def test_photo_folder_on_ray_matches_the_local_run_and_survives_a_dead_worker(cluster, model_file, tmp_path):
    make_tree(tmp_path / "in")
    local = run("images", tmp_path / "in", "-o", tmp_path / "local", "-m", model_file, "--hair", "blond")
    on_ray = run("images", tmp_path / "in", "-o", tmp_path / "ray", "-m", model_file, "--hair", "blond", "--ray")
    assert cluster.exists()  # a worker died mid-call, and Ray restarted it and retried the call
    assert local.exit_code == on_ray.exit_code == 1  # the broken files fail in both
    a, b = images(tmp_path / "local"), images(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) == 4
    for name in a:
        assert np.abs(a[name] - b[name]).max() <= 1, name
    report = json.loads((tmp_path / "ray" / "stylize-report.json").read_text())
    assert report["processed"] == 3 and report["no_face"] == 1 and report["failed"] == 3
    again = run("images", tmp_path / "in", "-o", tmp_path / "ray", "-m", model_file, "--hair", "blond", "--ray")
    assert "processed 0, skipped (done before) 7" in again.output


def test_videos_on_ray_one_task_each_with_a_report_and_resume(cluster, model_file, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mp4", render_frames(12))
    write_clip(folder / "b.mkv", render_frames(9), fps=Fraction(25), audio=False)
    (folder / "c.mp4").write_text("not a video")
    out = tmp_path / "out"
    r = run("videos", folder, "-o", out, "-m", model_file, "--hair", "blond", "--ray")
    assert r.exit_code == 1 and "2 videos done, 1 failed" in r.output
    rows = {row["name"]: row for row in json.loads((out / "stylize-videos.json").read_text())}
    assert rows["a.mp4"]["frames"] == 12 and rows["b.mkv"]["frames"] == 9 and rows["c.mp4"]["status"] == "failed"
    assert rows["a.mp4"]["tracks"] == 1 and rows["a.mp4"]["fps"] > 0
    assert (out / "stylize-videos.csv").read_text().startswith("video,output,status,frames")
    assert len(read_all_frames(out / "a.mp4")) == 12 and probe(out / "a.mp4").has_audio
    assert probe(out / "b.mkv").fps == Fraction(25)
    again = run("videos", folder, "-o", out, "-m", model_file, "--hair", "blond", "--ray", "--retry-failed")
    rows = json.loads((out / "stylize-videos.json").read_text())
    assert len(rows) == 3 and again.exit_code == 1  # only the bad one was tried again, and failed again


def test_videos_without_ray_give_the_same_report(model_file, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mp4", render_frames(12))
    listing = tmp_path / "list.txt"
    listing.write_text("# one per line\nclips/a.mp4\n")
    r = run("videos", listing, "-o", tmp_path / "out", "-m", model_file, "--hair", "blond", "--x264-params", "subme=7")
    assert r.exit_code == 0, r.output
    [row] = json.loads((tmp_path / "out" / "stylize-videos.json").read_text())
    assert row["status"] == "done" and row["frames"] == 12
    [video] = (tmp_path / "out").rglob("*.mp4")
    assert b"subme=7" in video.read_bytes()  # x264 writes its settings into the stream: the options reached it
    made = video.stat().st_mtime_ns
    r = run("videos", listing, "-o", tmp_path / "out", "-m", model_file, "--hair", "blond", "--x264-params", "subme=7")
    assert r.exit_code == 0 and "another model" not in r.output and video.stat().st_mtime_ns == made, r.output
    r = run("videos", listing, "-o", tmp_path / "out", "-m", model_file, "--hair", "blond")  # another encoder setting
    assert r.exit_code == 0 and "1 video(s)" in r.output and "another model, target or options" in r.output
    assert b"subme=7" not in video.read_bytes()


def test_long_video_in_chunks_on_ray_equals_the_single_machine_run(cluster, model_file, tmp_path):
    from stylize.models import load_model
    from stylize.pipeline.chunks import edit_video_chunked, seam_difference
    from stylize.pipeline.options import EditOptions

    src = write_clip(tmp_path / "long.mkv", render_frames(150, wrap=False), extra=("-g", "30"))
    single = tmp_path / "single.mkv"
    assert run("video", src, "-m", model_file, "--hair", "blond", "-o", single).exit_code == 0
    out = tmp_path / "chunked.mkv"
    r = edit_video_chunked(src, out, load_model(model_file), {"hair": "blond"}, EditOptions(progress=False),
                           "local")
    assert r["chunks"] == 2 and r["frames"] == 150 and r["faces"] == 150
    a, b = probe(single), probe(out)
    assert (b.width, b.height, b.fps, b.has_audio) == (a.width, a.height, a.fps, True)
    assert abs(b.duration - a.duration) <= 1 / float(a.fps) and abs(b.start - a.start) <= 1 / float(a.fps)
    assert len(read_all_frames(out)) == 150
    near, far = seam_difference(single, out, r["joins"])
    assert near < far + 2.0  # no seam: at the joins the chunked edit is as close to the single one as elsewhere
    cli = run("video", src, "-m", model_file, "--hair", "blond", "-o", tmp_path / "cli.mkv", "--ray")
    assert cli.exit_code == 0 and "150 frames in 2 chunks" in cli.output, cli.output
