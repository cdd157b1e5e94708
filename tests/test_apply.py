"""The budget generator, full-resolution application of an edit, and picking a bundled model by its groups."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from stylize.cli.main import main as stylize_main
from stylize.models import Alignment, DomainSchema, Group, ModelFileError, bundled_for, load_model, save_model
from stylize.models.alignment import CELEBA_TEMPLATE
from stylize.models.masked import BilinearUpConv2d, MaskedGenerator, UpConv2d
from stylize.pipeline.align import face_transform, warp_to_crop
from stylize.pipeline.composite import paste_face
from stylize.pipeline.frames import Face

from .conftest import astronaut

POINTS = np.array([[420, 500], [600, 500], [510, 610], [440, 700], [590, 700]], np.float32)  # a ~450 px face


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian: how much fine detail an image region holds."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def large_face_frame() -> np.ndarray:
    frame = np.zeros((1080, 1080, 3), np.uint8)
    frame[:] = cv2.resize(astronaut(), (1080, 1080), interpolation=cv2.INTER_CUBIC)
    return frame


def test_mask_zero_gives_the_input_and_mask_one_the_colour_image():
    g = MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    color, mask = g.parts(x, c)
    assert mask.shape == (2, 1, 32, 32) and 0 <= mask.min() and mask.max() <= 1
    assert torch.equal(g.blend(x, color, torch.zeros_like(mask)), x)
    assert torch.equal(g.blend(x, color, torch.ones_like(mask)), color)
    out, m = g(x, c, return_mask=True)
    assert torch.allclose(out, mask * color + (1 - mask) * x) and torch.equal(m, mask)


def textbook_bilinear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 (half-pixel centres), then a 3x3 convolution over the up-sampled image with its edges replicated."""
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), weight)


@pytest.mark.parametrize("side", [1, 5, 8])
@pytest.mark.parametrize("layer_type, textbook", [
    (UpConv2d, lambda x, w: F.conv2d(F.interpolate(x, scale_factor=2), w, padding=1)),
    (BilinearUpConv2d, textbook_bilinear)])
def test_the_decoder_up_samples_and_convolves_as_the_textbook_layers_do(side, layer_type, textbook):
    """UpConv2d (four 2x2 phase convolutions) against nearest x2 then a 3x3 convolution, BilinearUpConv2d (one 3x3
    convolution to four phases) against bilinear x2 then a 3x3 convolution: same outputs and weight gradients, edges
    included (odd and one-pixel sides)."""
    torch.manual_seed(0)
    layer = layer_type(6, 4)
    x = torch.randn(2, 6, side, side + 1, dtype=torch.float64, requires_grad=True)
    layer.double()
    out = layer(x)
    ref = textbook(x, layer.weight)
    assert out.shape == ref.shape == (2, 4, 2 * side, 2 * side + 2)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, layer.weight), g)
    refs = torch.autograd.grad(ref, (x, layer.weight), g)
    for a, b in zip(grads, refs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_the_fused_heads_give_what_the_two_heads_give_apart():
    torch.manual_seed(0)
    g = MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1).double()
    x, c = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1, torch.eye(3, dtype=torch.float64)[[0, 2]]
    assert g.fusable_heads()
    color, mask = g.parts(x, c)
    h = g.main(torch.cat([x, c.view(2, 3, 1, 1).expand(-1, -1, 16, 16)], 1))  # the features the heads read
    torch.testing.assert_close(color, g.color(h), rtol=0, atol=1e-12)
    torch.testing.assert_close(mask, g.attention(h), rtol=0, atol=1e-12)


