"""A second judge of hair-colour edits, of another family than `stylize-train eval`'s CNN: logistic regression on the
colour histogram (Lab, 8 bins a channel) of the hair band of the aligned crop (outside the inner face, upper 60%),
trained on the real training crops. It reads colour only, so a CNN-shaped pattern that sways the CNN judge (or
a CNN guide, `--lambda-guide`) cannot sway it; it is weaker, so compare models with it, not with the bar.

    python benchmarks/hair_colour_check.py MODEL [MODEL ...] [--limit 300] [--cache DIR]

Prints how often it reads real held-out faces' hair right, then per model how often each hair edit is read as the
asked colour (→blond also split by the face's own colour), and the colour →blond gives the hair: the mean Lab
(OpenCV's 8-bit scale, a = b = 128 neutral) of the band's pixels the edit changed by more than 16 grey levels, and
the share of them greener than neutral (a < 126), which real blond hair almost never is. Real blond hair is measured
alike: the band's pixels of the held-out blondes that the first model's →black edit changes. Edits are made as
`stylize` makes them (the change pasted at full resolution, kept out of the inner face, with each model file's own
colour blur and fade unless --colour-blur or --feather name others; the figures in docs/celeba-experiments.md before
the files carried their own were measured at 0 and 0.12). Needs ../shared/data/celeba (the models' training data).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import clips
import cv2
import numpy as np
import torch

from stylize.models import StyleModel, load_model
from stylize.pipeline.align import warp_to_crop
from stylize.pipeline.regions import edit_region
from stylize.train.colour_guide import BINS, hair_band
from stylize.train.datasets import rebuild_dataset
from stylize.train.datasets.base import DatasetSpec, SampleLoader, prepare_crops
from stylize.train.evaluate import edit_as_stylize, edits_of


def histograms(crops: np.ndarray, band: np.ndarray) -> torch.Tensor:
    """N×S×S×3 uint8 crops → N×BINS³ square-rooted colour histograms of the band (Hellinger features)."""
    out = []
    for c in crops:
        lab = cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2LAB)
        h = cv2.calcHist([lab], [0, 1, 2], band, [BINS] * 3, [0, 256] * 3).ravel()
        out.append(h / max(h.sum(), 1))
    return torch.from_numpy(np.sqrt(np.asarray(out, np.float32)))


GREENISH, CHANGED = 126, 16  # Lab a below this is greener than neutral (128); an edit's own pixels change by more


def colour_where_changed(before: np.ndarray, after: np.ndarray, band: np.ndarray, of: np.ndarray) -> np.ndarray:
    """K×3 Lab of ``of`` at the band's pixels that the edit ``before`` → ``after`` changed (S×S×3 uint8 RGB crops)."""
    moved = (np.abs(after.astype(np.int16) - before).mean(-1) > CHANGED) & (band > 0)
    return cv2.cvtColor(np.ascontiguousarray(of), cv2.COLOR_RGB2LAB)[moved].astype(np.float32)


def describe(lab: list[np.ndarray]) -> str:
    """One line for the pooled Lab pixels: mean L, a, b and the share greener than neutral."""
    px = np.concatenate(lab) if lab else np.zeros((0, 3), np.float32)
    if not len(px):
        return "no pixel changed"
    return (f"L {px[:, 0].mean():.0f} a {px[:, 1].mean():.1f} b {px[:, 2].mean():.1f}, "
            f"greenish {np.mean(px[:, 1] < GREENISH):.1%} of {len(px)} px")


