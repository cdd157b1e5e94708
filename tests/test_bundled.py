"""The bundled models ship inside the installed package, say how they were made, and render the README's demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from stylize.cli.main import main
from stylize.models import load_model
from stylize.models.modelfile import bundled_models
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.flicker import face_region

from .conftest import read_all_frames

DEMO = Path(__file__).resolve().parents[1] / "samples" / "astronaut.mp4"


def test_bundled_models_are_installed_and_carry_their_provenance():
    files = bundled_models()
    assert {"anime", "anime-sketch"} <= set(files)
    for name, kind, other in (("anime", "face", "selfie"), ("anime-sketch", "none", "sketch")):
        model = load_model(name)
        assert model.alignment.kind == kind and model.schema.groups[0].values == ("anime", other)
        p = model.provenance
        assert p["trainer"] == "stylize-train" and p["steps"] >= 1000 and p["source"]["args"]
        assert 0 <= p["eval"]["target_accuracy"] <= 1 and p["eval"]["model_steps"] == p["steps"]
        assert files[name].stat().st_size < 40e6


def test_readme_demo_command_edits_the_face_and_keeps_the_rest(tmp_path):
    out = tmp_path / "astronaut-anime.mp4"
    r = CliRunner().invoke(main, ["video", str(DEMO), "--domain", "anime", "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    src, dst = read_all_frames(DEMO), read_all_frames(out)
    assert len(src) == len(dst) == 125
    detector = FaceDetector()
    for i in (0, 62, 124):
        region = face_region(src[i], detector)
        diff = np.abs(src[i].astype(np.int16) - dst[i]).mean(axis=2)
        assert diff[region].mean() > 12 and diff[~region].mean() < 3, i