def test_affine_colour_head_recolours_the_input_and_starts_as_the_identity():
    g = MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1, colour="affine")
    x = torch.rand(2, 3, 32, 32) * 1.6 - 0.8
    c = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert torch.equal(g.parts(x, c)[0], x)  # a new model changes nothing under its mask
    with torch.no_grad():  # red gains 0.2 everywhere, green is scaled by 1.5: the input's texture, recoloured
        g.affine.bias[3] = 0.2
        g.affine.bias[5] = 0.5
    color = g.parts(x, c)[0]
    # atol: near 0 (red near -0.2) rounding of the matrix product exceeds allclose's default 1e-8 (once in CI)
    assert torch.allclose(color[:, 0], x[:, 0] + 0.2, atol=1e-6)
    assert torch.allclose(color[:, 1], (1.5 * x[:, 1]).clamp(-1, 1), atol=1e-6)
    assert torch.equal(color[:, 2], x[:, 2])
    with pytest.raises(ValueError, match="colour"):
        MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1, colour="paint")


def test_global_colour_head_moves_every_pixel_of_one_colour_to_the_same_colour():
    """One matrix per face: two pixels of the same input colour get the same colour wherever they are, and each
    face of a batch gets its own matrix."""
    torch.manual_seed(0)
    g = MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1, colour="global")
    x = torch.rand(2, 3, 32, 32) * 1.6 - 0.8
    x[:, :, 3, 5] = x[:, :, 28, 20] = torch.tensor([0.3, -0.2, 0.1])  # one colour at two far-apart places
    x[1] = x[1].flip(-1)  # the second face differs, so its matrix does
    x[1, :, 3, 5] = x[1, :, 28, 20] = torch.tensor([0.3, -0.2, 0.1])
    c = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert torch.equal(g.parts(x, c)[0], x)  # starts as the identity
    torch.nn.init.normal_(g.affine.weight, std=0.3)
    color = g.parts(x, c)[0]
    assert not torch.allclose(color, x, atol=1e-3)
    assert torch.allclose(color[:, :, 3, 5], color[:, :, 28, 20], atol=1e-6)
    assert not torch.allclose(color[0, :, 3, 5], color[1, :, 3, 5], atol=1e-4)


def fine_pattern(t: torch.Tensor) -> float:
    """Mean distance of a field from its own 3x3 box blur: how much it alternates from pixel to pixel."""
    blur = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(t, (1, 1, 1, 1), mode="replicate"), 3, 1)
    return (t - blur).abs().mean().item()


def test_smooth_fields_keep_stripes_out_of_the_mask_and_the_colour_grid_whatever_the_weights():
    """Weights that make the raw mask and colour grid alternate cell by cell (a plaid): with the low-pass filters
    inside G neither field can carry it, while a uniform field passes unchanged."""
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 1.6 - 0.8
    c = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    fields = {}
    for smooth in (False, True):
        torch.manual_seed(0)
        g = MaskedGenerator(conv_dim=8, c_dim=3, repeat_num=1, colour="affine", smooth=smooth)
        with torch.no_grad():
            for p in g.parameters():
                p.mul_(8)  # loud weights: a mask that swings from pixel to pixel
            torch.nn.init.normal_(g.affine.weight, std=0.05)  # a colour grid that varies from cell to cell
        mask = g.parts(x, c)[1]
        grey = torch.zeros_like(x)  # recoloured, a flat grey shows the colour field itself
        bottleneck = torch.randn(2, g.affine.in_channels, 8, 8, generator=torch.Generator().manual_seed(1))
        field = g.recolour(grey, bottleneck) - grey
        fields[smooth] = (fine_pattern(mask), fine_pattern(torch.nn.functional.avg_pool2d(field, 4)))  # per cell
    assert fields[True][0] < 0.25 * fields[False][0], fields
    assert fields[True][1] < 0.5 * fields[False][1], fields
    from stylize.models.masked import binomial_blur
    grid = torch.zeros(1, 2, 8, 8)
    grid[..., ::2] = 1.0  # the grid's own alternation, column by column
    assert binomial_blur(grid, 3)[..., 1:-1].sub(0.5).abs().max() < 1e-6  # gone: every inner cell is the mean
    assert torch.equal(binomial_blur(torch.full((1, 1, 6, 6), 0.3), 5), torch.full((1, 1, 6, 6), 0.3))


