"""Networks, model files and original-checkpoint import."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from stylize.cli.main import main
from stylize.models import (
    Alignment,
    DomainSchema,
    Generator,
    Group,
    LabelSet,
    ModelFileError,
    SchemaError,
    load_model,
    read_metadata,
)

# --- the reference: the original implementation's layers, written out as in yunjey/stargan's model.py ----------


class RefResidualBlock(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim_out, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True, track_running_stats=True))

    def forward(self, x):
        return x + self.main(x)


class RefGenerator(nn.Module):
    def __init__(self, conv_dim=64, c_dim=5, repeat_num=6):
        super().__init__()
        layers = [nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
                  nn.InstanceNorm2d(conv_dim, affine=True, track_running_stats=True), nn.ReLU(inplace=True)]
        curr = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(curr, curr * 2, kernel_size=4, stride=2, padding=1, bias=False),
                       nn.InstanceNorm2d(curr * 2, affine=True, track_running_stats=True), nn.ReLU(inplace=True)]
            curr *= 2
        layers += [RefResidualBlock(curr, curr) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(curr, curr // 2, kernel_size=4, stride=2, padding=1, bias=False),
                       nn.InstanceNorm2d(curr // 2, affine=True, track_running_stats=True), nn.ReLU(inplace=True)]
            curr //= 2
        layers += [nn.Conv2d(curr, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        c = c.view(c.size(0), c.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class RefDiscriminator(nn.Module):
    def __init__(self, image_size=128, conv_dim=64, c_dim=5, repeat_num=6):
        super().__init__()
        layers = [nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        curr = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(curr, curr * 2, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            curr *= 2
        k = int(image_size / np.power(2, repeat_num))
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(curr, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(curr, c_dim, kernel_size=k, bias=False)

    def forward(self, x):
        h = self.main(x)
        return self.conv1(h), self.conv2(h).view(self.conv2(h).size(0), -1)


def randomise(module: nn.Module, seed: int) -> nn.Module:
    """Random weights everywhere, including norm affine parameters and running stats (which must be ignored)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                noise = torch.randn(t.shape, generator=g)
                t.copy_(1.0 + 0.1 * noise.abs() if "running_var" in name else 0.5 * noise)
    return module


@pytest.fixture(scope="module")
def original_ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("orig")
    g = randomise(RefGenerator(conv_dim=16, c_dim=5, repeat_num=3), 1)
    dd = randomise(RefDiscriminator(image_size=64, conv_dim=16, c_dim=5, repeat_num=4), 2)
    torch.save(g.state_dict(), d / "200000-G.ckpt")
    torch.save(dd.state_dict(), d / "200000-D.ckpt")
    return d, g, dd


ATTRS = "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"


def test_imported_checkpoint_reproduces_original_outputs(original_ckpts, tmp_path):
    d, ref_g, ref_d = original_ckpts
    out = tmp_path / "celeba.safetensors"
    r = CliRunner().invoke(main, ["import-stargan", str(d / "200000-G.ckpt"), "--discriminator",
                                  str(d / "200000-D.ckpt"), "--attrs", ATTRS, "-o", str(out)])
    assert r.exit_code == 0, r.output
    model = load_model(out)
    assert model.image_size == 64
    assert (model.generator.conv_dim, model.generator.repeat_num, model.generator.c_dim) == (16, 3, 5)
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    c = torch.tensor([[0, 1, 0, 1, 1], [1, 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.float32)
    ref_g.train()  # the original test code never calls eval(): instance statistics, not running stats
    with torch.no_grad():
        expected = ref_g(x, c)
        got = model.generator(x, c)  # model is in eval() mode and must still match
        exp_src, exp_cls = ref_d(x)
        got_src, got_cls = model.discriminator(x)
    assert (expected - got).abs().max().item() < 1e-5
    assert (exp_src - got_src).abs().max().item() < 1e-5
    assert (exp_cls - got_cls).abs().max().item() < 1e-5
    assert [g.name for g in model.schema.groups] == ["hair", "gender", "age"]
    assert model.schema.group("hair").values == ("black", "blond", "brown")


def test_generator_state_dict_keys_match_original():
    ours = Generator(conv_dim=8, c_dim=5, repeat_num=2).state_dict()
    ref = RefGenerator(conv_dim=8, c_dim=5, repeat_num=2).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)


def test_import_rejects_wrong_attr_count(original_ckpts, tmp_path):
    d, _, _ = original_ckpts
    r = CliRunner().invoke(main, ["import-stargan", str(d / "200000-G.ckpt"), "--attrs", "Black_Hair,Male",
                                  "--image-size", "64", "-o", str(tmp_path / "x.safetensors")])
    assert r.exit_code == 1
    assert "takes 5 labels" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.safetensors").exists()


def test_target_vector_keeps_the_persons_own_values(original_ckpts, tmp_path):
    schema = DomainSchema.single("celeba", [
        Group("hair", ("black", "blond", "brown"), "onehot"), Group("gender", ("female", "male"), "binary"),
        Group("age", ("old", "young"), "binary")])
    # D says: brown hair, male, old
    source = np.array([-3.0, -2.0, 4.0, 2.5, -1.0], dtype=np.float32)
    c = schema.target_vector({"hair": "blond"}, source)
    assert c.tolist() == [0, 1, 0, 1, 0]
    c = schema.target_vector({"age": "young"}, source)
    assert c.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(SchemaError, match="unknown hair 'green'"):
        schema.target_vector({"hair": "green"}, source)
    with pytest.raises(SchemaError, match="no 'smile'"):
        schema.target_vector({"smile": "yes"}, source)
    with pytest.raises(SchemaError, match="cannot keep"):
        schema.target_vector({"hair": "blond"}, None)


def test_joint_schema_mask_vector():
    schema = DomainSchema((LabelSet("celeba", (Group("hair", ("black", "blond"), "onehot"),)),
                           LabelSet("rafd", (Group("expression", ("happy", "sad"), "onehot"),))))
    assert schema.c_dim == 2 + 2 + 2 and schema.cls_dim == 4
    assert schema.target_vector({"expression": "sad"}).tolist() == [0, 0, 0, 1, 0, 1]
    assert schema.target_vector({"hair": "blond"}).tolist() == [0, 1, 0, 0, 1, 0]
    with pytest.raises(SchemaError, match="different label sets"):
        schema.target_vector({"hair": "blond", "expression": "sad"})


def test_model_file_roundtrip_and_metadata(model_file):
    meta = read_metadata(model_file)
    assert meta["format"] == "stylize-model" and meta["image_size"] == 32
    assert meta["alignment"]["kind"] == "face" and len(meta["alignment"]["template"]) == 5
    assert model_file.stat().st_mode & 0o044  # readable by others like any file, not mkstemp's owner-only
    model = load_model(model_file)
    assert isinstance(model.alignment, Alignment)
    x = torch.zeros(2, 3, 32, 32)
    assert model.estimate_source(x).shape == (3,)
    assert model.generator(x, torch.zeros(2, 3)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "pickle", "text", "bad_schema", "no_meta"])
