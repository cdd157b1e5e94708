"""`stylize-train`: every dataset module trains, resumes and exports a model the inference path uses."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from stylize.cli.main import main as stylize_main
from stylize.cli.train import main
from stylize.models import Generator, load_model
from stylize.models.masked import MaskedGenerator
from stylize.models.schema import DomainSchema, schema_from_attrs
from stylize.train.datasets import build_dataset
from stylize.train.datasets.base import batches, pencil_sketch
from stylize.train.evaluate import (
    DomainClassifier,
    JudgeEnsemble,
    layout_correlation,
    painted_and_shaded,
    plaid,
    spilled,
    stripe_power,
    transplant_ceiling,
    vivid_share,
)

from . import standins
from .test_image import portrait

TINY = ["--image-size", "32", "--g-conv-dim", "8", "--d-conv-dim", "8", "--g-repeat-num", "1", "--d-repeat-num",
        "3", "--batch-size", "4", "--n-critic", "2", "--sample-every", "3", "--checkpoint-every", "3",
        "--log-every", "1", "--num-iters", "100", "--num-iters-decay", "50"]

CASES = {
    "folder": (standins.make_folder, lambda p: ["folder", "--data", p, "--align-domain", "red"], "--domain"),
    "anime-sketch": (standins.make_anime, lambda p: ["anime-sketch", "--data", p], "--style"),
    "celeba": (standins.make_celeba, lambda p: ["celeba", "--data", p], "--hair"),
    "rafd": (standins.make_rafd, lambda p: ["rafd", "--data", p], "--expression"),
    "ckplus": (standins.make_ckplus, lambda p: ["ckplus", "--data", p], "--expression"),
    "ckplus-folders": (standins.make_ckplus_folders, lambda p: ["ckplus", "--data", p], "--expression"),
}


def hair_and_gender(*hair: str):
    """A one-set CelebA-like schema: a one-hot hair group of these values and a binary gender group."""
    return DomainSchema.from_json([{"name": "celeba", "groups": [
        {"name": "hair", "kind": "onehot", "values": list(hair)},
        {"name": "gender", "kind": "binary", "values": ["female", "male"]}]}])


def train(args, run, until):
    r = CliRunner().invoke(main, [*map(str, args), "--run", str(run), "--until", str(until), *TINY])
    assert r.exit_code == 0, r.output
    return r


@pytest.mark.parametrize("name", list(CASES))
def test_dataset_trains_resumes_and_exports(name, tmp_path):
    make, args, option = CASES[name]
    data = make(tmp_path / "data")
    run = tmp_path / "run"
    train(args(data), run, 3)
    r = train(args(data), run, 5)
    assert "starting at step 3" in r.output
    log = (run / "losses.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in log[1:]] == [1, 2, 3, 4, 5]
    assert (run / "samples" / "000003.png").exists()
    model = load_model(run / "model.safetensors")
    assert model.provenance["steps"] == 5 and model.provenance["source"]["dataset"] == name.split("-folders")[0]
    value = model.schema.groups[0].values[-1]
    src = tmp_path / "p.png"
    Image.fromarray(portrait()).save(src)
    out = tmp_path / "o.png"
    r = CliRunner().invoke(stylize_main, ["image", str(src), "-m", str(run / "model.safetensors"), option, value,
                                          "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists()


def test_ckplus_folders_split_by_subject_with_their_own_expressions(tmp_path):
    spec = build_dataset("ckplus", root=standins.make_ckplus_folders(tmp_path / "ck"), test_fraction=0.25)
    assert spec.schema.groups[0].values == ("angry", "happy", "surprised")  # only the folders present
    subjects = [{s.path.name[:4] for s in part} for part in (spec.train, spec.test)]
    assert subjects[0] and subjects[1] and not subjects[0] & subjects[1]
    assert len(spec.train) + len(spec.test) == 24 and spec.counts["not_ckplus_names"] == 1
    assert spec.alignment.kind == "face" and "CK+48" in spec.alignment.source


def test_joint_uses_mask_vector_and_alternates_sets(tmp_path):
    celeba = standins.make_celeba(tmp_path / "celeba")
    rafd = standins.make_rafd(tmp_path / "rafd")
    run = tmp_path / "run"
    train(["joint", "--celeba", celeba, "--rafd", rafd], run, 4)
    model = load_model(run / "model.safetensors")
    assert model.schema.has_mask and model.generator.c_dim == 3 + 1 + 1 + 8 + 2
    assert [s.name for s in model.schema.label_sets] == ["celeba", "rafd"]
    spec = build_dataset("joint", celeba_root=celeba, rafd_root=rafd)
    assert {s.label[-2:] for s in spec.train} == {(1.0, 0.0), (0.0, 1.0)}


def test_resume_is_exact(tmp_path):
    data = standins.make_anime(tmp_path / "anime")
    a, b = tmp_path / "a", tmp_path / "b"
    train(["anime-sketch", "--data", data], a, 6)
    train(["anime-sketch", "--data", data], b, 3)
    train(["anime-sketch", "--data", data], b, 6)
    sa = torch.load(a / "checkpoint.pt", weights_only=True)
    sb = torch.load(b / "checkpoint.pt", weights_only=True)
    for k in sa["G"]:
        assert torch.equal(sa["G"][k], sb["G"][k]), k


@pytest.mark.parametrize("checkpointed", [3, 0])
def test_a_run_killed_past_its_checkpoint_resumes_with_each_step_logged_once(checkpointed, tmp_path):
    """SIGKILL (a session's end) gives no handler a chance: the rows logged after the last checkpoint (or before
    the first) go, since the resumed run logs those iterations again."""
    data = standins.make_anime(tmp_path / "anime")
    run = tmp_path / "run"
    if checkpointed:
        train(["anime-sketch", "--data", data], run, checkpointed)
    else:
        run.mkdir()
        (run / "losses.csv").write_text("step,seconds,cpu_seconds,g_lr\n1,9.9,9.9,0.0001\n")
    with open(run / "losses.csv", "a") as f:  # what a run killed at step 5 leaves behind its last checkpoint
        f.write("4,9.9,9.9,0.0001\n5,9.9,9.9,0.0001\n6,9.9,9")  # the last row torn by the kill
    train(["anime-sketch", "--data", data], run, 6)
    log = (run / "losses.csv").read_text().splitlines()
    rows = [line.split(",") for line in log[1:]]
    assert log[0].startswith("step,seconds,cpu_seconds,g_lr,D_adv")
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5, 6] and "9.9" not in {r[1] for r in rows}


@pytest.mark.parametrize("minutes, saved_at", [(1e-9, [1, 2, 3, 4, 4]), (0, [4])])
def test_checkpoints_are_also_saved_by_wall_time(minutes, saved_at, tmp_path, monkeypatch):
    from stylize.train.trainer import Trainer

    steps: list[int] = []
    save = Trainer.save_checkpoint
    monkeypatch.setattr(Trainer, "save_checkpoint", lambda self: (steps.append(self.step), save(self))[1])
    data = standins.make_anime(tmp_path / "anime")
    r = CliRunner().invoke(main, ["anime-sketch", "--data", str(data), "--run", str(tmp_path / "run"), "--until", "4",
                                  *TINY, "--checkpoint-every", "1000", "--checkpoint-minutes", str(minutes)])
    assert r.exit_code == 0, r.output
    assert steps == saved_at  # every step once the interval has passed, then the final save


@pytest.mark.parametrize("adv_loss, penalty", [("wgan-gp", "gradient_penalty"), ("nsgan", "r1_penalty")])
def test_lazy_regularisation_applies_the_penalty_every_nth_critic_step_at_n_times_the_weight(adv_loss, penalty,
                                                                                            tmp_path, monkeypatch):
    import stylize.train.trainer as trainer

    calls: list[float] = []
    real = getattr(trainer, penalty)

    def counted(*args, **kwargs):
        value = real(*args, **kwargs)
        calls.append(value.item())
        return value

    monkeypatch.setattr(trainer, penalty, counted)
    data = standins.make_anime(tmp_path / "anime")
    run = tmp_path / "run"
    train(["anime-sketch", "--data", data, "--adv-loss", adv_loss, "--reg-every", "3"], run, 7)
    log = [line.split(",") for line in (run / "losses.csv").read_text().splitlines()]
    reg = [r[log[0].index("D_reg")] for r in log[1:]]
    assert len(calls) == 3 and [i + 1 for i, v in enumerate(reg) if v] == [1, 4, 7]  # steps 0, 3, 6 (0-based)
    weight = {"wgan-gp": 10.0, "nsgan": 1.0}[adv_loss]
    assert [float(v) for v in reg if v] == pytest.approx([weight * c for c in calls], rel=1e-4, abs=1e-5)
    assert load_model(run / "model.safetensors").provenance["recipe"]["reg_every"] == 3


@pytest.mark.parametrize("option, value", [("--checkpoint-every", "0"), ("--sample-every", "0"),
                                           ("--log-every", "-1"), ("--checkpoint-minutes", "-1"),
                                           ("--reg-every", "0")])
def test_a_schedule_that_cannot_run_is_a_usage_error(option, value, tmp_path):
    data = standins.make_anime(tmp_path / "anime")
    r = CliRunner().invoke(main, ["anime-sketch", "--data", str(data), "--run", str(tmp_path / "run"), *TINY,
                                  option, value])
    assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "run").exists()


def test_two_process_ddp_run_trains_and_exports(tmp_path):
    """torchrun with two CPU processes (gloo): the DDP path, the shared crop cache and rank-0-only outputs."""
    import subprocess
    import sys

    data = standins.make_folder(tmp_path / "data")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "stylize.cli.train", "folder", "--data", str(data), "--run-dir", str(run), *TINY, "--until", "4",
           "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    log = (run / "losses.csv").read_text().splitlines()
    assert log[0].startswith("step,") and [int(line.split(",")[0]) for line in log[1:]] == [1, 2, 3, 4]
    assert load_model(run / "model.safetensors").provenance["steps"] == 4


def test_classification_loss_falls_on_learnable_labels(tmp_path):
    """A longer (still tiny) run: D's domain classifier must learn red vs blue."""
    data = standins.make_folder(tmp_path / "data", n=12)
    run = tmp_path / "run"
    args = TINY + ["--sample-every", "1000", "--checkpoint-every", "1000", "--log-every", "10",
                   "--num-iters", "1000", "--num-iters-decay", "0"]  # later options win: no decay here
    r = CliRunner().invoke(main, ["folder", "--data", str(data), "--run", str(run), "--until", "300", *args])
    assert r.exit_code == 0, r.output
    rows = [line.split(",") for line in (run / "losses.csv").read_text().splitlines()]
    cls = [float(r[rows[0].index("D_cls")]) for r in rows[1:]]
    assert np.mean(cls[:3]) > 0.6  # starts at chance (ln 2 for two domains)
    assert np.mean(cls[-3:]) < 0.5 * np.mean(cls[:3])


def test_an_edit_made_again_on_its_own_result_adds_its_second_change():
    from stylize.pipeline.align import whole_image_transform
    from stylize.train.datasets.base import LoadedSample
    from stylize.train.evaluate import Edit, edit_as_stylize

    image = np.full((32, 32, 3), 100, np.uint8)
    sample = LoadedSample(image, image.copy(), whole_image_transform(32, 32, 32))
    seen = []

    def lighter(x, c):  # a stand-in G: every pixel 25.5 grey levels lighter, whatever is asked
        seen.append(x.clone())
        return (x + 0.2).clamp(-1, 1)

    edits = [Edit("hair", "blond", np.ones(1, np.float32))]
    for passes, expected in ((1, 125.5), (2, 151.0), (3, 176.5)):
        seen.clear()
        fake, (edited,) = edit_as_stylize(lighter, sample, edits, {"hair": None}, True, passes=passes,
                                           feather=0.0)
        assert len(seen) == passes and abs(edited.astype(float).mean() - expected) <= 1
        assert torch.equal(fake, (seen[0] + 0.2).clamp(-1, 1))  # the cycle reads G's first output
        # each pass sees the crop the pass before it made, rounded as the pipeline holds a crop
        assert [round(float((x[0, 0, 0, 0] + 1) * 127.5)) for x in seen] == [100, 126, 151][:passes]
    # where the edit may not act, no pass changes anything
    _, (edited,) = edit_as_stylize(lighter, sample, edits, {"hair": np.zeros((32, 32, 1), np.float32)}, True,
                                   passes=2, feather=0.0)
    assert np.array_equal(edited, image)


