"""What a CelebA model's discriminator reads, for `--negatives` (docs/celeba-experiments.md, *Showing D the patches*
and *Showing D's classifier G's colour*): on the first held-out crops at model size, as they are, painted with
`train/negatives.paint_patches` (seed 0), gender-flipped by G, made blond by G, and G's gender edit's colour on the
real face's luminance (`train/negatives.g_colour`).

    python benchmarks/d_probe.py MODEL [MODEL ...] --data ../shared/data/celeba [--limit 256] [--cache DIR]

Per model, the critic's mean output on each (higher: more real), then its classifier on gender: accuracy on the real
faces, the share of painted faces whose gender reading flips, the share of G's gender edits read as the asked gender,
and the share of those edits' colour alone (on the real face's light) read as the asked gender; then on hair: its
accuracy on the real faces and the share of G's blond edits (of faces not blond already) it reads blond, with the
inner face grey for a D trained so (`--hair-cls-hides-face`, *A hair classifier that cannot see the face*). The
model files must hold D (`stylize-train` writes it beside G).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylize.models import load_model
from stylize.models.errors import ModelFileError
from stylize.models.schema import SchemaError
from stylize.pipeline.regions import inner_face
from stylize.train.datasets import rebuild_dataset
from stylize.train.datasets.base import DatasetError, prepare_crops, to_tensor
from stylize.train.negatives import g_colour, paint_patches


def share(a: torch.Tensor) -> float:
    return a.float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    first = load_model(args.models[0])
    spec = rebuild_dataset(first.provenance, args.data)  # the set, labels and split the first model trained on
    schema = spec.schema
    schema.group("gender")  # a model with gender and hair, or a SchemaError that names what it has
    hair_values = schema.group("hair").values
    gender, hair = schema.slice("gender"), schema.slice("hair")
    blond_at = hair.start + list(hair_values).index("blond")
    test = prepare_crops(spec.test, spec.alignment, first.image_size, args.cache, "aligning test")
    x = to_tensor(test.images[:args.limit])
    labels = torch.from_numpy(test.labels[:args.limit]).float()
    flipped, blond = labels.clone(), labels.clone()
    flipped[:, gender] = 1 - flipped[:, gender]
    blond[:, hair] = 0
    blond[:, blond_at] = 1
    painted = paint_patches(x, torch.Generator().manual_seed(0))
    male = labels[:, gender].squeeze(1) > 0.5
    own_hair = labels[:, hair].argmax(1)
    not_blond = own_hair != blond_at - hair.start
    faceless = 1 - torch.from_numpy(inner_face(spec.alignment, first.image_size))  # 0 is mid grey
    for path in args.models:
        model = load_model(path)
        if model.discriminator is None:
            print(f"{path}: no discriminator in the file")
            continue
        G, D = model.generator.eval(), model.discriminator.eval()
        with torch.no_grad():
            to_other, to_blond = G(x, flipped[:, :schema.c_dim]), G(x, blond[:, :schema.c_dim])
            read = {name: D(t) for name, t in (("real", x), ("painted", painted), ("gender edit", to_other),
                                               ("blond edit", to_blond), ("colour", g_colour(x, to_other)))}
        critic = {name: read[name][0].mean().item() for name in ("real", "painted", "gender edit", "blond edit")}
        reads_male = {name: cls[:, gender].squeeze(1) > 0 for name, (_, cls) in read.items()}
        print(f"{path}\n  critic: " + ", ".join(f"{k} {v:.3f}" for k, v in critic.items()))
        print(f"  classifier on gender: real read right {share(reads_male['real'] == male):.3f}, painted flipped "
              f"{share(reads_male['painted'] != reads_male['real']):.3f}, G's edits read as asked "
              f"{share(reads_male['gender edit'] != male):.3f}, their colour alone "
              f"{share(reads_male['colour'] != male):.3f}")
        hides = bool(model.provenance.get("recipe", {}).get("hair_cls_hides_face"))
        with torch.no_grad():  # the hair group read as this D was trained to read it
            hair_real, hair_blond = (D(t * faceless if hides else t)[1][:, hair].argmax(1) for t in (x, to_blond))
        print(f"  classifier on hair{' (inner face grey)' if hides else ''}: real read right "
              f"{share(hair_real == own_hair):.3f}, G's blond edits of faces not blond read blond "
              f"{share(hair_blond[not_blond] == blond_at - hair.start):.3f}")


if __name__ == "__main__":
    try:
        main()
    except (ModelFileError, DatasetError, SchemaError) as error:  # a wrong path or model: one line
        raise SystemExit(f"Error: {error}") from None