def test_bad_model_files_give_one_clear_error(kind, model_file, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / f"{kind}.safetensors"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = model_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "pickle":
        torch.save({"main.0.weight": torch.zeros(1)}, path)
    elif kind == "text":
        path.write_text("hello, I am not a model\n")
    elif kind == "bad_schema":
        meta = read_metadata(model_file)
        meta["schema"] = [{"name": "x", "groups": [{"name": "hair", "kind": "weird", "values": ["a"]}]}]
        tensors = {f"G.{k}": v for k, v in load_model(model_file).generator.state_dict().items()}
        save_file(tensors, str(path), metadata={"stylize": json.dumps(meta)})
    elif kind == "no_meta":
        save_file({"G.main.0.weight": torch.zeros(1)}, str(path))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert "\n" not in str(e.value)
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code == 1
    assert r.output.startswith("Error:") and r.output.count("\n") == 1 and "Traceback" not in r.output


def test_models_and_info_commands(model_file):
    r = CliRunner().invoke(main, ["models", str(model_file)])
    assert r.exit_code == 0, r.output
    assert "--hair black|blond" in r.output and "--gender female|male" in r.output
    r = CliRunner().invoke(main, ["info", str(model_file)])
    assert r.exit_code == 0 and "conv_dim 8" in r.output and "from:" not in r.output


def test_info_shows_each_file_a_model_went_on_from(model_file, tmp_path):
    import shutil

    from stylize.models.modelfile import update_provenance

    path = tmp_path / "m.safetensors"
    shutil.copy(model_file, path)
    first = {"file": "gpu.safetensors", "steps": 20, "train_seconds": 620, "train_cpu_seconds": 969, "device": "cuda"}
    update_provenance(path, started_from={"file": "skin.safetensors", "steps": 28, "train_seconds": 2964,
                                          "train_cpu_seconds": 2726, "device": "cpu", "started_from": first})
    r = CliRunner().invoke(main, ["info", str(path)])
    lines = [line for line in r.output.splitlines() if line.startswith("from:")]
    assert r.exit_code == 0 and lines == [
        "from:       skin.safetensors at step 28, itself trained 2964 s (2726 CPU s) on cpu",
        "from:       gpu.safetensors at step 20, itself trained 620 s (969 CPU s) on cuda"], r.output


def test_help_explains_itself():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "stylize video" in r.output
    from stylize.cli.train import main as train_main

    r = CliRunner().invoke(train_main, ["--help"])
    assert r.exit_code == 0 and "resumable" in r.output


@pytest.mark.parametrize("args, shows", [
    (["--help"], "stylize video"),
    (["video", "--help"], "--hair black|blond"),  # the bundled models' groups, read from their headers
    (["models"], "celeba: 64 px, face-aligned, colour blur 5%"),  # with what stylize pastes it by default
])
def test_help_listings_and_the_error_types_need_no_torch(args, shows):
    """`stylize --help` came after a 2 s torch import; the model package now imports its names on first use, and the
    bundled models' groups are read from their files' headers (models/catalogue.py)."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from stylize.cli.main import main; "
            "from stylize.models import ModelFileError, SchemaError; "
            f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code == 0 and {shows!r} in r.output, r.output; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_model_names_resolve_on_first_use():
    import stylize.models

    assert stylize.models.load_model.__module__ == "stylize.models.modelfile"  # the names still resolve
    with pytest.raises(AttributeError):
        stylize.models.no_such_name  # noqa: B018


def test_every_source_package_is_installed():
    """Each folder with an ``__init__.py`` must ship as ``stylize.<folder>`` (a forgotten one only fails installed)."""
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for top in ("models", "pipeline", "cli", "train"):
        for init in sorted((root / top).rglob("__init__.py")):
            dotted = ".".join(init.parent.relative_to(root).parts)
            importlib.import_module(f"stylize.{dotted}")