@pytest.mark.parametrize("mask, colour, smooth, upsample", [
    (True, "rgb", False, "nearest"), (False, "rgb", False, "nearest"), (True, "affine", False, "nearest"),
    (True, "affine", True, "nearest"), (True, "global", True, "nearest"), (False, "rgb", False, "bilinear")])
def test_budget_generator_round_trips_through_a_model_file(mask, colour, smooth, upsample, tmp_path):
    schema = DomainSchema.single("celeba", [Group("hair", ("black", "blond"), "onehot", ("Black_Hair", "Blond_Hair"))])
    g = MaskedGenerator(conv_dim=8, c_dim=schema.c_dim, repeat_num=1, mask=mask, colour=colour, smooth=smooth,
                        upsample=upsample).eval()
    if colour != "rgb":
        torch.nn.init.normal_(g.affine.weight, std=0.1)  # not the identity, so the comparison below means something
    path = save_model(tmp_path / "m.safetensors", g, None, schema, 32, Alignment("face", CELEBA_TEMPLATE), {},
                      dtype=torch.float32)
    model = load_model(path)
    assert type(model.generator) is MaskedGenerator and model.generator.mask is mask
    assert model.generator.colour == colour and model.generator.smooth is smooth
    assert model.generator.upsample == upsample
    x, c = torch.rand(1, 3, 32, 32) * 2 - 1, torch.tensor([[0.0, 1.0]])
    assert torch.equal(model.generator(x, c), g(x, c))
    said = CliRunner().invoke(stylize_main, ["info", str(path)]).output
    assert ("one affine map per face" in said) is (colour == "global"), said
    assert ("colour grid" in said) is (smooth and colour == "affine"), said
    assert ("bilinear up-sampling" in said) is (upsample == "bilinear"), said