def test_the_eval_pastes_a_face_edit_with_the_feather_it_is_given():
    """A face's change fades toward the crop's edge over the share ``feather`` says (stylize's own by default), so
    the eval can measure what that fade takes off hair at the crop's edge; 0 pastes it whole to the edge."""
    from stylize.pipeline.align import whole_image_transform
    from stylize.pipeline.frames import Face
    from stylize.train.datasets.base import LoadedSample
    from stylize.train.evaluate import apply_edit

    image = np.full((64, 64, 3), 100, np.uint8)
    sample = LoadedSample(image, image.copy(), whole_image_transform(64, 64, 64))
    change = np.full((64, 64, 3), 50, np.float32)
    default, none, narrow = (apply_edit(sample, change, True, *f).astype(float) - 100 for f in ((), (0.0,), (0.03,)))
    assert np.array_equal(default, apply_edit(sample, change, True, Face.feather).astype(float) - 100)
    assert (none == 50).all()  # whole, to the crop's edge
    assert default[32, 32, 0] == 50 and narrow[32, 32, 0] == 50  # the middle is the change's own
    edge = (slice(16, 48), slice(2, 6))  # deep in stylize's fade, past a narrow one's
    assert default[edge].max() < 15 and narrow[edge].min() > 30


def test_eval_reports_accuracy_and_reconstruction(tmp_path):
    data = standins.make_folder(tmp_path / "data")
    run = tmp_path / "run"
    train(["folder", "--data", data, "--align-domain", "red"], run, 3)  # a mixed set: blue images have no face
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "30", "--grid", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
    result = json.loads((run / "eval.json").read_text())
    assert 0 <= result["target_accuracy"] <= 1 and result["reconstruction_l1"] > 0
    assert result["test_images"] == 2
    assert set(result["layout_correlation"]) <= {"domain=red", "domain=blue"} and 0 <= result["layout_kept"] <= 1
    assert set(result["plaid"]) <= {"domain=red", "domain=blue"} and all(v > 0 for v in result["plaid"].values())
    assert 0 <= result["same_person"] <= 1  # from the aligned red face only
    assert Image.open(tmp_path / "g.png").size == (3 * 128, 2 * 128)  # 2 held-out rows: input, red, blue
    assert load_model(run / "model.safetensors").provenance["eval"] == result
    assert result["strength"] == 1.0
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "30", "--grid", str(tmp_path / "g3.png"),
                                  "--strength", "3"])  # the edits made as `stylize --strength 3` makes them
    assert r.exit_code == 0, r.output
    strong = json.loads((run / "eval.json").read_text())
    assert strong["strength"] == 3.0 and strong["reconstruction_l1"] == result["reconstruction_l1"]  # G's own cycle

    def moved(grid) -> float:
        g = np.asarray(Image.open(grid), np.float32)
        return float(np.abs(g[:, 128:] - np.tile(g[:, :128], (1, 2, 1))).mean())

    assert moved(tmp_path / "g3.png") > 1.5 * moved(tmp_path / "g.png")
    # pasted as its output instead (`stylize --apply output`): said in the figures, and read against the file's own
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "30", "--grid", str(tmp_path / "go.png"),
                                  "--apply", "output"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "eval.json").read_text())["applied"] == "output"
    assert load_model(run / "model.safetensors").measured_with == {"--apply": "output"}
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "go.png")), np.asarray(Image.open(tmp_path / "g.png")))


def test_a_hair_transplant_keeps_the_inner_face_and_takes_the_donors_hair():
    schema = DomainSchema.single("celeba", schema_from_attrs(["Black_Hair", "Blond_Hair", "Male"]))
    size = 16
    inner = np.zeros((size, size), np.float32)
    inner[4:12, 4:12] = 1.0
    # a face's hair shows at its edges (dark or light) and, as light eyes go with blond hair, in its red centre;
    # its gender in its green centre
    owns = [{"hair": h, "gender": g} for h in ("black", "blond") for g in ("female", "male")] * 3
    crops = np.zeros((len(owns), size, size, 3), np.uint8)
    for k, own in enumerate(owns):
        crops[k] = 230 if own["hair"] == "blond" else 20
        crops[k, 4:12, 4:12] = (200 if own["hair"] == "blond" else 0, 200 if own["gender"] == "male" else 0, 0)

    class Reads(torch.nn.Module):  # hair from the edge pixel, gender from the centre, as logits of the schema
        def __init__(self, where: tuple[int, int]) -> None:
            super().__init__()
            self.where = where

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # mid grey (0) reads black
            edge, centre = x[:, 0, self.where[0], self.where[1]], x[:, 1, 8, 8]
            return torch.stack([0.5 - edge, edge - 0.5, centre], 1)  # black, blond, male

    ceiling = transplant_ceiling(Reads((0, 0)), schema, crops, owns, [0] * len(owns), inner)
    assert ceiling == {"hair=black": [1.0, 6], "hair=blond": [1.0, 6]}
    # a judge that reads hair colour inside the inner face sees the face's own, never the donor's
    assert transplant_ceiling(Reads((8, 8)), schema, crops, owns, [0] * len(owns), inner) == {
        "hair=black": [0.0, 6], "hair=blond": [0.0, 6]}
    # a judge that sees only what lies inside each source image (`shown`) sees the donor's record round the inner
    # face: where the donor's edge was the aligner's reflection it reads grey (black here), wherever the face's was
    insides = np.full((len(owns), size, size), 255, np.uint8)
    insides[:, 0, 0] = [0 if own["hair"] == "blond" else 255 for own in owns]  # the blonds' edge lies outside
    assert transplant_ceiling(Reads((0, 0)), schema, crops, owns, [0] * len(owns), inner, insides=insides) == {
        "hair=black": [1.0, 6], "hair=blond": [0.0, 6]}
    insides[:, 0, 0] = 255 - insides[:, 0, 0]  # now the dark-haired faces' edge: never what a blond donor shows
    assert transplant_ceiling(Reads((0, 0)), schema, crops, owns, [0] * len(owns), inner, insides=insides) == {
        "hair=black": [1.0, 6], "hair=blond": [1.0, 6]}


def test_layout_correlation_tells_a_kept_face_from_a_scrambled_one():
    face = portrait()[:256, 100:356]
    recoloured = np.clip(face.astype(int) * [1.2, 0.9, 0.6] + 20, 0, 255).astype(np.uint8)
    assert layout_correlation(face, recoloured) > 0.95
    assert layout_correlation(face, np.ascontiguousarray(face[::-1, ::-1])) < 0.5
    assert layout_correlation(face, np.full_like(face, 128)) == 0.0


def test_painted_counts_the_face_whose_colour_moved_and_shaded_the_face_darkened_not_lit():
    face = portrait()[:256, 100:356]
    where = np.zeros(face.shape[:2], bool)
    where[64:192, 64:192] = True
    assert painted_and_shaded(face, face, where) == (0.0, 0.0)
    lit = np.clip(face.astype(int) * 1.3 + 10, 0, 255).astype(np.uint8)  # brighter, the same colours
    assert painted_and_shaded(face, lit, where)[0] < 0.02 and painted_and_shaded(face, lit, where)[1] == 0.0
    band = face.copy()
    band[96:128, 64:192] = (230, 110, 30)  # an orange band across a quarter of the region
    assert painted_and_shaded(face, band, where)[0] == pytest.approx(0.25, abs=0.03)
    sheet = face.copy()
    sheet[:, 92:] = (25, 20, 18)  # dark hair over the right half of the region: its colour barely moves
    painted, shaded = painted_and_shaded(face, sheet, where)
    assert shaded == pytest.approx(0.5, abs=0.05) and painted < shaded / 2


def test_vivid_counts_colour_painted_past_any_hair_not_a_blond_or_what_was_there():
    face = portrait()[:256, 100:356]
    assert vivid_share(face, face) == 0.0
    crown = face.copy()
    crown[:64] = (200, 40, 50)  # a red crown over the top quarter
    assert vivid_share(face, crown) == pytest.approx(0.25, abs=0.02)
    assert vivid_share(crown, crown) == 0.0  # vivid already, and kept
    blond = face.copy()
    blond[:64] = (205, 180, 130)  # the same quarter turned a real blond
    assert vivid_share(face, blond) < 0.01


def test_spill_counts_the_backdrop_an_edit_changed_not_the_head():
    face = portrait()[:256, 100:356]
    backdrop = np.zeros(face.shape[:2], bool)
    backdrop[:, :64] = True  # the left quarter
    assert spilled(face, face, backdrop) == 0.0
    blob = face.copy()
    blob[:128, :64] = (20, 20, 20)  # a dark blob over half the backdrop
    blob[128:, :64] = np.clip(blob[128:, :64].astype(int) + 8, 0, 255)  # the other half a shade lighter: noise
    assert spilled(face, blob, backdrop) == pytest.approx(0.5, abs=0.05)
    hair = face.copy()
    hair[:, 64:] = (205, 180, 130)  # everything outside the backdrop recoloured
    assert spilled(face, hair, backdrop) == 0.0


def test_plaid_tells_strokes_and_blocks_from_a_blur():
    """Crops of a real face: made of 4x4 blocks, or crossed by short horizontal and vertical strokes, they read as
    plaid against the crops themselves; blurred (fine detail lost in every direction alike) they do not."""
    face, rng = portrait(), np.random.default_rng(0)
    corners = rng.integers(0, 40, (12, 2))
    crops = np.stack([cv2.resize(face[y:y + 200, x:x + 180], (64, 64), interpolation=cv2.INTER_AREA)
                      for y, x in corners])
    blocks = np.stack([cv2.resize(cv2.resize(c, (16, 16), interpolation=cv2.INTER_AREA), (64, 64),
                                  interpolation=cv2.INTER_NEAREST) for c in crops])
    strokes = crops.astype(int)
    for c in strokes:
        for at, start, sign, across in zip(rng.integers(0, 64, 30), rng.integers(0, 48, 30), rng.choice([-40, 40], 30),
                                           rng.random(30) < 0.5, strict=True):
            stroke = c[at, start:start + 16] if across else c[start:start + 16, at]  # a view into the crop
            stroke += sign
    blurred = np.stack([cv2.GaussianBlur(c, (0, 0), 1.0) for c in crops])
    real = {"face": stripe_power(crops)}
    read = {name: plaid({"face": stripe_power(x.clip(0, 255).astype(np.uint8))}, real)["face"]
            for name, x in (("blocks", blocks), ("strokes", strokes), ("blurred", blurred), ("same", crops))}
    assert read["blocks"] > 3 and read["strokes"] > 2 and 0.6 < read["blurred"] < 1.4 and read["same"] == 1, read


