"""`stylize images`: a folder that finishes, resumes and loses nothing."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from stylize.cli.main import main
from stylize.pipeline import batch

from .conftest import background
from .test_image import portrait


def make_tree(root):
    """Two levels deep: faces in PNG/JPEG/WebP, a face-less photo, and the usual junk."""
    (root / "trip" / "day1").mkdir(parents=True)
    Image.fromarray(portrait()).save(root / "a.jpg", quality=92)
    Image.fromarray(portrait(2)).save(root / "trip" / "b.png")
    Image.fromarray(portrait()).save(root / "trip" / "day1" / "c.webp", quality=90)
    Image.fromarray(background(100, 120, 1)).save(root / "trip" / "day1" / "landscape.jpg")
    Image.fromarray(portrait()).save(root / "trip" / "broken.jpg", quality=90)
    (root / "trip" / "broken.jpg").write_bytes((root / "trip" / "broken.jpg").read_bytes()[:1500])
    (root / "trip" / "day1" / "zero.png").write_bytes(b"")
    (root / "notes.jpg").write_text("a text file wearing a .jpg\n")
    (root / "readme.txt").write_text("not a photo at all")


def run(*args):
    return CliRunner().invoke(main, ["images", *map(str, args), "--no-progress"])


def test_folder_finishes_reports_and_second_run_does_nothing(model_file, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_tree(src)
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "-j", "2")
    assert r.exit_code == 1, r.output  # something failed, and the exit code says so
    assert "processed 3, skipped (done before) 0, no face 1, failed 3" in r.output
    for rel in ("a.jpg", "trip/b.png", "trip/day1/c.webp", "trip/day1/landscape.jpg"):
        assert (out / rel).is_file(), rel
    assert Image.open(out / "trip/day1/c.webp").format == "WEBP"
    assert (out / "trip/day1/landscape.jpg").read_bytes() == (src / "trip/day1/landscape.jpg").read_bytes()
    assert not (out / "trip/broken.jpg").exists() and not (out / "notes.jpg").exists()
    report = json.loads((out / batch.REPORT).read_text())
    reasons = {f["file"]: f["reason"] for f in report["failures"]}
    assert set(reasons) == {"trip/broken.jpg", "trip/day1/zero.png", "notes.jpg"}
    assert "empty" in reasons["trip/day1/zero.png"] and report["not_images"] == 1
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
    edited = np.asarray(Image.open(out / "trip/b.png")).astype(int)
    assert np.abs(edited - np.asarray(Image.open(src / "trip/b.png")).astype(int)).mean() > 1

    r = run(src, "-o", out, "-m", model_file, "--hair", "blond")
    assert "processed 0, skipped (done before) 7, no face 0, failed 0 (+3 in earlier runs)" in r.output
    assert r.exit_code == 1


def test_interrupted_run_resumes_and_loses_nothing(model_file, tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_tree(src)
    real_write = batch.write_photo
    calls = {"n": 0}

    def write_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real_write(*args, **kwargs)

    monkeypatch.setattr(batch, "write_photo", write_then_interrupt)
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "-j", "1")
    assert r.exit_code == 130
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
    monkeypatch.setattr(batch, "write_photo", real_write)
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "-j", "1")
    for rel in ("a.jpg", "trip/b.png", "trip/day1/c.webp", "trip/day1/landscape.jpg"):
        assert (out / rel).is_file(), rel
    manifest = [json.loads(line) for line in (out / batch.MANIFEST).read_text().splitlines()]
    assert sorted({m["file"] for m in manifest if m["status"] in ("done", "no_face")}) == [
        "a.jpg", "trip/b.png", "trip/day1/c.webp", "trip/day1/landscape.jpg"]


def test_dry_run_and_only_faces(model_file, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_tree(src)
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "--dry-run")
    assert r.exit_code == 0 and "would edit trip/b.png" in r.output and not out.exists()
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "--only-faces")
    assert not (out / "trip/day1/landscape.jpg").exists() and (out / "a.jpg").exists()


def test_a_folder_without_photos_is_one_line_and_nonzero_and_writes_nothing(model_file, tmp_path):
    empty, junk = tmp_path / "empty", tmp_path / "junk"
    empty.mkdir()
    junk.mkdir()
    (junk / "readme.txt").write_text("not a photo at all")
    for src, extra in ((empty, ""), (junk, "; 1 non-image file(s) passed over")):
        out = tmp_path / f"out-{src.name}"
        r = run(src, "-o", out, "-m", model_file, "--hair", "blond")
        assert r.exit_code == 1 and r.output.startswith("Error:") and "no photos (" in r.output, r.output
        assert r.output.strip().endswith(")" + extra), r.output
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output and not out.exists()


def test_a_rerun_with_other_settings_edits_again_and_one_with_the_same_skips(model_file, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(portrait()).save(src / "a.png")
    Image.fromarray(portrait(2)).save(src / "b.png")
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "-j", "1")
    assert "processed 2, skipped (done before) 0" in r.output, r.output
    blond = (out / "a.png").read_bytes()
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "-j", "1", "--batch-size", "3")  # not in the result
    assert "processed 0, skipped (done before) 2" in r.output and "another model" not in r.output, r.output
    for changed in (["--hair", "black"], ["--hair", "blond", "--strength", "2"]):
        r = run(src, "-o", out, "-m", model_file, *changed, "-j", "1")
        assert r.exit_code == 0, r.output
        assert "2 photo(s)" in r.output and "another model, target or options" in r.output, r.output
        assert "processed 2, skipped (done before) 0" in r.output, r.output
        assert (out / "a.png").read_bytes() != blond
        assert json.loads((out / batch.REPORT).read_text())["redone_other_settings"] == 2
    r = run(src, "-o", out, "-m", model_file, "--hair", "blond", "--strength", "2", "-j", "1")
    assert "processed 0, skipped (done before) 2" in r.output, r.output


def test_settings_key_follows_what_shapes_the_result_only(model_file):
    import torch

    from stylize.models.modelfile import load_model
    from stylize.pipeline.options import EditOptions

    model, options = load_model(model_file), EditOptions.for_photos()
    key = options.settings_key(model, {"hair": "blond"})
    assert key == EditOptions.for_photos(device="cpu", precision="fp32", batch_size=3, progress=False).settings_key(
        model, {"hair": "blond"})
    assert key == options.settings_key(model.to("cpu", torch.float16), {"hair": "blond"})  # as a GPU halves it
    assert key == EditOptions.for_photos(colour_blur=0).settings_key(model, {"hair": "blond"})  # the file's 0
    model.to("cpu", torch.float32)
    others = {options.settings_key(model, {"hair": "black"}),
              EditOptions.for_photos(strength=1.5).settings_key(model, {"hair": "blond"}),
              EditOptions.for_photos(region="everywhere").settings_key(model, {"hair": "blond"}),
              EditOptions.for_photos(colour_blur=3).settings_key(model, {"hair": "blond"}),
              options.settings_key(model, {"hair": "blond"}, only_faces=True)}
    with torch.no_grad():
        next(model.generator.parameters()).add_(1e-3)
    others.add(options.settings_key(model, {"hair": "blond"}))
    assert len(others) == 6 and key not in others


def test_settings_key_reads_the_model_files_colour_blur_as_asked_for(model_file, tmp_path):
    import shutil

    from stylize.models.modelfile import load_model, update_provenance
    from stylize.pipeline.options import EditOptions

    blurred = shutil.copy(model_file, tmp_path / "blurred.safetensors")
    update_provenance(blurred, colour_blur=5)
    model = load_model(blurred)
    key = EditOptions.for_photos().settings_key(model, {"hair": "blond"})
    assert key == EditOptions.for_photos(colour_blur=5).settings_key(model, {"hair": "blond"})
    assert key != EditOptions.for_photos(colour_blur=0).settings_key(model, {"hair": "blond"})
