"""`stylize image` on photos in the forms people have them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from stylize.cli.main import main

from .conftest import astronaut, background

ORIENTATION = 0x0112


def portrait(faces: int = 1) -> np.ndarray:
    face = astronaut()[25:225, 125:325]
    canvas = background(240, 220 * faces, 2)
    for k in range(faces):
        canvas[20:220, 10 + 220 * k:210 + 220 * k] = face
    return canvas


def edit(src, out, model_file, *extra):
    return CliRunner().invoke(main, ["image", str(src), "-m", str(model_file), "--hair", "blond", "-o", str(out),
                                     *extra])


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).mean(-1) if a.ndim == 3 else np.abs(a.astype(int) - b.astype(int))


def test_several_faces_in_one_photo_all_change(model_file, tmp_path):
    src, out = tmp_path / "two.png", tmp_path / "two-out.png"
    Image.fromarray(portrait(2)).save(src)
    r = edit(src, out, model_file, "--region", "everywhere")  # a hair edit's default leaves the inner face alone
    assert r.exit_code == 0, r.output
    assert "2 face(s)" in r.output
    d = changed(np.asarray(Image.open(src)), np.asarray(Image.open(out)))
    assert d[90:150, 70:150].mean() > 20 and d[90:150, 290:370].mean() > 20  # both faces
    assert d[:, -8:].mean() < 0.5 and d[-12:, :].mean() < 0.5  # background untouched (lossless PNG)


def test_exif_orientation_is_respected_and_metadata_kept(model_file, tmp_path):
    upright = portrait()
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # camera stored it turned; EXIF 6 turns it back
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "TestCam"  # Make
    src, out = tmp_path / "phone.jpg", tmp_path / "phone-out.jpg"
    im.save(src, exif=exif.tobytes(), quality=95)
    r = edit(src, out, model_file)
    assert r.exit_code == 0 and "1 face(s)" in r.output, r.output
    res = Image.open(out)
    assert res.size == (upright.shape[1], upright.shape[0])
    assert res.getexif().get(0x010F) == "TestCam" and res.getexif().get(ORIENTATION) in (None, 1)


def test_alpha_and_grayscale_are_kept(model_file, tmp_path):
    rgba = np.dstack([portrait(), np.full(portrait().shape[:2], 200, np.uint8)])
    rgba[:10, :10, 3] = 0
    src, out = tmp_path / "alpha.png", tmp_path / "alpha-out.png"
    Image.fromarray(rgba, "RGBA").save(src)
    assert edit(src, out, model_file).exit_code == 0
    res = np.asarray(Image.open(out))
    assert res.shape[2] == 4 and (res[..., 3] == rgba[..., 3]).all()

    gray = Image.fromarray(portrait()).convert("L")
    src, out = tmp_path / "gray.jpg", tmp_path / "gray-out.jpg"
    gray.save(src)
    r = edit(src, out, model_file)
    assert r.exit_code == 0 and "1 face(s)" in r.output
    assert Image.open(out).mode == "L"


def test_sixteen_bit_png(model_file, tmp_path):
    g16 = (np.asarray(Image.fromarray(portrait()).convert("L"), dtype=np.uint16) * 257)
    src, out = tmp_path / "deep.png", tmp_path / "deep-out.png"
    Image.fromarray(g16).save(src)
    r = edit(src, out, model_file)
    assert r.exit_code == 0 and "1 face(s)" in r.output, r.output
    res = np.asarray(Image.open(out))
    assert res.dtype == np.uint16 and res.shape == g16.shape


@pytest.mark.parametrize("case", ["text", "empty", "truncated", "missing"])
def test_bad_photos_fail_cleanly(case, model_file, tmp_path):
    src, out = tmp_path / "bad.jpg", tmp_path / "out.jpg"
    if case == "text":
        src.write_text("not a picture")
    elif case == "empty":
        src.write_bytes(b"")
    elif case == "truncated":
        Image.fromarray(portrait()).save(src, quality=90)
        src.write_bytes(src.read_bytes()[:2000])
    r = edit(src, out, model_file)
    assert r.exit_code == 1 and r.output.startswith("Error:") and "Traceback" not in r.output, r.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_real_process_exits_cleanly_on_bad_target(model_file, tmp_path):
    """In a real interpreter (not CliRunner): an error must not leave worker threads that abort at exit."""
    src = tmp_path / "p.png"
    Image.fromarray(portrait()).save(src)
    r = subprocess.run([sys.executable, "-m", "stylize.cli.main", "image", str(src), "-m", str(model_file),
                        "--hair", "green", "-o", str(tmp_path / "o.png")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == "Error: unknown hair 'green'; choose from black, blond"


def test_a_target_the_models_eval_says_it_rarely_reaches_is_warned_about(model_file, tmp_path):
    import shutil

    from stylize.models.modelfile import update_provenance

    weak = shutil.copy(model_file, tmp_path / "weak.safetensors")
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.06, "hair=black": 0.8}})
    src = tmp_path / "one.png"
    Image.fromarray(portrait()).save(src)
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "reached hair=blond on only 6% of its held-out faces" in r.output
    r = CliRunner().invoke(main, ["image", str(src), "-m", str(weak), "--hair", "black", "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0 and "Warning" not in r.output, r.output
    r = edit(src, tmp_path / "plain.png", model_file)  # no eval in the file: nothing to say
    assert r.exit_code == 0 and "Warning" not in r.output, r.output
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.06}, "strength": 1.5})  # made stronger
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "on only 6% of its held-out faces at --strength 1.5 (" in r.output, r.output
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.06}, "strength": 1.5, "colour_blur": 5.0})
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "faces at --strength 1.5 --colour-blur 5 (" in r.output, r.output
    update_provenance(weak, colour_blur=5)  # the file's own blur now: what `stylize` does unasked
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "faces at --strength 1.5 (" in r.output, r.output
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.06}})  # an eval without the file's blur
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "faces at --colour-blur 0 (" in r.output, r.output
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.06}, "colour_blur": 5.0, "applied": "output"})
    r = edit(src, tmp_path / "blond.png", weak)  # measured pasted as the output, where the file pastes its change
    assert r.exit_code == 0 and "faces at --apply output (" in r.output, r.output

    # an edit the eval saw darken a tenth of the face often: said, with how often; a rare one is not
    update_provenance(weak, eval={"per_target": {"hair=blond": 0.8, "hair=black": 0.8}, "colour_blur": 5.0,
                                  "stained": {"hair=blond": 0.08, "hair=black": 0.01}})
    r = edit(src, tmp_path / "blond.png", weak)
    assert r.exit_code == 0 and "darkened over 10% of the face on 8% of its held-out hair=blond edits (" \
        in r.output and "reached" not in r.output, r.output
    r = CliRunner().invoke(main, ["image", str(src), "-m", str(weak), "--hair", "black", "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0 and "Warning" not in r.output, r.output


def test_detect_size_finds_small_faces_and_the_warning_names_it(model_file, tmp_path):
    import cv2

    small = cv2.resize(astronaut()[25:225, 125:325], (100, 100), interpolation=cv2.INTER_AREA)
    canvas = background(400, 640, 2)
    canvas[150:250, 270:370] = small
    src = tmp_path / "wide.png"
    Image.fromarray(canvas).save(src)
    r = edit(src, tmp_path / "a.png", model_file, "--detect-size", "160")  # the face is 15 px in that copy
    assert r.exit_code == 0 and "0 face(s)" in r.output and "try --detect-size 640" in r.output, r.output
    r = edit(src, tmp_path / "b.png", model_file, "--detect-size", "640")
    assert r.exit_code == 0 and "1 face(s)" in r.output and "Warning" not in r.output, r.output
    r = CliRunner().invoke(main, ["images", str(tmp_path), "-o", str(tmp_path / "out"), "-m", str(model_file),
                                  "--hair", "blond", "--detect-size", "160", "--no-progress", "-j", "1"])
    assert r.exit_code == 0 and "no face 3" in r.output, r.output  # the option reaches the batch workers too