def hair_models_on_celeba(doc: str, paste: bool = False) -> tuple[argparse.Namespace, StyleModel, DatasetSpec]:
    """Command line of the hair benchmarks (models, --data, --limit, --cache; with ``paste``, which pastes its edits,
    --colour-blur and --feather): the arguments, the first model, and its training dataset rebuilt from the first
    model's provenance (its split and labels)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="bundled names or model files with a hair group")
    ap.add_argument("--data", type=Path, default=clips.ROOT.parent / "shared" / "data" / "celeba")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--cache", type=Path, default=Path(".stylize-cache"), help="aligned crops")
    if paste:
        ap.add_argument("--colour-blur", type=float, help="as stylize's (default: each model file's own)")
        ap.add_argument("--feather", type=float, help="as stylize's (default: each model file's own)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    first = load_model(args.models[0])
    return args, first, rebuild_dataset(first.provenance, args.data)


def main() -> None:
    args, first, spec = hair_models_on_celeba(__doc__, paste=True)
    size, hair = first.image_size, spec.schema.slice("hair")
    values = list(spec.schema.group("hair").values)
    region = edit_region(spec.alignment, size, ["hair"], "auto")
    band = (hair_band(spec.alignment, size).view(size, size).numpy() * 255).astype(np.uint8)  # the colour guide's

    train = prepare_crops(spec.train, spec.alignment, size, args.cache, "aligning train")
    one = train.labels[:, hair].sum(1) == 1
    x, y = histograms(train.images[one], band), torch.from_numpy(train.labels[one][:, hair].argmax(1))
    torch.manual_seed(0)
    judge = torch.nn.Linear(x.shape[1], len(values))
    opt = torch.optim.Adam(judge.parameters(), 1e-2)
    for _ in range(1500):
        loss = torch.nn.functional.cross_entropy(judge(x), y) + 1e-4 * judge.weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def reads(crop: np.ndarray) -> str:
        return values[int(judge(histograms(crop[None], band)).argmax())]

    loader = SampleLoader(spec.alignment, size)
    picks = np.linspace(0, len(spec.test) - 1, min(args.limit, len(spec.test))).round().astype(int)
    samples = [(s, loader(s)) for s in (spec.test[int(i)] for i in picks)]
    samples = [(s, x) for s, x in samples if not isinstance(x, str)]  # unreadable or no face: skipped, as eval does
    real: dict[str, list[bool]] = {}
    for s, sample in samples:
        own = spec.schema.decode(np.asarray(s.label, np.float32), 0)["hair"]
        real.setdefault(own, []).append(reads(sample.crop) == own)
    print("real held-out read right: " + ", ".join(f"{k} {np.mean(v):.1%} ({len(v)})" for k, v in real.items()))
    with torch.no_grad():
        for n, name in enumerate(args.models):
            model = load_model(name)
            G, result, colour, real_blond = model.generator.eval(), {}, [], []
            blur, feather = model.paste_settings(args.colour_blur, args.feather)
            for s, sample in samples:
                label = np.asarray(s.label, np.float32)
                own = spec.schema.decode(label, 0)["hair"]
                edits = [e for e in edits_of(spec.schema, label, 0) if e.group == "hair"]
                _, edited = edit_as_stylize(G, sample, edits, {"hair": region}, model.apply == "change",
                                            colour_blur=blur, feather=feather)
                for e, image in zip(edits, edited, strict=True):
                    crop = warp_to_crop(image, sample.transform, size)
                    ok = reads(crop) == e.value
                    result.setdefault(f"->{e.value}", []).append(ok)
                    if e.value == "blond":
                        result.setdefault(f"->blond from {own}", []).append(ok)
                        colour.append(colour_where_changed(sample.crop, crop, band, crop))
                    if n == 0 and own == "blond" and e.value == "black":  # where a blonde's hair is
                        real_blond.append(colour_where_changed(sample.crop, crop, band, sample.crop))
            if n == 0:
                print(f"real blond hair (held-out blondes, where {name}'s ->black acts): {describe(real_blond)}")
            read = ", ".join(f"{k} {np.mean(v):.1%} ({len(v)})" for k, v in sorted(result.items()))
            print(f"{name} (--colour-blur {blur:g} --feather {feather:g}): {read}", flush=True)
            print(f"{name}: ->blond hair colour: {describe(colour)}", flush=True)


if __name__ == "__main__":
    main()