def test_eval_of_a_face_model_judges_targets_kept_attributes_and_identity(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--attrs", "Black_Hair,Blond_Hair,Male"], run, 2)
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20"])
    assert r.exit_code == 0, r.output
    result = json.loads((run / "eval.json").read_text())
    assert set(result["per_target"]) <= {"hair=black", "hair=blond", "gender=female", "gender=male"}
    assert set(result["others_kept"]) <= {"hair when gender asked", "gender when hair asked"}
    for target, reached in result["per_target"].items():  # split by the face's own value, the figures add up
        split = {k.split(" from ")[1]: v for k, v in result["per_target_by_source"].items()
                 if k.startswith(target + " ")}
        assert split and target.split("=")[1] not in split
        mean = sum(r * n for r, n in split.values()) / sum(n for _, n in split.values())
        assert mean == pytest.approx(reached, abs=1e-3)
    for kept, rate in result["others_kept"].items():  # and so do the attributes kept, split by the asked value
        head, group = kept.split(" asked")[0].split(" when ")
        split = [v for k, v in result["others_kept_by_target"].items() if k.startswith(f"{head} when {group}=")]
        assert split and sum(r * n for r, n in split) / sum(n for _, n in split) == pytest.approx(rate, abs=1e-3)
    assert 0 <= result["same_person"] <= 1 and result["identity_distance_mean"] >= 0
    assert result["applied"] == "change at full resolution"
    own = result["own_value_change"]  # hair is one-hot: every face was asked for its own colour too
    assert own and set(own) <= {"hair=black", "hair=blond"} and all(0 <= v < 255 for v in own.values())
    for moved in ("painted", "shaded", "stained"):
        assert set(result[moved]) == set(result["per_target"]) and all(0 <= v <= 1 for v in result[moved].values())
    # a second judge, of luminance only, reads the same edits: the same targets, its own reading of real faces
    grey = result["greyscale_judge"]
    assert set(grey["per_target"]) == set(result["per_target"]) and 0 <= grey["target_accuracy"] <= 1
    assert set(grey["others_kept"]) == set(result["others_kept"])
    assert set(grey["judge_accuracy_on_real_test"]) == set(result["judge_accuracy_on_real_test"])
    # each judge also reads real hair transplanted around the held-out faces (test_a_hair_transplant_...): here
    # one held-out face, and no other to take hair from
    assert result["judge_on_hair_transplants"] == grey["judge_on_hair_transplants"] == {}
    # the judge learns from shifted, partly blanked faces by default; each judge is cached under its own name
    assert result["judge_augment"] == "translation,cutout"
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--judge-augment", "",
                                  "--no-greyscale-judge"])
    assert r.exit_code == 0, r.output
    result = json.loads((run / "eval.json").read_text())
    assert result["judge_augment"] == "none" and "greyscale_judge" not in result
    judges = sorted(p.name.split("-20-0-")[1] for p in (run / "cache").glob("judge-*"))
    assert judges == ["gray-translation-cutout.pt", "rgb-translation-cutout.pt", "rgb.pt"]
    # another seed trains another judge, kept beside the first, and the eval says which seed read it
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--judge-augment", "",
                                  "--no-greyscale-judge", "--judge-seed", "1"])
    assert r.exit_code == 0, r.output
    assert result["judge_seed"] == 0 and json.loads((run / "eval.json").read_text())["judge_seed"] == 1
    first, second = (torch.load(next((run / "cache").glob(f"judge-*-20-{seed}-rgb.pt"))) for seed in (0, 1))
    assert first.keys() == second.keys() and any(not torch.equal(first[k], second[k]) for k in first)
    # both seeds: one judge, the two cached ones' logits averaged
    judges = [DomainClassifier(3) for _ in range(2)]
    for j, state in zip(judges, (first, second), strict=True):
        j.load_state_dict(state)
    faces = torch.rand(4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        mean = (judges[0].eval()(faces) + judges[1].eval()(faces)) / 2
        assert torch.allclose(JudgeEnsemble(judges).eval()(faces), mean)
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--judge-augment", "",
                                  "--no-greyscale-judge", "--judge-seed", "0", "--judge-seed", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "eval.json").read_text())["judge_seed"] == [0, 1]
    assert len(list((run / "cache").glob("judge-*-20-*-rgb.pt"))) == 2  # no judge trained anew
    # a judge that sees greyscale already has no second one
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--structure-only"])
    assert r.exit_code == 0, r.output
    result = json.loads((run / "eval.json").read_text())
    assert result["judge_sees"] == "greyscale (structure only)" and "greyscale_judge" not in result
    # a judge that hides the inner face is trained anew, cached under a name of its own, and says so
    before = set((run / "cache").glob("judge-*"))
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--no-greyscale-judge",
                                  "--judge-hides-face"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "eval.json").read_text())["judge_hides_inner_face"] is True
    (hiding,) = set((run / "cache").glob("judge-*")) - before
    assert "-hides" in hiding.name
    # so is one that sees only what lies inside each source image
    before = set((run / "cache").glob("judge-*"))
    r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--no-greyscale-judge",
                                  "--judge-sees-inside"])
    assert r.exit_code == 0, r.output
    result = json.loads((run / "eval.json").read_text())
    assert result["judge_sees_inside_only"] is True and "judge_hides_inner_face" not in result
    (inside,) = set((run / "cache").glob("judge-*")) - before
    assert inside.name.endswith("-inside.pt")


def test_models_of_other_attribute_sets_sharing_a_crop_cache_get_judges_of_their_own(tmp_path):
    # the same images under two attribute sets: the same count of crops, judges of different shapes (and meanings)
    data = standins.make_celeba(tmp_path / "data")
    cache = tmp_path / "cache"
    for attrs in ("Black_Hair,Blond_Hair,Male", "Black_Hair,Blond_Hair"):
        run = tmp_path / attrs.replace(",", "-")
        train(["celeba", "--data", data, "--attrs", attrs], run, 2)
        r = CliRunner().invoke(main, ["eval", str(run), "--judge-steps", "20", "--cache", str(cache),
                                      "--no-greyscale-judge"])
        assert r.exit_code == 0, r.output
        judged = json.loads((run / "eval.json").read_text())["judge_accuracy_on_real_test"]
        assert {k.split("=")[0] for k in judged} <= {"hair", "gender"} and any(k.startswith("hair=") for k in judged)
    assert len(list(cache.glob("judge-*.pt"))) == 2


@pytest.mark.parametrize("recipe, arch, adv_loss", [("budget", MaskedGenerator, "nsgan"),
                                              ("paper", Generator, "wgan-gp"), ("hybrid", MaskedGenerator, "wgan-gp")])
def test_recipes_pick_their_generator_and_a_cpu_budget_stops_training(recipe, arch, adv_loss, tmp_path):
    data = standins.make_folder(tmp_path / "data")
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["folder", "--data", str(data), "--run", str(run), "--recipe", recipe, *TINY,
                                  "--n-critic", "1", "--max-cpu-seconds", "0.001"])
    assert r.exit_code == 0, r.output
    model = load_model(run / "model.safetensors")
    assert type(model.generator) is arch and model.provenance["steps"] == 1
    assert model.provenance["recipe"]["adv_loss"] == adv_loss
    assert model.provenance["train_cpu_seconds"] >= 0
    if recipe != "paper":  # the exported generator is the moving average, not the last step's weights
        ck = torch.load(run / "checkpoint.pt", weights_only=True)
        assert any(not torch.equal(ck["G"][k], ck["G_ema"][k]) for k in ck["G"] if ck["G"][k].is_floating_point())


def test_training_runs_in_bfloat16_where_the_cpu_multiplies_it_natively_and_records_it(tmp_path, monkeypatch):
    import stylize.train.trainer as trainer

    data = standins.make_folder(tmp_path / "data")
    for native, amp, arithmetic in [(True, "--amp", "bfloat16 autocast"), (True, "--no-amp", "float32"),
                                    (False, "--amp", "float32")]:  # not native: float32
        monkeypatch.setattr(trainer, "cpu_has_fast_bfloat16", lambda native=native: native)
        run = tmp_path / f"run-{native}{amp}"
        train(["folder", "--data", data, "--align-domain", "red", amp, "--device", "cpu"], run, 2)
        assert load_model(run / "model.safetensors").provenance["arithmetic"] == arithmetic, (native, amp)
        said = CliRunner().invoke(stylize_main, ["info", str(run / "model.safetensors")]).output
        assert f"arithmetic: {arithmetic}\n" in said, said  # stylize info shows it
        convs = []  # what G's and D's convolutions compute in, a step of the run resumed
        t = trainer.Trainer(build_dataset("folder", root=data, align_domains=("red",)), run,
                            trainer.TrainConfig(image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1,
                                                d_repeat_num=3, batch_size=4, n_critic=1, amp=amp == "--amp",
                                                device="cpu"))
        for net in (t.G, t.D):
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.register_forward_hook(lambda m, i, o, seen=convs: seen.append(o.dtype))
        t.train_step(*next(iter(batches(t.train_crops, 4, t.rng))))
        assert set(convs) == {torch.bfloat16 if arithmetic != "float32" else torch.float32}, (native, amp)
        t.close()