def test_change_is_applied_at_the_face_resolution():
    """A 450 px face edited through a 64 px crop: pixels the model left alone stay the source's exactly, and
    the edited region keeps its detail, where pasting the model-size output would blur it."""
    frame = large_face_frame()
    m = face_transform(POINTS, Alignment("face", CELEBA_TEMPLATE), 64)
    crop = warp_to_crop(frame, m, 64)
    change = np.zeros((64, 64, 3), np.float32)
    change[8:40, 12:52] = (40, 30, -20)  # a warm tint over the upper half (the hair)
    results = {}
    for keep in (True, False):
        out = frame.copy()
        paste_face(out, Face(POINTS, (0, 0, 0, 0), transform=m, crop=crop, change=change, keep_detail=keep))
        results[keep] = out
    out = results[True]
    back = cv2.warpAffine(np.ones((64, 64), np.float32), cv2.invertAffineTransform(m), (1080, 1080))
    tinted = cv2.warpAffine((np.abs(change).sum(-1) > 0).astype(np.float32), cv2.invertAffineTransform(m),
                            (1080, 1080)) > 0.999
    assert np.array_equal(out[back == 0], frame[back == 0])  # outside the crop: untouched
    untouched = (back > 0) & ~cv2.dilate(tinted.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert np.array_equal(out[untouched], frame[untouched])  # inside the crop, where the change is 0
    assert out[tinted].astype(int).mean(0)[0] - frame[tinted].astype(int).mean(0)[0] > 25  # the tint is there
    ys, xs = np.nonzero(tinted)
    box = (slice(ys.min(), ys.max()), slice(xs.min(), xs.max()))
    assert sharpness(out[box]) > 0.9 * sharpness(frame[box])
    assert sharpness(results[False][box]) < 0.5 * sharpness(frame[box])


def test_large_faces_are_sampled_without_aliasing():
    """Downscaling a 450 px face to a 64 px crop averages the pixels under each crop pixel instead of picking a
    few: the crop matches a properly area-resized one closely."""
    frame = large_face_frame()
    m = face_transform(POINTS, Alignment("face", CELEBA_TEMPLATE), 64)
    crop = warp_to_crop(frame, m, 64).astype(np.float32)
    fine = m * 8
    fine[:, 2] += 3.5  # 8x8 blocks centred on the crop's pixels
    big = cv2.warpAffine(frame, fine, (512, 512), flags=cv2.INTER_LINEAR)
    reference = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    aliased = cv2.warpAffine(frame, m, (64, 64), flags=cv2.INTER_LINEAR).astype(np.float32)
    assert np.abs(crop - reference).mean() < 0.5 * np.abs(aliased - reference).mean()


def test_bundled_model_is_picked_by_the_targets_named():
    assert bundled_for({"domain": "anime"}) == "anime"
    assert bundled_for({"style": "sketch"}) == "anime-sketch"
    with pytest.raises(ModelFileError, match="no bundled model takes --mood happy; bundled: .*anime"):
        bundled_for({"mood": "happy"})
    with pytest.raises(ModelFileError, match="no bundled model takes --domain cartoon"):
        bundled_for({"domain": "cartoon"})


def translated_change(model_file, request: dict[str, str], region: str,
                      strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(change, template points in crop pixels) for one random-texture crop through the tiny model."""
    from stylize.pipeline.frames import Frame
    from stylize.pipeline.translate import Translator, translate_frames

    model = load_model(model_file)
    size = model.image_size
    crop = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    face = Face(np.zeros((5, 2), np.float32), (0, 0, size, size), track_id=-1, transform=np.eye(2, 3), crop=crop)
    frame = Frame(0, np.zeros((size, size, 3), np.uint8), [face])
    (out,) = translate_frames([frame], Translator(model, request, region=region, strength=strength))
    return out.faces[0].change, model.alignment.points(size)


def test_an_unknown_apply_mode_is_refused_not_pasted_as_output(model_file):
    from stylize.pipeline.translate import Translator

    with pytest.raises(ValueError, match="apply must be one of change, output"):
        Translator(load_model(model_file), {"hair": "blond"}, apply="guided")
    with pytest.raises(ValueError, match="apply must be one of change, output"):
        load_model(model_file).paste_mode("guided")  # as the eval asks for it
    assert load_model(model_file).paste_mode() == "change" and load_model(model_file).paste_mode("output") == "output"


def test_a_hair_edit_leaves_the_inner_face_alone_unless_asked(model_file):
    change, points = translated_change(model_file, {"hair": "blond"}, "auto")
    everywhere, _ = translated_change(model_file, {"hair": "blond"}, "everywhere")
    xy = points.round().astype(int)
    assert not change[xy[:2, 1], xy[:2, 0]].any()  # the eyes: untouched
    for x, y in xy:  # eyes, nose tip, mouth corners: at most 3% of what the model does there
        assert np.abs(everywhere[y, x]).max() > 1
        assert np.abs(change[y, x]).max() <= 0.03 * np.abs(everywhere[y, x]).max() + 1e-6
    assert np.abs(change[:4]).mean() > 5 and np.allclose(change[:4], everywhere[:4], atol=1)  # the hair changes
    gender, _ = translated_change(model_file, {"gender": "male"}, "auto")  # gender edits may change the face
    assert all(np.abs(gender[y, x]).max() > 1 for x, y in points.round().astype(int))


def test_strength_scales_the_change_inside_the_picture_and_is_refused_at_zero(model_file, tmp_path):
    from stylize.pipeline.translate import CHANGE_FLOOR, Translator, model_change

    crop = np.array([[[10, 128, 250]]], np.uint8)
    generated = np.array([[[30.0, 128.2, 200.0]]], np.float32)
    assert model_change(generated, crop).tolist() == [[[20.0, 0.0, -50.0]]]  # under a grey level, even at 4x: dropped
    assert model_change(generated, crop, strength=2).tolist() == [[[40.0, 0.0, -100.0]]]
    assert model_change(generated, crop, strength=4).tolist() == [[[80.0, 0.0, -200.0]]]
    assert model_change(np.full((1, 1, 3), 255.0), crop, strength=3).tolist() == [[[245.0, 127.0, 5.0]]]  # ≤ 255
    assert model_change(generated, crop, np.full((1, 1, 1), 0.5), 2).tolist() == [[[20.0, 0.0, -50.0]]]
    assert CHANGE_FLOOR == 1.0
    once, _ = translated_change(model_file, {"hair": "blond"}, "everywhere")
    twice, _ = translated_change(model_file, {"hair": "blond"}, "everywhere", strength=2)
    moved = np.abs(once) > 2
    assert moved.mean() > 0.2 and np.abs(twice[moved]).mean() > 1.5 * np.abs(once[moved]).mean()
    with pytest.raises(ValueError, match="strength must be above 0"):
        Translator(load_model(model_file), {"hair": "blond"}, strength=0)
    r = CliRunner().invoke(stylize_main, ["image", "x.png", "-m", str(model_file), "--hair", "blond", "--strength", "0",
                                          "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "--strength" in r.output and "Traceback" not in r.output, r.output


def test_colour_blur_smooths_the_colour_of_a_change_and_keeps_its_light_and_shade(model_file, tmp_path):
    from stylize.pipeline.translate import LUMA_CHROMA, Translator, model_change

    crop = np.full((32, 32, 3), 100, np.uint8)
    generated = crop.astype(np.float32)
    generated[8:24, 8:24] += (30.0, 20.0, -10.0)  # a recolour over a square: a "hair colour"
    generated[15, 15] = (100, 180, 60)  # a green fleck inside it
    plain = model_change(generated, crop)
    blurred = model_change(generated, crop, colour_blur=5)  # sigma 1.6 px of this 32 px crop
    luma = (plain @ LUMA_CHROMA.T)[..., 0]
    assert np.allclose((blurred @ LUMA_CHROMA.T)[..., 0], luma, atol=1e-3)  # light and shade, exactly
    assert not blurred[:8].any() and not blurred[:, 25:].any()  # no colour spread onto what the model left alone
    assert np.allclose(blurred[9, 9:13], plain[9, 9:13], atol=0.5)  # the square's own colour, kept to its edge
    chroma = lambda c: (c @ LUMA_CHROMA.T)[..., 1:]  # noqa: E731
    fleck = np.abs(chroma(plain)[15, 15] - chroma(plain)[10, 10]).max()
    assert np.abs(chroma(blurred)[15, 15] - chroma(blurred)[10, 10]).max() < 0.2 * fleck  # the fleck: mostly gone
    assert np.array_equal(model_change(generated, crop, colour_blur=0), plain)
    assert ((crop + blurred >= -1e-3) & (crop + blurred <= 255 + 1e-3)).all()
    with pytest.raises(ValueError, match="colour blur must be 0 to 25"):
        Translator(load_model(model_file), {"hair": "blond"}, colour_blur=30)
    r = CliRunner().invoke(stylize_main, ["image", "x.png", "-m", str(model_file), "--hair", "blond",
                                          "--colour-blur", "30", "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "--colour-blur" in r.output and "Traceback" not in r.output, r.output


def test_feather_sets_how_far_each_face_paste_fades_and_is_refused_out_of_range(model_file, tmp_path):
    """--feather: the translate stage gives each face the paste's fade it was asked for (stylize's own by default);
    at 0 the change reaches the crop's edge, which the default fades out; whole-image models are never faded."""
    from stylize.pipeline.frames import FEATHER, Frame
    from stylize.pipeline.translate import Translator, translate_frames

    model = load_model(model_file)
    size = model.image_size
    crop = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    for asked, expected in (({}, FEATHER), ({"feather": 0.0}, 0.0), ({"feather": 0.05}, 0.05)):
        face = Face(np.zeros((5, 2), np.float32), (0, 0, size, size), transform=np.eye(2, 3), crop=crop)
        (out,) = translate_frames([Frame(0, crop.copy(), [face])], Translator(model, {"hair": "blond"}, **asked))
        assert out.faces[0].feather == expected
    whole = tmp_path / "whole.safetensors"
    save_model(whole, model.generator, model.discriminator, model.schema, size, Alignment("none"), {})
    assert Translator(load_model(whole), {"hair": "blond"}, feather=0.2).feather == 0.0
    with pytest.raises(ValueError, match="feather must be 0 to 0.5"):
        Translator(model, {"hair": "blond"}, feather=0.6)
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    outs = {}
    for name, args in (("default", []), ("none", ["--feather", "0"])):
        r = CliRunner().invoke(stylize_main, ["image", str(photo), "-m", str(model_file), "--hair", "blond",
                                              "--region", "everywhere", *args, "-o", str(tmp_path / f"{name}.png")])
        assert r.exit_code == 0 and "face(s)" in r.output, r.output
        outs[name] = cv2.imread(str(tmp_path / f"{name}.png")).astype(int) - cv2.imread(str(photo)).astype(int)
    assert np.abs(outs["none"]).sum() > 1.2 * np.abs(outs["default"]).sum()  # the crop's edges: faded by default
    r = CliRunner().invoke(stylize_main, ["image", str(photo), "-m", str(model_file), "--hair", "blond",
                                          "--feather", "0.6", "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "--feather" in r.output and "Traceback" not in r.output, r.output


def test_precision_auto_runs_the_generator_in_bfloat16_where_the_cpu_has_it(model_file, tmp_path, monkeypatch):
    import torch

    import stylize.pipeline.translate as translate

    model = load_model(model_file)
    rng = np.random.default_rng(0)
    crops = list(rng.integers(0, 256, (4, 32, 32, 3)).astype(np.uint8))
    full = translate.Translator(model, {"hair": "blond"}, device="cpu", precision="fp32")
    assert not full.bfloat16
    with torch.inference_mode():  # fp32 is the generator as it is
        x = full.to_tensor(crops)
        direct = (model.generator(x, torch.from_numpy(full.targets_for(x, np.full(4, -1))).float()) + 1) * 127.5
    assert np.allclose(np.stack(full(crops, [-1] * 4)), direct.clamp(0, 255).permute(0, 2, 3, 1).numpy(), atol=1e-3)
    monkeypatch.setattr(translate, "cpu_has_fast_bfloat16", lambda: True)
    fast = translate.Translator(model, {"hair": "blond"}, device="cpu")
    assert fast.bfloat16
    out, ref = np.stack(fast(crops, [-1] * 4)), np.stack(full(crops, [-1] * 4))
    assert out.dtype == np.float32 and 0 < np.abs(out - ref).mean() < 1.0 and np.abs(out - ref).max() < 8
    monkeypatch.setattr(translate, "cpu_has_fast_bfloat16", lambda: False)
    assert not translate.Translator(model, {"hair": "blond"}, device="cpu").bfloat16  # emulated: no faster
    with pytest.raises(ValueError, match="precision must be one of auto, fp32"):
        translate.Translator(model, {"hair": "blond"}, precision="fp8")
    r = CliRunner().invoke(stylize_main, ["image", "x.png", "-m", str(model_file), "--hair", "blond", "--precision",
                                          "fp8", "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "--precision" in r.output and "Traceback" not in r.output, r.output


def test_a_model_file_carries_the_colour_blur_and_feather_stylize_applies_unless_told(model_file, tmp_path):
    import shutil
    from dataclasses import replace

    from stylize.cli.train import main as train_main
    from stylize.models.catalogue import FEATHER, read_metadata
    from stylize.pipeline.translate import Translator, model_change

    assert "colour_blur" not in read_metadata(model_file) and load_model(model_file).colour_blur == 0
    assert Translator(load_model(model_file), {"hair": "blond"}).colour_blur == 0
    blurred = shutil.copy(model_file, tmp_path / "blurred.safetensors")
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--colour-blur", "5"])
    assert r.exit_code == 0 and r.output.strip().endswith("--apply change --colour-blur 5 --feather 0.12"), r.output
    model = load_model(blurred)
    assert model.colour_blur == 5 and model.metadata()["colour_blur"] == 5
    assert Translator(model, {"hair": "blond"}).colour_blur == 5  # the file's, when none is asked
    assert Translator(model, {"hair": "blond"}, colour_blur=0).colour_blur == 0  # an explicit 0 turns it off
    r = CliRunner().invoke(stylize_main, ["info", str(blurred)])
    assert "its colour blurred over 5% of the crop" in r.output, r.output
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--colour-blur", "30"])
    assert r.exit_code == 2 and "--colour-blur" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--colour-blur", "0"])
    assert r.exit_code == 0 and "colour_blur" not in read_metadata(blurred)  # 0 removes the field: as it was
    # the paste's fade the same way: the file's unless asked, and its default leaves the file as it was
    assert "feather" not in read_metadata(model_file)
    assert Translator(load_model(model_file), {"hair": "blond"}).feather == FEATHER
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--feather", "0.06"])
    assert r.exit_code == 0 and r.output.strip().endswith("--feather 0.06"), r.output
    model = load_model(blurred)
    assert model.feather == 0.06 and Translator(model, {"hair": "blond"}).feather == 0.06
    assert Translator(model, {"hair": "blond"}, feather=0.12).feather == 0.12
    assert model.paste_settings() == (0.0, 0.06) and model.paste_settings(2, 0.12) == (2.0, 0.12)
    with pytest.raises(ValueError, match="feather must be 0 to 0.5"):
        model.paste_settings(feather=0.7)
    whole = replace(model, alignment=Alignment("none"))  # its "face" is the frame: never faded, whatever is asked
    assert whole.paste_settings(feather=0.12) == (0.0, 0.0) and Translator(whole, {"hair": "blond"}).feather == 0
    for said in ({"feather": 0.0}, {}):  # its eval pasted it unfaded, whether or not the eval says so
        assert replace(whole, provenance={"eval": said}).measured_with == {}
    assert "its paste faded over 0.06 of the crop" in CliRunner().invoke(stylize_main, ["info", str(blurred)]).output
    assert replace(model, provenance={"eval": {"colour_blur": 5, "feather": 0.06}}).measured_with == {
        "--colour-blur": 5}  # read against the file's own (its blur is back to 0 here)
    assert replace(model, provenance={"eval": {"strength": 1}}).measured_with == {"--feather": FEATHER}  # not said
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--feather", "0.6"])
    assert r.exit_code == 2 and "--feather" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(train_main, ["defaults", str(blurred), "--feather", str(FEATHER)])
    assert r.exit_code == 0 and "feather" not in read_metadata(blurred)  # the default removes the field
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    r = CliRunner().invoke(train_main, ["defaults", str(tmp_path / "junk.safetensors"), "--colour-blur", "5"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and len(r.output.strip().splitlines()) == 1, r.output

    # a flush's crops blurred in one call: each exactly as on its own
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    generated = np.clip(crops + rng.normal(0, 20, crops.shape), 0, 255).astype(np.float32)
    region = np.linspace(0, 1, 32, dtype=np.float32)[:, None, None] * np.ones((32, 32, 1), np.float32)
    one_by_one = np.stack([model_change(g, c, region, 1.5, 5) for g, c in zip(generated, crops, strict=True)])
    assert np.allclose(model_change(generated, crops, region, 1.5, 5), one_by_one, atol=1e-4)


def test_edit_region_only_for_hair_alone_on_face_models():
    from stylize.pipeline.regions import edit_region

    face = Alignment("face", CELEBA_TEMPLATE)
    weights = edit_region(face, 64, ["hair"])
    assert weights.shape == (64, 64, 1) and weights[0, 32, 0] > 0.99 and weights[40, 32, 0] < 0.01
    assert edit_region(face, 64, ["hair", "gender"]) is None
    assert edit_region(face, 64, ["gender"]) is None
    assert edit_region(Alignment("none"), 64, ["hair"]) is None


def test_generator_threads_leave_cores_to_the_other_stages_and_restore():
    from stylize.pipeline.translate import generator_threads

    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0))
    with generator_threads(other_stages=2):
        assert torch.get_num_threads() == max(1, cores - 2)
    assert torch.get_num_threads() == before