@pytest.mark.parametrize("case", ["empty", "one_domain", "no_attr_file", "decay_too_long"])
def test_bad_data_is_a_clear_error(case, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    if case == "one_domain":
        (data / "only").mkdir()
        standins.make_anime(data / "only" / "x")
    if case == "decay_too_long":
        standins.make_folder(data)
    args = ["celeba", "--data", data] if case == "no_attr_file" else ["folder", "--data", data]
    extra = ["--num-iters-decay", "101"] if case == "decay_too_long" else []
    r = CliRunner().invoke(main, [*map(str, args), "--run", str(tmp_path / "run"), *TINY, *extra])
    if case == "decay_too_long":  # a usage error: click's exit status 2, naming the option
        assert r.exit_code == 2 and "--num-iters-decay" in r.output and "Traceback" not in r.output, r.output
        return
    assert r.exit_code == 1 and r.output.startswith("Error:") and "Traceback" not in r.output, r.output


def test_pencil_sketch_is_deterministic_and_gray():
    img = standins.face(0, (64, 64))
    a, b = pencil_sketch(img), pencil_sketch(img.copy())
    assert np.array_equal(a, b) and np.array_equal(a[..., 0], a[..., 1])
    assert a.mean() > img.mean()  # mostly paper-white


def test_structure_only_judge_cannot_see_colour():
    from stylize.train.evaluate import LUMA, DomainClassifier

    judge = DomainClassifier(2, gray=True).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    gray = (x * LUMA).sum(1, keepdim=True).expand(-1, 3, -1, -1)
    assert torch.allclose(judge(x), judge(gray), atol=1e-5)
    colour = DomainClassifier(2).eval()
    assert not torch.allclose(colour(x), colour(gray), atol=1e-3)


def test_a_judge_that_hides_the_inner_face_reads_the_same_whatever_the_face_and_sees_the_hair():
    from stylize.models.alignment import Alignment
    from stylize.pipeline.regions import inner_face
    from stylize.train.evaluate import DomainClassifier

    hide = inner_face(Alignment(), 64)  # the CelebA template
    torch.manual_seed(0)
    judge = DomainClassifier(2, hide=hide).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    other_face = x + torch.from_numpy(hide == 1) * (torch.rand(2, 3, 64, 64) * 2 - 1 - x)
    assert not torch.equal(other_face, x)
    assert torch.allclose(judge(x), judge(other_face), atol=1e-5)
    other_hair = x + torch.from_numpy(hide == 0) * (torch.rand(2, 3, 64, 64) * 2 - 1 - x)
    assert not torch.allclose(judge(x), judge(other_hair), atol=1e-3)
    # the hidden region is not part of what a judge keeps in the cache
    assert "hide" not in judge.state_dict()


def test_the_moving_average_warms_up_so_short_runs_do_not_export_their_random_start():
    from types import SimpleNamespace

    from stylize.train.trainer import TrainConfig, Trainer
    decay = [Trainer.ema_decay(SimpleNamespace(cfg=TrainConfig(), step=t)) for t in (0, 100, 1000, 20_000)]
    assert decay[0] == 0.1 and decay[1] < 0.95 and decay[-1] == 0.999
    share_of_start = np.prod([Trainer.ema_decay(SimpleNamespace(cfg=TrainConfig(), step=t)) for t in range(1000)])
    assert share_of_start < 1e-3  # 0.999 ** 1000 would be 0.37


def test_augmentation_shifts_and_blanks_each_image_and_lets_gradients_through():
    from stylize.train.augment import cutout, parse_policy, translate

    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(6, 3, 32, 32)
    x[:, :, 16, 16] = 1.0  # one bright pixel per image, to follow
    moved = translate(x, gen)
    spots = [divmod(int(m[0].argmax()), 32) for m in moved]
    assert all(abs(r - 16) <= 4 and abs(c - 16) <= 4 for r, c in spots)  # at most 1/8 of the side
    assert len(set(spots)) > 1 and moved.sum() == x.sum()  # each image its own shift; nothing wraps round

    ones = torch.ones(64, 3, 32, 32, requires_grad=True)
    cut = cutout(ones, gen)
    blanked = (cut[:, 0] == 0).sum((1, 2))
    assert blanked.max() == 16 * 16 and blanked.min() > 0  # a half-side square, clipped at the border
    cut.sum().backward()
    assert torch.equal(ones.grad, (cut != 0).float())  # gradient flows to every pixel D still sees
    assert parse_policy("translation, cutout") == ("translation", "cutout") and parse_policy("") == ()


def test_resolution_augmentation_takes_fine_detail_off_each_image_and_keeps_the_layout():
    from stylize.train.augment import augment, parse_policy, resolution

    gen = torch.Generator().manual_seed(0)
    fine = torch.ones(1, 1, 32, 32)
    fine[..., ::2, :] = -1  # stripes one pixel high: the finest detail there is
    coarse = torch.zeros(1, 1, 32, 32)
    coarse[..., :16, :] = 1  # top half bright: layout
    x = torch.cat([fine, coarse]).repeat(8, 3, 1, 1).requires_grad_(True)
    out = resolution(x, gen)
    assert out.shape == x.shape
    stripes = out[0::2].diff(dim=2).abs().mean((1, 2, 3))  # row-to-row swing: 2 in the source
    assert (stripes < 2).all() and stripes.std() > 0  # each image its own resolution, never the source's detail
    assert (out[1::2, :, :12].mean((1, 2, 3)) > 0.9).all() and (out[1::2, :, 20:].abs() < 0.1).all()
    out.sum().backward()
    assert x.grad.abs().sum() > 0  # differentiable: G learns through it
    const = torch.full((2, 3, 16, 16), 0.25)
    assert torch.allclose(augment(const, ("resolution",), gen), const)
    assert parse_policy("translation,resolution") == ("translation", "resolution")
    with pytest.raises(ValueError, match="resolution"):
        parse_policy("blur")  # the error lists what is known

@pytest.mark.parametrize("recipe", ["budget", "paper"])
def test_a_run_with_augmented_discriminator_inputs_trains_and_records_it(recipe, tmp_path):
    data = standins.make_folder(tmp_path / "data")
    run = tmp_path / "run"
    train(["folder", "--data", data, "--recipe", recipe, "--augment", "translation,cutout"], run, 3)
    model = load_model(run / "model.safetensors")
    assert model.provenance["steps"] == 3 and model.provenance["recipe"]["augment"] == "translation,cutout"
    r = CliRunner().invoke(main, ["folder", "--data", str(data), "--run", str(tmp_path / "bad"), "--augment", "flip"])
    assert r.exit_code == 2 and "--augment" in r.output and "Traceback" not in r.output, r.output


def test_a_projection_discriminator_judges_an_image_against_the_labels_it_is_given():
    from stylize.models.stargan import Discriminator
    from stylize.train.losses import projection_labels

    torch.manual_seed(0)
    d = Discriminator(image_size=32, conv_dim=8, c_dim=3, repeat_num=3, projection=True)
    x = torch.randn(2, 3, 32, 32)
    plain, cls = d(x)
    assert torch.equal(d(x, torch.zeros(2, 3))[0], plain)  # no labels: the unconditional part
    blond, brown = d(x, torch.tensor([[0.0, 1, 0]] * 2))[0], d(x, torch.tensor([[0.0, 0, 1]] * 2))[0]
    assert not torch.allclose(blond, brown) and torch.equal(d(x, torch.tensor([[0.0, 1, 0]] * 2))[1], cls)
    assert Discriminator(32, 8, 3, 3).sizes()["projection"] is False

    schema = hair_and_gender("black", "blond")
    labels = torch.tensor([[0.0, 1, 0], [1.0, 0, 1]])
    assert projection_labels(labels, schema, 0).tolist() == [[0, 1, -1], [1, 0, 1]]  # female is a direction too


@pytest.mark.parametrize("recipe", ["budget", "paper"])
def test_a_run_with_a_projection_discriminator_trains_exports_and_loads(recipe, tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--recipe", recipe, "--d-projection", "--g-cls-scale", "0.25"], run, 3)
    model = load_model(run / "model.safetensors")
    assert model.discriminator.projection and model.provenance["recipe"]["d_projection"] is True
    assert model.provenance["recipe"]["g_cls_scale"] == 0.25
    r = CliRunner().invoke(stylize_main, ["info", str(run / "model.safetensors")])
    assert r.exit_code == 0 and "projection" in r.output, r.output


def test_one_group_targets_change_exactly_one_group_to_another_value():
    from stylize.train.losses import one_group_targets

    schema = hair_and_gender("black", "blond", "gray")
    labels = torch.tensor([[1.0, 0, 0, 1]] * 600)  # black-haired men
    targets = one_group_targets(labels, schema, 0, torch.Generator().manual_seed(0))
    asked = [schema.decode(t.numpy()) for t in targets]
    assert all((a["hair"] != "black") != (a["gender"] != "male") for a in asked)  # one group, never both or none
    counts = {v: sum(a["hair"] == v for a in asked) for v in ("blond", "gray")}
    flips = sum(a["gender"] == "female" for a in asked)
    assert min(counts.values()) > 100 and 200 < flips < 400, (counts, flips)  # both other colours, half the time
    assert targets.sum(1).tolist() == [1.0 if a["gender"] == "female" else 2.0 for a in asked]  # valid one-hots


def test_a_run_with_the_affine_colour_head_smooth_fields_and_one_group_targets_trains_exports_and_loads(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--recipe", "hybrid", "--colour", "affine", "--targets", "one-group",
           "--smooth-fields"], run, 3)
    model = load_model(run / "model.safetensors")
    assert model.generator.colour == "affine" and model.provenance["recipe"]["colour"] == "affine"
    assert model.generator.smooth and model.provenance["recipe"]["smooth_fields"]
    assert model.provenance["recipe"]["targets"] == "one-group"
    r = CliRunner().invoke(stylize_main, ["info", str(run / "model.safetensors")])
    assert r.exit_code == 0 and "recoloured (affine), low-pass mask" in r.output, r.output
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--arch", "stargan",
                                  "--colour", "affine"])
    assert r.exit_code == 2 and "affine needs --arch masked" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--arch", "plain",
                                  "--smooth-fields"])
    assert r.exit_code == 2 and "has neither" in r.output, r.output
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--arch", "stargan",
                                  "--upsample", "bilinear"])
    assert r.exit_code == 2 and "bilinear needs --arch masked or plain" in r.output, r.output
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--d-projection",
                                  "--targets", "one-group"])
    assert r.exit_code == 2 and "does not go with --d-projection" in r.output, r.output
    from stylize.train.trainer import TrainConfig, Trainer
    with pytest.raises(ValueError, match="does not go with --d-projection"):  # the library refuses it too
        Trainer(None, tmp_path / "lib", TrainConfig(targets="one-group", d_projection=True))
    assert TrainConfig(colour="affine").conflict() is None and not (tmp_path / "lib").exists()
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--lambda-id", "-1"])
    assert r.exit_code == 2 and "--lambda-id" in r.output and "-1 must be 0 or more" in r.output, r.output
    assert TrainConfig(g_cls_scale=-0.5).conflict()[0] == "--g-cls-scale"
    assert not (tmp_path / "bad").exists()


def test_a_plain_run_with_bilinear_up_sampling_trains_exports_and_records_it(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--arch", "plain", "--upsample", "bilinear"], run, 2)
    model = load_model(run / "model.safetensors")
    assert model.generator.upsample == "bilinear" and not model.generator.mask
    assert model.provenance["recipe"]["upsample"] == "bilinear"


def test_a_guided_run_trains_its_guide_once_keeps_it_in_the_cache_and_records_it(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    args = ["celeba", "--data", data, "--recipe", "hybrid", "--lambda-guide", "2", "--guide-steps", "30"]
    train(args, run, 4)
    guides = list((run / "cache").glob("guide-*.pt"))
    assert len(guides) == 1 and guides[0].name.endswith("-w24x48x96x192-s16.pt"), guides  # not the judge's
    assert not list((run / "cache").glob("judge-*"))  # the judge stays eval's own
    stamp = guides[0].stat().st_mtime_ns
    with open(run / "losses.csv") as f:
        read = [float(r["G_guide"]) for r in csv.DictReader(f) if r["G_guide"]]
    assert read and all(v > 0 for v in read)  # logged on G's steps
    train([*args, "--guide-groups", "hair"], run, 6)  # resumed: the guide is read back, not trained again
    assert guides[0].stat().st_mtime_ns == stamp
    recipe = load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe["lambda_guide"] == 2 and recipe["guide_groups"] == "hair"
    (tmp_path / "gray").mkdir()
    (tmp_path / "gray" / "cache").symlink_to(run / "cache")  # another run on the same crops
    train([*args, "--guide-gray"], tmp_path / "gray", 2)
    gray = [p.name for p in (run / "cache").glob("guide-*-gray-*.pt")]
    assert len(gray) == 1 and len(list((run / "cache").glob("guide-*.pt"))) == 2, gray  # its own guide, kept apart
    assert load_model(tmp_path / "gray" / "model.safetensors").provenance["recipe"]["guide_gray"] is True
    (tmp_path / "robust").mkdir()
    (tmp_path / "robust" / "cache").symlink_to(run / "cache")
    train([*args, "--guide-robust", "8"], tmp_path / "robust", 2)
    assert len(list((run / "cache").glob("guide-*-r8.pt"))) == 1 and len(list((run / "cache").glob("guide-*"))) == 3
    assert load_model(tmp_path / "robust" / "model.safetensors").provenance["recipe"]["guide_robust"] == 8
    r = CliRunner().invoke(main, [*map(str, args), "--guide-groups", "hair,beard", "--run", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "no group beard" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "bad").exists()
    for bad in (["--guide-size", "0"], ["--guide-robust", "200"]):
        r = CliRunner().invoke(main, [*map(str, args), *bad, "--run", str(tmp_path / "bad")])
        assert r.exit_code == 2 and bad[0] in r.output and not (tmp_path / "bad").exists(), r.output


def test_a_robust_guide_holds_its_reading_against_a_faint_adversarial_pattern():
    from stylize.train.datasets.base import Crops, to_tensor
    from stylize.train.evaluate import train_classifier
    from stylize.train.losses import classification_loss

    schema = hair_and_gender("black", "blond")
    rng, n = np.random.default_rng(0), 256
    labels = np.zeros((n, 3), np.float32)
    labels[::2, 0], labels[1::2, 1] = 1, 1
    images = rng.integers(60, 196, (n, 32, 32, 3)).astype(np.int16)  # loud noise; the class: the top band's level
    images[1::2, :8] += 30
    images[::2, :8] -= 30
    images = images.clip(0, 255).astype(np.uint8)
    x, y = to_tensor(images), torch.from_numpy(labels)
    read = {}
    for robust in (0, 12):
        clf = train_classifier(Crops(images, labels, np.zeros(n, np.int64), {}), schema, 150, 0, False,
                               dims=(3, 8, 16, 32, 64), robust=robust)
        probe = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(classification_loss(clf(probe), y, schema, 0), probe)
        with torch.no_grad():  # each pixel moved 12 grey levels the way that most fools this classifier
            read[robust] = [float((clf(im)[:, :2].argmax(1) == y[:, :2].argmax(1)).float().mean())
                            for im in (x, (x + 24 / 255 * grad.sign()).clamp(-1, 1))]
    assert read[0][0] == read[12][0] == 1.0  # both read the clean images right
    assert read[12][1] == 1.0 and read[0][1] < 0.9, read  # only the robust one still does under the pattern


def test_a_judge_that_sees_inside_cannot_read_what_only_the_reflection_shows():
    # the class is in the top band alone, and the top band lies outside every source image (the aligner's reflection)
    from stylize.train.datasets.base import Crops, to_tensor
    from stylize.train.evaluate import shown, train_classifier

    schema = hair_and_gender("black", "blond")
    rng, n = np.random.default_rng(0), 256
    labels = np.zeros((n, 3), np.float32)
    labels[::2, 0], labels[1::2, 1] = 1, 1

    def faces() -> np.ndarray:
        images = rng.integers(60, 196, (n, 32, 32, 3)).astype(np.int16)
        images[1::2, :8] += 50
        images[::2, :8] -= 50
        return images.clip(0, 255).astype(np.uint8)

    inside = np.full((n, 32, 32), 255, np.uint8)
    inside[:, :8] = 0
    crops, x = Crops(faces(), labels, np.zeros(n, np.int64), {}, inside), to_tensor(faces())  # read: other faces
    read = {}
    for sees_inside in (False, True):
        clf = train_classifier(crops, schema, 150, 0, False, dims=(3, 8, 16, 32, 64), sees_inside=sees_inside)
        with torch.no_grad():
            seen = shown(x, inside[:, None]) if sees_inside else x
            read[sees_inside] = float((clf(seen)[:, :2].argmax(1) == torch.from_numpy(labels[:, :2]).argmax(1))
                                      .float().mean())
    assert read[False] == 1.0 and 0.35 < read[True] < 0.65, read
    assert torch.equal(shown(x, inside[:, None])[:, :, :8], torch.zeros(n, 3, 8, 32))
    assert torch.equal(shown(x, inside[:, None])[:, :, 8:], x[:, :, 8:])
    with pytest.raises(ValueError, match="no record"):
        shown(x, None)


def test_the_guide_is_frozen_and_its_reading_reaches_g():
    from stylize.train.evaluate import LUMA, DomainClassifier
    from stylize.train.guide import GUIDE_DIMS, guide_loss

    schema = hair_and_gender("black", "blond")
    torch.manual_seed(0)
    guide = DomainClassifier(schema.cls_dim, dims=GUIDE_DIMS, sees=16).eval().requires_grad_(False)
    stats = guide.features[1].running_mean.clone()
    fake = torch.randn(4, 3, 32, 32, requires_grad=True)
    blond, black = torch.tensor([[0.0, 1, 1]] * 4), torch.tensor([[1.0, 0, 1]] * 4)
    loss = guide_loss(guide, fake, blond, schema, 0, torch.Generator().manual_seed(0))
    loss.backward()
    assert fake.grad.abs().sum() > 0 and all(p.grad is None for p in guide.parameters())
    assert torch.equal(guide.features[1].running_mean, stats)  # its batch statistics are not moved by G's faces
    other = guide_loss(guide, fake, black, schema, 0, torch.Generator().manual_seed(0))
    assert not torch.isclose(loss, other)  # the asked labels decide the loss
    hair = guide_loss(guide, fake, blond, schema, 0, torch.Generator().manual_seed(0), ["hair"])
    gender = guide_loss(guide, fake, blond, schema, 0, torch.Generator().manual_seed(0), ["gender"])
    assert torch.isclose(hair + gender, loss)  # --guide-groups: the asked groups' terms only

    face = torch.rand(1, 3, 64, 64) * 2 - 1
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    speckled = face + 0.5 * (((rows + cols) % 2) * 2 - 1)  # a pixel-fine pattern over the whole face
    assert torch.allclose(guide(speckled), guide(face), atol=1e-3)  # a 16 px view does not see it
    full = DomainClassifier(schema.cls_dim, dims=GUIDE_DIMS).eval()
    assert not torch.allclose(full(speckled), full(face), atol=1e-3)  # a full-size one does

    chroma = torch.tensor([LUMA[0, 1, 0, 0], -LUMA[0, 0, 0, 0], 0]).view(1, 3, 1, 1)  # no change of luminance
    red_eyes = face.clone()
    red_eyes[..., 24:32, 16:48] += 0.8 * chroma
    gray = DomainClassifier(schema.cls_dim, gray=True, dims=GUIDE_DIMS, sees=16).eval()
    assert torch.allclose(gray(red_eyes), gray(face), atol=1e-6)  # --guide-gray: a colour patch alone is not seen
    assert (guide(red_eyes) - guide(face)).abs().max() > 1e-4  # the colour guide sees it


def test_a_mask_teacher_bounds_g_and_one_that_cannot_speak_for_the_run_is_a_usage_error(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    args = ["celeba", "--data", data, "--recipe", "hybrid"]
    train(args, tmp_path / "teacher", 2)
    teacher = tmp_path / "teacher" / "model.safetensors"
    run = tmp_path / "run"
    train([*args, "--mask-teacher", teacher, "--lambda-teacher", "5", "--lambda-teacher-change", "3",
           "--teacher-groups", "hair"], run, 4)
    with open(run / "losses.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["G_excess"]]
    assert rows and all(float(r["G_excess"]) >= 0 and float(r["G_quiet"]) >= 0 for r in rows)  # logged on G's steps
    recipe = load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe["mask_teacher"] == str(teacher) and recipe["lambda_teacher"] == 5
    assert recipe["lambda_teacher_change"] == 3 and recipe["teacher_groups"] == "hair"
    train([*args, "--arch", "plain"], tmp_path / "plain", 1)
    for extra, says in [(["--mask-teacher", tmp_path / "plain" / "model.safetensors"], "no attention mask"),
                        (["--mask-teacher", tmp_path / "missing.safetensors"], "missing.safetensors"),
                        (["--mask-teacher", teacher, "--arch", "stargan"], "has none"),
                        (["--lambda-teacher-change", "3"], "name --mask-teacher"),
                        (["--teacher-groups", "hair"], "name --mask-teacher"),
                        (["--mask-teacher", teacher, "--teacher-groups", "hair,beard"], "no group beard")]:
        r = CliRunner().invoke(main, [*map(str, args + extra), "--run", str(tmp_path / "bad"), *TINY])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_a_run_started_from_a_model_file_carries_its_networks_and_steps_and_one_that_does_not_fit_is_a_usage_error(
        tmp_path):
    from safetensors.torch import load_file

    from stylize.models.modelfile import save_model

    data = standins.make_celeba(tmp_path / "data")
    args = ["celeba", "--data", data, "--recipe", "hybrid"]
    train(args, tmp_path / "parent", 3)
    parent = tmp_path / "parent" / "model.safetensors"
    run = tmp_path / "run"
    r = train([*args, "--init-from", parent], run, 3)  # nothing trained: the networks as the file had them
    assert "starting at step 3" in r.output
    mine, theirs = load_file(run / "model.safetensors"), load_file(parent)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(ck["G"][k], ck["G_ema"][k]) for k in ck["G"])
    (tmp_path / "parent").rename(tmp_path / "moved")  # resumed from its own checkpoint, the file's record kept
    train([*args, "--init-from", parent], run, 5)
    parent = tmp_path / "moved" / "model.safetensors"
    prov, before = load_model(run / "model.safetensors").provenance, load_model(parent).provenance
    assert prov["steps"] == 5 and prov["recipe"]["init_from"] == str(tmp_path / "parent" / "model.safetensors")
    assert prov["started_from"] == {"file": "model.safetensors", "steps": 3, "train_seconds": before["train_seconds"],
                                    "train_cpu_seconds": before["train_cpu_seconds"], "device": "cpu",
                                    "torch": torch.__version__, "date": before["date"], "recipe": before["recipe"]}
    assert [int(line.split(",")[0]) for line in (run / "losses.csv").read_text().splitlines()[1:]] == [4, 5]
    train([*args, "--init-from", run / "model.safetensors", "--lambda-skin", "1"], tmp_path / "third", 6)
    link = load_model(tmp_path / "third" / "model.safetensors").provenance["started_from"]  # a chain keeps each link
    assert link["steps"] == 5 and link["started_from"] == prov["started_from"] and link["recipe"] == prov["recipe"]
    model = load_model(parent)
    save_model(tmp_path / "no-d.safetensors", model.generator, None, model.schema, model.image_size,
               model.alignment, model.provenance)
    for extra, says in [(["--g-conv-dim", "16"], "generator differs: conv_dim 8 (this run: 16)"),
                        (["--d-projection"], "discriminator differs: projection False (this run: True)"),
                        (["--image-size", "64"], "works at 32 px, this run at 64 px"),
                        (["--attrs", "Black_Hair,Blond_Hair,Male"], "other labels"),
                        (["--init-from", tmp_path / "missing.safetensors"], "missing.safetensors"),
                        (["--init-from", tmp_path / "no-d.safetensors"], "no discriminator")]:
        extra = extra if "--init-from" in extra else ["--init-from", parent, *extra]
        r = CliRunner().invoke(main, [*map(str, args), "--run", str(tmp_path / "bad"), *TINY, *map(str, extra)])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_the_teachers_mask_bounds_the_students_and_only_the_student_learns():
    from stylize.train.teacher import TEACHER_QUIET, teacher_bounds

    teacher = MaskedGenerator(conv_dim=8, c_dim=2, repeat_num=1).eval().requires_grad_(False)
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    _, own = teacher(x, c, return_mask=True)
    none = torch.zeros_like(x)
    assert teacher_bounds(own, none, teacher, x, c) == (0, 0)  # a mask within the teacher's, no change: free
    student = torch.ones_like(own, requires_grad=True)
    change = torch.full_like(x, 0.5, requires_grad=True)
    excess, quiet = teacher_bounds(student, change, teacher, x, c)
    assert torch.isclose(excess, (1 - own).mean())
    assert torch.isclose(quiet, (0.5 * (1 - own / TEACHER_QUIET).clamp_min(0)).mean())
    (excess + quiet).backward()
    assert student.grad.abs().sum() > 0 and all(p.grad is None for p in teacher.parameters())
    # the charge falls on the change where the teacher is quiet (mask ~0), none where it acts (mask ~1)
    for bias, charged in ((-10.0, 0.5), (10.0, 0.0)):
        with torch.no_grad():
            teacher.attention[0] = torch.nn.Conv2d(teacher.attention[0].in_channels, 1, 1)
            torch.nn.init.zeros_(teacher.attention[0].weight)
            teacher.attention[0].bias.fill_(bias)
        change.grad = None
        quiet = teacher_bounds(own, change, teacher, x, c)[1]
        quiet.backward()
        assert abs(quiet.item() - charged) < 1e-3 and (change.grad.abs().sum() > 0) == (charged > 0)
    # rows: the second edit is not bounded, and the mean stays over both
    rows = torch.tensor([1.0, 0.0])
    assert torch.isclose(teacher_bounds(own, change, teacher, x, c, rows)[1], quiet / 2)


def test_teacher_groups_bound_the_edits_that_change_those_groups_alone():
    from stylize.train.teacher import edits_within

    schema = DomainSchema.single("celeba", schema_from_attrs(["Black_Hair", "Blond_Hair", "Male", "Young"]))
    assert schema.named(" hair, gender ") == ("hair", "gender") and schema.named("") == ()
    own = torch.tensor([[1.0, 0, 1, 1]] * 4)
    asked = torch.tensor([[0.0, 1, 1, 1],  # hair alone: bounded
                          [1.0, 0, 1, 1],  # nothing: bounded
                          [0.0, 1, 0, 1],  # hair and gender: the student's own
                          [1.0, 0, 1, 0]])  # age: the student's own
    assert edits_within(own, asked, schema, ("hair",)).tolist() == [1, 1, 0, 0]
    assert edits_within(own, asked, schema, ("hair", "gender")).tolist() == [1, 1, 1, 0]
    assert edits_within(own, asked, schema, ()).tolist() == [1, 1, 1, 1]


def test_the_colour_guide_reads_the_hair_bands_colours_alone_as_opencv_sees_them_and_its_gradient_reaches_g():
    import cv2

    from stylize.models.alignment import Alignment
    from stylize.train.colour_guide import (
        BINS,
        colour_guide_losses,
        fit_colour_guide,
        hair_band,
        rgb_to_lab,
        soft_histograms,
    )
    from stylize.train.datasets.base import Crops, to_tensor

    rgb = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255)[0].permute(1, 2, 0).numpy() * 256
    off = np.abs(ours - cv2.cvtColor(rgb[0], cv2.COLOR_RGB2LAB))  # OpenCV's 8-bit Lab (the judge's), tabulated
    assert off.max() < 2.5 and off.mean() < 0.6  # within 2 of 256 levels; a bin is 32 wide
    flat = torch.ones(32 * 32)
    grey = torch.zeros(1, 3, 32, 32)  # Lab (53.39·2.55, 128, 128)/256: each channel shared by two neighbouring bins
    hist = soft_histograms(grey, flat)[0] ** 2
    assert torch.isclose(hist.sum(), torch.tensor(1.0), atol=1e-5) and int((hist > 1e-4).sum()) == 8
    assert torch.isclose(hist.max(), torch.tensor((1 - abs(53.39 * 2.55 / 256 - 4.5 / BINS) * BINS) / 4), atol=1e-4)

    schema = hair_and_gender("black", "blond")
    alignment, size, rng = Alignment(), 32, np.random.default_rng(1)
    images = rng.integers(90, 170, (40, size, size, 3), dtype=np.uint8)  # grey noise: faces and backgrounds
    labels = np.zeros((40, 3), np.float32)
    labels[::2, 0], labels[1::2, 1], labels[:, 2] = 1, 1, rng.integers(0, 2, 40)
    images[::2, :8] = rng.integers(0, 40, (20, 8, size, 3))  # black hair across the crop's top
    images[1::2, :8] = rng.integers(0, 40, (20, 8, size, 3)) + np.array([200, 170, 90], np.uint8)  # blond
    guide = fit_colour_guide(Crops(images, labels, np.zeros(40, np.int64), {}), schema, alignment, torch.device("cpu"))
    x = to_tensor(images)
    assert (guide(x).argmax(1).numpy() == labels[:, 1]).all()
    weights = hair_band(alignment, size).view(size, size)
    band, full = weights > 0, weights == 1
    shuffled, order = x.clone(), torch.randperm(int(full.sum()), generator=torch.Generator().manual_seed(0))
    shuffled[:, :, full] = x[:, :, full][:, :, order]  # the same colours elsewhere in the band: a new pattern
    shuffled[:, :, ~band] = -x[:, :, ~band]  # and anything outside it
    assert torch.allclose(guide(shuffled), guide(x), atol=1e-4)  # colour alone is read, and only in the band

    fake = x[:4].clone().requires_grad_(True)  # black, blond, black, blond
    blond, black = torch.tensor([[0.0, 1, 1]] * 4), torch.tensor([[1.0, 0, 1]] * 4)
    loss, distance = colour_guide_losses(guide, fake, blond, schema)
    (loss + distance).backward()
    assert loss > 0 and fake.grad[:, :, band].abs().sum() > 0 and fake.grad[:, :, ~band].abs().sum() == 0
    assert all(p.grad is None for p in guide.parameters())
    with torch.no_grad():
        near = [colour_guide_losses(guide, x[i:i + 1], t[:1], schema)[1] for i in (0, 1) for t in (black, blond)]
    assert near[0] < near[1] and near[3] < near[2]  # each face is nearer its own colour's real faces
    assert colour_guide_losses(guide, fake, torch.tensor([[0.0, 0, 1]] * 4), schema) == (0, 0)  # no hair asked
    assert guide.linear.in_features == BINS ** 3


def test_a_run_with_the_colour_distance_logs_and_records_it_and_a_dataset_without_hair_is_a_usage_error(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--recipe", "hybrid", "--lambda-colour-match", "4"], run, 4)
    with open(run / "losses.csv") as f:
        read = [(float(r["G_colour"]), float(r["G_match"])) for r in csv.DictReader(f) if r["G_colour"]]
    assert read and all(c >= 0 and 0 <= m <= 2 for c, m in read)  # logged on G's steps; Hellinger² ≤ 2
    recipe = load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe["lambda_colour_match"] == 4 and recipe["lambda_colour_guide"] == 0
    rafd = standins.make_rafd(tmp_path / "rafd")
    r = CliRunner().invoke(main, ["rafd", "--data", str(rafd), "--lambda-colour-guide", "1", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "no one-hot hair group" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_the_change_tv_charges_patterns_g_adds_not_the_inputs_edges_nor_a_smooth_recolour(tmp_path):
    from stylize.train.losses import change_tv

    x = torch.zeros(1, 3, 32, 32)
    x[:, :, :, 16:] = 1.0  # a hard edge in the input
    ramp = torch.linspace(0, 0.5, 32).view(1, 1, 1, 32)  # a smooth recolour across the face
    stripes = 0.5 * (torch.arange(32) % 2).float().view(1, 1, 1, 32)  # the same range as fine stripes
    assert change_tv(x, x) == 0 and change_tv(x + 0.3, x) < 1e-6
    assert change_tv(x + stripes, x) > 20 * change_tv(x + ramp, x) > 0

    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--lambda-change-tv", "2"], run, 4)
    with open(run / "losses.csv") as f:
        read = [float(r["G_change_tv"]) for r in csv.DictReader(f) if r["G_change_tv"]]
    assert read and all(v > 0 for v in read)
    assert load_model(run / "model.safetensors").provenance["recipe"]["lambda_change_tv"] == 2


def test_a_colour_blurred_run_trains_on_what_stylize_pastes(tmp_path):
    from stylize.pipeline.translate import LUMA_CHROMA, blur_colour
    from stylize.train.trainer import Trainer

    # the blur passes gradients to G's change, to its colour only where it acts
    change = torch.zeros(1, 3, 16, 16)
    change[:, :, 4:12, 4:12] = torch.tensor([0.2, -0.1, 0.3]).view(1, 3, 1, 1)
    change.requires_grad_(True)
    out = blur_colour(change, 1.5, 2 / 255)
    luma = torch.from_numpy(LUMA_CHROMA[0]).view(1, 3, 1, 1)
    assert torch.allclose((out * luma).sum(1), (change * luma).sum(1))
    out[:, :, 8, 8].sum().backward()
    assert change.grad[:, :, 6:11, 6:11].abs().sum() > 0 and not change.grad[:, :, :4].any()

    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--colour-blur", "10"], run, 3)
    model = load_model(run / "model.safetensors")
    assert model.provenance["recipe"]["colour_blur"] == 10
    # the trainer's G output is G's own with its change's colour blurred as `stylize --colour-blur 10` blurs it
    trainer = Trainer.__new__(Trainer)
    trainer.cfg = type("Cfg", (), {"colour_blur": 10.0})()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    g = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    expected = x + blur_colour(g - x, 1.6, 2 / 255)
    assert torch.allclose(trainer.colour_blurred(x, g), expected)
    trainer.cfg.colour_blur = 0.0
    assert trainer.colour_blurred(x, g) is g


def on_rgb(charge):
    """A Lab charge of colour_guide called on images in [-1, 1], as the trainer calls it after ``lab_of``."""
    from stylize.train.colour_guide import lab_of

    return lambda fake, real, *rest: charge(lab_of(fake), lab_of(real), *rest)


def charged_run(tmp_path: Path, flags: list[str], column: str) -> dict:
    """Trains the stand-in CelebA set a few steps with ``flags``; the charge's ``column`` must be logged and never
    negative. The run's recipe, as its model file records it."""
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, *flags], run, 4)
    with open(run / "losses.csv") as f:
        read = [float(r[column]) for r in csv.DictReader(f) if r[column]]
    assert read and all(v >= 0 for v in read)
    return load_model(run / "model.safetensors").provenance["recipe"]


def test_the_green_charge_costs_pixels_turned_greener_only(tmp_path):
    """A brown turned olive costs; the same brown turned redder or lighter costs nothing, and so does green
    backdrop G leaves as it was; a run logs the charge and records its weight."""

    from stylize.train import colour_guide

    greener = on_rgb(colour_guide.greener)

    brown = torch.tensor([0.2, -0.2, -0.5]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    olive = brown + torch.tensor([0.0, 0.35, 0.0]).view(1, 3, 1, 1)
    grass = torch.tensor([-0.4, 0.3, -0.6]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert greener(olive, brown) > 0.02  # about 9 a* levels of 256
    assert greener(brown + torch.tensor([0.3, 0.0, 0.0]).view(1, 3, 1, 1), brown) == 0
    assert greener((brown + 0.4).clamp(-1, 1), brown) == 0
    assert greener(grass, grass) == 0 and greener(grass, brown) > greener(olive, brown)
    half = brown.clone()
    half[..., :4] = olive[..., :4]  # half the face turned olive: half the charge
    assert abs(greener(half, brown) - greener(olive, brown) / 2) < 1e-6

    assert charged_run(tmp_path, ["--lambda-green", "5"], "G_green")["lambda_green"] == 5


def test_the_vivid_charge_costs_colour_past_the_floor_and_the_input(tmp_path):
    """Black hair painted red costs; the same hair turned blond (duller than the floor) costs nothing, and so does
    a red the input had and G kept; half the red, half the charge; a run logs the charge and records its weight and
    floor, and a floor outside [0, 1) is a one-line usage error."""

    from stylize.train import colour_guide

    more_vivid = on_rgb(colour_guide.more_vivid)

    black = torch.full((1, 3, 8, 8), -0.8)
    red = torch.tensor([0.6, -0.7, -0.6]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    blond = torch.tensor([0.57, 0.37, 0.02]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    chroma = [float(colour_guide.chroma(colour_guide.lab_of(x)).mean()) for x in (red, blond)]
    assert chroma[0] > 0.2 and 0.05 < chroma[1] < 0.14
    assert more_vivid(red, black, 0.14) > 0.05
    assert more_vivid(blond, black, 0.14) == 0
    assert more_vivid(red, red, 0.14) == 0 and more_vivid(black, red, 0.14) == 0
    assert more_vivid(red, black, 0.0) > more_vivid(red, black, 0.14)
    half = black.clone()
    half[..., :4] = red[..., :4]
    assert abs(more_vivid(half, black, 0.14) - more_vivid(red, black, 0.14) / 2) < 1e-6

    recipe = charged_run(tmp_path, ["--lambda-vivid", "5", "--vivid-floor", "0.1"], "G_vivid")
    assert recipe["lambda_vivid"] == 5 and recipe["vivid_floor"] == 0.1
    r = CliRunner().invoke(main, ["celeba", "--data", str(tmp_path / "data"), "--lambda-vivid", "1", "--vivid-floor",
                                  "-0.1", "--run", str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "--vivid-floor: -0.1 must lie in [0, 1)" in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_the_skin_charge_costs_moves_of_the_skin_past_its_margin(tmp_path):
    """A face darkened over its skin costs, in proportion to how much of the skin; the same change outside the skin
    ellipse, or one under the margin, costs nothing; a run logs the charge and records its weight and margin, and a
    set whose crops are not faces is refused by name."""

    from stylize.models.alignment import Alignment
    from stylize.pipeline.regions import skin
    from stylize.train import colour_guide

    lab_moved = on_rgb(colour_guide.lab_moved)

    weights = torch.from_numpy(skin(Alignment(), 32))
    assert weights[16, 16] == 1 and weights[0, 0] == 0 and weights[31, 16] > 0  # the jaw, which inner_face leaves
    face = torch.full((1, 3, 32, 32), 0.3)
    dark = face - 0.5
    assert lab_moved(dark, face, weights, 0.04) > 0.1
    assert lab_moved(face + 0.01, face, weights, 0.04) == 0  # about 1 L* level: under the margin
    outside = face.clone()
    outside[..., weights == 0] = -0.2
    assert lab_moved(outside, face, weights, 0.0) == 0
    half = face.clone()
    half[..., :16] = dark[..., :16]  # the left half: its share of the skin's weight, of the charge
    share = weights[:, :16].sum() / weights.sum()
    assert 0.4 < share < 0.6
    assert abs(lab_moved(half, face, weights, 0.04) - lab_moved(dark, face, weights, 0.04) * share) < 1e-5

    recipe = charged_run(tmp_path, ["--lambda-skin", "5", "--skin-margin", "0.02"], "G_skin")
    assert recipe["lambda_skin"] == 5 and recipe["skin_margin"] == 0.02
    data = tmp_path / "data"
    anime = standins.make_anime(tmp_path / "anime")
    r = CliRunner().invoke(main, ["anime-sketch", "--data", str(anime), "--lambda-skin", "1", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "--lambda-skin" in r.output and "not aligned to a face" in r.output, r.output
    assert not (tmp_path / "bad").exists()
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--lambda-skin", "1", "--skin-margin", "1", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "--skin-margin: 1 must lie in [0, 1)" in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_the_backdrop_charge_costs_changes_beside_the_head_only(tmp_path):
    """The skin's charge over the backdrop: a blob beside the head costs, the hair and face recoloured cost nothing;
    a run logs it and records its weight, and a set whose crops are not faces is refused by name."""
    from stylize.models.alignment import Alignment
    from stylize.pipeline.regions import head
    from stylize.train import colour_guide

    lab_moved = on_rgb(colour_guide.lab_moved)

    backdrop = torch.from_numpy(1.0 - head(Alignment(), 32))
    assert backdrop[0, 0] > 0.99 and backdrop[16, 16] < 1e-6
    face = torch.full((1, 3, 32, 32), 0.3)
    inside = face.clone()
    inside[..., backdrop < 1e-6] = -0.5
    assert lab_moved(inside, face, backdrop, 0.0) < 1e-6
    blob = face.clone()
    blob[..., :8, :8] = -0.9  # a dark blob in the top left corner
    assert lab_moved(blob, face, backdrop, 0.0) > 0.05

    assert charged_run(tmp_path, ["--lambda-backdrop", "5"], "G_backdrop")["lambda_backdrop"] == 5
    anime = standins.make_anime(tmp_path / "anime")
    r = CliRunner().invoke(main, ["anime-sketch", "--data", str(anime), "--lambda-backdrop", "1", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "--lambda-backdrop" in r.output and "not aligned to a face" in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_the_identity_term_is_logged_and_recorded(tmp_path):
    """--lambda-id: G's distance from the face when asked for its own labels, logged each G step, its weight kept in
    the model file; a G fresh from its start changes the face a little, so the term is above zero."""

    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--lambda-id", "3"], run, 4)
    with open(run / "losses.csv") as f:
        read = [float(r["G_id"]) for r in csv.DictReader(f) if r["G_id"]]
    assert read and all(0 < v < 2 for v in read)
    assert load_model(run / "model.safetensors").provenance["recipe"]["lambda_id"] == 3


def test_training_help_files_every_trainer_option_under_a_heading():
    from dataclasses import fields

    from stylize.cli.train import SECTIONS
    from stylize.train.trainer import TrainConfig

    filed = [name for names in SECTIONS.values() for name in names]
    assert sorted(filed) == sorted(f.name for f in fields(TrainConfig))  # each field under exactly one heading
    r = CliRunner().invoke(main, ["celeba", "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    titles = [line.rstrip(":") for line in r.output.splitlines() if line and not line[0].isspace() and line[-1] == ":"]
    assert titles == ["Options", *SECTIONS]
    experimental = r.output.split(list(SECTIONS)[-1])[1]
    assert "--mask-teacher" in experimental and "--lambda-rec" not in experimental
    listed = re.findall(r"^  (--[a-z-]+)", experimental, re.M)  # the options themselves, not the help naming them
    assert "--lambda-skin" not in listed and "--lambda-green" not in listed  # the bundled celeba's terms
    assert "--lambda-vivid" in listed and "--lambda-backdrop" in listed
    assert "--run, --run-dir" in r.output.split("Model:")[0]


def test_hidden_backdrop_shows_d_a_real_neighbours_sides_and_none_of_gs(tmp_path):
    """regions.head covers the template's face and hair and leaves the crop's sides; with --hide-backdrop what D
    sees there is the donor's, and no gradient reaches G's pixels there; a run records it, and a dataset that is
    not aligned to a face is a usage error."""
    from types import SimpleNamespace

    from stylize.models.alignment import Alignment
    from stylize.pipeline.regions import head, inner_face
    from stylize.train.datasets.celeba import CELEBA_TEMPLATE
    from stylize.train.trainer import Trainer

    face = Alignment("face", CELEBA_TEMPLATE)
    h = head(face, 64)
    assert h[inner_face(face, 64) > 0.5].min() > 0.99  # the whole face is the face's own
    assert h[:, 24:40].min() > 0.99 and h[16:48, :3].max() < 0.03 and h[16:48, -3:].max() < 0.03
    hx = torch.from_numpy(h)[None, None]
    fake = torch.rand(2, 3, 64, 64, requires_grad=True)
    real = torch.rand(2, 3, 64, 64)
    cover = Trainer.cover(SimpleNamespace(head=hx, cfg=SimpleNamespace(hide_padding=False)), real, None)
    seen = cover(fake)
    donor = real.roll(1, 0)  # each face's neighbour in the batch
    assert torch.allclose(seen[..., 32:40, :2], donor[..., 32:40, :2], atol=0.03)
    seen.sum().backward()
    assert fake.grad[..., 16:48, :3].abs().max() < 0.03 and fake.grad[..., 30, 32].min() > 0.99
    assert Trainer.cover(SimpleNamespace(head=None, cfg=SimpleNamespace(hide_padding=False)), real, None)(fake) is fake
    for mask in (head, inner_face):  # no face to place them by
        with pytest.raises(ValueError, match="not aligned to a face template"):
            mask(Alignment("none"), 64)

    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--hide-backdrop"], run, 4)
    assert load_model(run / "model.safetensors").provenance["recipe"]["hide_backdrop"] is True
    anime = standins.make_anime(tmp_path / "anime")
    r = CliRunner().invoke(main, ["anime-sketch", "--data", str(anime), "--hide-backdrop", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "not aligned to a face" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_the_crop_cache_records_what_lies_inside_each_source_image_and_batches_flip_it_with_the_face(tmp_path):
    """``inside_mask``: 255 where the crop samples the image, 0 where the aligner reflected it; the cache keeps it
    (one without it is made again, crops and all, the same), and each batch flips it with its face."""
    from stylize.pipeline.align import inside_mask
    from stylize.train.datasets.base import Crops, prepare_crops

    down = np.array([[1, 0, 0], [0, 1, 20]], np.float32)  # crop (x, y) ← image (x, y - 20)
    m = inside_mask((100, 80), down, 64)
    assert m[:19].max() == 0 and m[21:].min() == 255

    data = standins.make_celeba(tmp_path / "data")
    for f in (data / "img_align_celeba").glob("*.jpg"):  # cut above the brows, as CelebA's loose crops are
        cv2.imwrite(str(f), cv2.imread(str(f))[50:])
    spec = build_dataset("celeba", root=data)
    crops = prepare_crops(spec.train, spec.alignment, 32, tmp_path / "cache")
    assert crops.inside.shape == crops.images.shape[:3] and crops.inside.dtype == np.uint8
    assert crops.inside[:, :6].max() == 0 and crops.inside[:, 12:].min() == 255  # the crown is reflected
    (side,) = (tmp_path / "cache").glob("crops-*-inside.npy")
    side.unlink()
    again = prepare_crops(spec.train, spec.alignment, 32, tmp_path / "cache")
    assert side.exists() and np.array_equal(again.inside, crops.inside)
    assert np.array_equal(again.images, crops.images)

    n = 8  # faces bright where they are inside, dark where not, each with its own inside half
    inside = np.zeros((n, 8, 8), np.uint8)
    for i in range(n):
        inside[i, :, : 2 + i % 4] = 255
    images = np.repeat(inside[..., None], 3, -1)
    stream = batches(Crops(images, np.zeros((n, 1), np.float32), np.zeros(n, np.int64), {}, inside), 4,
                     torch.Generator().manual_seed(0))
    flipped = False
    for _ in range(10):
        x, _, _, seen = next(stream)
        assert seen.shape == (4, 1, 8, 8) and torch.equal(seen[:, 0] > 0.5, x[:, 0] > 0)
        flipped |= bool((seen[:, 0, :, -1] > 0.5).any())  # a right edge inside: a flipped face
    assert flipped
    x, *_, none = next(batches(Crops(images, np.zeros((n, 1), np.float32), np.zeros(n, np.int64), {}), 4,
                               torch.Generator()))
    assert none is None


def test_hidden_padding_shows_d_grey_outside_each_source_image_on_real_and_edited_faces_alike(tmp_path):
    """With --hide-padding every pass of D (real, G's faces for D's step and for G's) sees 0 where the crop lies
    outside its image and the face elsewhere; without it, the face everywhere; the run records it."""
    from stylize.train.trainer import TrainConfig, Trainer

    data = standins.make_celeba(tmp_path / "data")
    spec = build_dataset("celeba", root=data)
    cfg = dict(image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=3, batch_size=4, n_critic=1,
               device="cpu")
    inside = torch.ones(4, 1, 32, 32)
    inside[:, :, :6] = 0  # the top rows lie outside, as a crown does
    for hide in (True, False):
        t = Trainer(spec, tmp_path / f"run-{hide}", TrainConfig(hide_padding=hide, **cfg), tmp_path / "cache")
        shown = []
        t.D.register_forward_pre_hook(lambda m, args, shown=shown: shown.append(args[0].detach()))
        x, y, s, _ = next(batches(t.train_crops, 4, t.rng))
        t.train_step(x, y, s, inside)
        assert len(shown) == 3  # real, fake for D's step, fake for G's
        for seen in shown:
            assert bool((seen[:, :, :6] == 0).all()) is hide and (seen[:, :, 6:] != 0).float().mean() > 0.99, hide
        assert torch.equal(shown[0], x.float()) is not hide
        t.close()
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--hide-padding"], run, 2)
    assert load_model(run / "model.safetensors").provenance["recipe"]["hide_padding"] is True


def test_the_real_face_teacher_adds_the_asked_labels_mean_less_the_own_labels_mean_of_the_nearest_faces():
    """Eight "men" and eight "women" of two layouts (a light or a dark left half), the women with a bright square;
    a man asked female gets that square (his layout's women less his layout's men, other faces only, mirrors
    included), a man asked for another hair colour is not taught."""
    from stylize.train.datasets.base import Crops, to_tensor
    from stylize.train.prototypes import Prototypes, prototype_loss

    schema = DomainSchema.single("celeba", schema_from_attrs(["Black_Hair", "Blond_Hair", "Male"]))
    images, labels, rng = [], [], np.random.default_rng(0)
    for i in range(16):
        img = np.full((16, 16, 3), 100, np.uint8)
        img[10:, 8:] = rng.integers(80, 120, (6, 8, 1))  # each face its own (no twins, which are left out)
        img[:, :8] = 40 if i % 2 else 200  # two layouts, told apart by the left half
        male = i < 8
        if not male:
            img[4:6, 11:13] = 250
        images.append(img)
        labels.append([1.0, 0.0, float(male)])
    crops = Crops(np.stack(images), np.array(labels, np.float32), np.zeros(16, np.int64), {})
    teacher = Prototypes(crops, schema, ("gender",), k=3, alpha=1.0)
    x = to_tensor(crops.images[[0, 0]])  # a light-left man
    own = torch.tensor([[1.0, 0, 1], [1.0, 0, 1]])
    asked = torch.tensor([[1.0, 0, 0], [0.0, 1, 1]])  # female; blond (not taught)
    target, rows = teacher.targets(x, own, asked, 0)
    assert rows.tolist() == [1.0, 0.0]
    change = (target - x) * 127.5
    assert change[0, :, 4:6, 11:13].min() > 140  # the square the women have
    assert change[0, :, :, :8].abs().max() < 1  # the same layout's halves, nothing taught there
    assert torch.equal(target[1], x[1])
    assert float(prototype_loss(target, target, rows)) == 0
    assert float(prototype_loss(x, target, rows)) == pytest.approx(float((x[0] - target[0]).abs().mean()) / 2)
    flipped, _ = teacher.targets(x.flip(-1), own, asked, 0)
    assert ((flipped - x.flip(-1)) * 127.5)[0, :, 4:6, 3:5].min() > 140  # its mirror found the mirrored women



def test_the_real_face_teacher_for_a_redraw_is_the_mean_of_the_nearest_in_colour_of_the_asked_domain():
    """Four red-haired and four green-haired "anime" pictures of one luminance, and a red-haired "selfie" asked
    for anime: matched by colour, its target is the mean of the red-haired ones over the whole picture (their
    bright lower half too); matched by luminance alone, red and green hair are one and the same."""
    from stylize.models.schema import Group
    from stylize.train.datasets.base import Crops, to_tensor
    from stylize.train.prototypes import Prototypes

    schema = DomainSchema.single("toy", [Group("domain", ("anime", "selfie"), "onehot", ("anime", "selfie"))])
    rng = np.random.default_rng(0)

    def picture(hair: tuple[int, int, int], lower: int) -> np.ndarray:
        img = np.full((16, 16, 3), lower, np.uint8)
        img[:8] = hair
        return np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)  # no twins

    red, green = (210, 40, 40), (40, 130, 40)  # luminance 91 and 93
    images = [picture(red, 180) for _ in range(4)] + [picture(green, 180) for _ in range(4)]
    labels = [[1.0, 0.0]] * 8
    images.append(picture(red, 100))  # the selfie
    labels.append([0.0, 1.0])
    crops = Crops(np.stack(images), np.array(labels, np.float32), np.zeros(9, np.int64), {})
    x = to_tensor(crops.images[[8]])
    own, asked = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    for match, hair_red in (("colour", True), ("luminance", False)):
        teacher = Prototypes(crops, schema, ("domain",), k=4, target="mean", match=match)
        target, rows = teacher.targets(x, own, asked, 0)
        assert rows.tolist() == [1.0]
        top, lower = (target[0] + 1) * 127.5, ((target[0] + 1) * 127.5)[:, 8:]
        assert (top[0, :8].mean() > 180) == hair_red and (top[1, :8].mean() < 60) == hair_red
        assert (lower.mean() - 180).abs() < 5  # the anime pictures' lower half, not the selfie's 100
    with pytest.raises(ValueError):
        Prototypes(crops, schema, ("domain",), target="median")
def test_a_run_with_the_real_face_teacher_logs_it_and_records_its_settings(tmp_path):
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--lambda-proto", "10", "--proto-k", "1", "--proto-alpha", "2"], run, 4)
    with open(run / "losses.csv") as f:
        read = [float(r["G_proto"]) for r in csv.DictReader(f) if r["G_proto"]]
    assert read and all(0 <= v < 2 for v in read)
    recipe = load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe["lambda_proto"] == 10 and recipe["proto_k"] == 1 and recipe["proto_alpha"] == 2
    redraw = tmp_path / "redraw"  # a folder-per-domain set, every edit a redraw toward its neighbours' mean
    train(["folder", "--data", standins.make_folder(tmp_path / "folder"), "--lambda-proto", "10", "--proto-k", "2",
           "--proto-target", "mean", "--proto-match", "colour"], redraw, 2)
    with open(redraw / "losses.csv") as f:
        read = [float(r["G_proto"]) for r in csv.DictReader(f) if r["G_proto"]]
    assert read and all(0 < v < 2 for v in read)
    recipe = load_model(redraw / "model.safetensors").provenance["recipe"]
    assert recipe["proto_target"] == "mean" and recipe["proto_match"] == "colour"
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--run", str(tmp_path / "bad"), "--lambda-proto", "1",
                                  "--proto-groups", "beard"])
    assert r.exit_code == 2 and "--proto-groups" in r.output and "no group beard" in r.output, r.output


def test_negatives_paint_saturated_patches_over_part_of_each_real_face_and_d_is_shown_them_as_fakes(tmp_path,
                                                                                                   monkeypatch):
    """--negatives patches: each painted face differs from its real one in a part of it (not none, not all), the
    painted pixels are more saturated than they were, the rest are untouched; the painting is drawn from the
    trainer's generator (same seed, same patches); the first share of the fakes is replaced, the rest kept; a run
    shows D the negatives on every critic step and records the setting; a bad kind or share is a usage error."""
    from stylize.train import negatives, trainer

    x = torch.zeros(8, 3, 32, 32).uniform_(-0.3, 0.3)  # greyish faces: a painted patch is more colourful
    painted = negatives.paint_patches(x, torch.Generator().manual_seed(1))
    assert torch.equal(painted, negatives.paint_patches(x, torch.Generator().manual_seed(1)))
    assert painted.min() >= -1 and painted.max() <= 1
    changed = (painted - x).abs().amax(1) > 1e-4
    share = changed.float().mean((1, 2))
    assert (share > 0.005).all() and (share < 0.8).all(), share
    saturation = lambda t: t.amax(1) - t.amin(1)  # noqa: E731
    assert (saturation(painted)[changed] - saturation(x)[changed]).mean() > 0.2
    assert torch.equal(painted[~changed[:, None].expand_as(x)], x[~changed[:, None].expand_as(x)])

    fake = torch.full((8, 3, 32, 32), 0.5)
    first = negatives.make_negatives("patches", x, fake, 0.25, torch.Generator().manual_seed(1))
    assert len(first) == 2 and len(negatives.make_negatives("patches", x, fake, 0.01, torch.Generator())) == 0
    mixed, rows = negatives.with_negatives(fake, first)
    assert rows.tolist() == [True, True] + [False] * 6
    assert torch.equal(mixed[2:], fake[2:]) and torch.equal(mixed[:2], first)

    shown = []
    real = trainer.with_negatives
    monkeypatch.setattr(trainer, "with_negatives", lambda *a: shown.append(len(a[1])) or real(*a))
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--negatives", "patches", "--negatives-share", "0.5"], run, 4)
    assert shown == [2] * 4  # every critic step of the 4 iterations, half of each batch of 4
    recipe = load_model(run / "model.safetensors").provenance["recipe"]
    assert recipe["negatives"] == "patches" and recipe["negatives_share"] == 0.5
    # a projection D judges a painted face against its own labels (the real face's), not the asked ones
    train(["celeba", "--data", data, "--negatives", "patches", "--d-projection"], tmp_path / "projected", 2)
    assert shown == [2] * 4 + [1] * 2
    for option, value in (("--negatives", "stripes"), ("--negatives-share", "1"), ("--negatives-for", "g"),
                          ("--negatives-for", "classifier")):  # the last without --negatives
        r = CliRunner().invoke(main, ["celeba", "--data", str(data), option, value, "--run", str(tmp_path / "bad"),
                                      *TINY])
        assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_a_hair_blind_classifier_reads_hair_without_the_inner_face_and_the_other_groups_as_shown(tmp_path):
    """--hair-cls-hides-face: the hair group's loss comes from a pass of D with the inner face grey, so no gradient
    of it reaches the inner face's pixels while the hair's do; the other groups' loss comes from D's reading of the
    image as shown. A run records it; crops not aligned to a face, or labels without hair, are usage errors."""
    from types import SimpleNamespace

    from stylize.models.alignment import Alignment
    from stylize.pipeline.regions import inner_face
    from stylize.train.datasets.celeba import CELEBA_TEMPLATE
    from stylize.train.trainer import Cover, Trainer

    schema = hair_and_gender("black", "blond")
    face = inner_face(Alignment("face", CELEBA_TEMPLATE), 32)
    d = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, schema.cls_dim))
    trainer = SimpleNamespace(spec=SimpleNamespace(schema=schema), hidden_face=torch.from_numpy(face)[None, None],
                              d_train=lambda x, src: (None, d(x)), seen=lambda x: x,
                              blind_groups=("hair",), sighted_groups=("gender",))
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    logits = torch.randn(4, schema.cls_dim, requires_grad=True)  # D's reading of x as shown, apart from x here
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1]])
    Trainer.classification(trainer, logits, x, Cover(), None, labels, 0).backward()
    hair, gender = schema.slice("hair"), schema.slice("gender")
    inside, outside = torch.from_numpy(face > 0.999), torch.from_numpy(face < 0.001)
    seen_grad = x.grad[:, :, outside].abs()
    assert inside.any() and x.grad[:, :, inside].abs().max() < 1e-2 * seen_grad.mean() and seen_grad.min() > 0
    assert logits.grad[:, hair].abs().max() == 0 and logits.grad[:, gender].abs().min() > 0

    data = standins.make_celeba(tmp_path / "data")
    train(["celeba", "--data", data, "--hair-cls-hides-face"], tmp_path / "run", 2)
    assert load_model(tmp_path / "run" / "model.safetensors").provenance["recipe"]["hair_cls_hides_face"] is True
    for args, reason in ((["anime-sketch", "--data", standins.make_anime(tmp_path / "anime")], "not aligned to a face"),
                         (["celeba", "--data", data, "--attrs", "Male,Young"], "no hair group")):
        r = CliRunner().invoke(main, [*map(str, args), "--hair-cls-hides-face", "--run", str(tmp_path / "bad"), *TINY])
        assert r.exit_code == 2 and reason in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_negatives_for_the_classifier_show_it_painted_faces_with_their_own_labels_and_not_the_critic(tmp_path,
                                                                                                   monkeypatch):
    """--negatives-for classifier: every critic step D's classifier is charged on the first share of the real faces,
    painted, against those faces' own labels (the call after the real batch's, same labels), the critic's fakes are
    G's alone, and losses.csv logs the painted faces' loss; both: the critic is shown them as well."""
    from stylize.train import trainer

    calls, mixed = [], []
    real_cls, real_mix = trainer.classification_loss, trainer.with_negatives
    monkeypatch.setattr(trainer, "classification_loss",
                        lambda logits, labels, *a: calls.append(labels.clone()) or real_cls(logits, labels, *a))
    monkeypatch.setattr(trainer, "with_negatives", lambda *a: mixed.append(len(a[1])) or real_mix(*a))
    data = standins.make_celeba(tmp_path / "data")
    run = tmp_path / "run"
    train(["celeba", "--data", data, "--negatives", "patches", "--negatives-share", "0.5", "--negatives-for",
           "classifier"], run, 4)
    assert mixed == []
    painted = [i for i, c in enumerate(calls) if len(c) == 2]
    assert len(painted) == 4  # one per critic step of the 4 iterations
    assert all(len(calls[i - 1]) == 4 and torch.equal(calls[i], calls[i - 1][:2]) for i in painted)
    with open(run / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(float(r["D_cls_painted"]) >= 0 for r in rows)
    assert load_model(run / "model.safetensors").provenance["recipe"]["negatives_for"] == "classifier"
    calls.clear()
    train(["celeba", "--data", data, "--negatives", "patches", "--negatives-for", "both"], tmp_path / "both", 2)
    assert mixed == [1, 1] and sum(len(c) == 1 for c in calls) == 2


def test_g_colour_negatives_are_the_edit_s_colour_on_the_real_face_s_light_and_keep_no_hair_label(tmp_path,
                                                                                                  monkeypatch):
    """--negatives g-colour: each negative has the real face's luma and the fake's chroma (where nothing clips);
    D's classifier is charged on them for every group but hair; a set of hair colours alone has nothing for them
    to keep (a usage error)."""
    from stylize.train import negatives, trainer

    g = torch.Generator().manual_seed(0)
    real, fake = (torch.rand(6, 3, 16, 16, generator=g) - 0.5) / 2, (torch.rand(6, 3, 16, 16, generator=g) - 0.5) / 2
    out = negatives.make_negatives("g-colour", real, fake, 0.5, g)
    luma = lambda t: (t * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # noqa: E731
    assert len(out) == 3 and out.abs().max() < 1  # nothing clipped for these
    assert torch.allclose(luma(out), luma(real[:3]), atol=1e-6)
    assert torch.allclose(out - luma(out), fake[:3] - luma(fake[:3]), atol=1e-6)
    assert not torch.allclose(out, fake[:3]) and not torch.allclose(out, real[:3])

    only = []
    real_cls = trainer.classification_loss
    monkeypatch.setattr(trainer, "classification_loss",
                        lambda *a: only.append(a[4] if len(a) > 4 else ()) or real_cls(*a))
    data = standins.make_celeba(tmp_path / "data")
    train(["celeba", "--data", data, "--negatives", "g-colour", "--negatives-for", "classifier"], tmp_path / "run", 2)
    assert only.count(("gender", "age")) == 2, only  # once per critic step; the real faces' calls keep every group
    r = CliRunner().invoke(main, ["celeba", "--data", str(data), "--attrs", "Black_Hair,Blond_Hair,Brown_Hair",
                                  "--negatives", "g-colour", "--negatives-for", "classifier", "--run",
                                  str(tmp_path / "bad"), *TINY])
    assert r.exit_code == 2 and "--negatives" in r.output and "hair" in r.output, r.output
    assert not (tmp_path / "bad").exists()
