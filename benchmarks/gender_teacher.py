"""How far a real gender change reads, and how much of it the colour blur leaves (issue 12's gender bar).

    python benchmarks/gender_teacher.py MODEL [MODEL ...] [--alpha 1.5 2 3] [--blur 0 5] [--limit 300]
        [--cache DIR] [--judge-steps 3000] [--judge-sees-inside]

Each held-out face (the aligned crop at model size; no paste, no fade) has its gender flipped twice: by the real-face
teacher of `--lambda-proto` (`train/prototypes.py`: the 32 training faces most like it in layout with the asked
labels, less the 32 with its own, kept to the head, times ``--alpha``) and by each model's G. Each change is applied
with its colour blurred as `stylize --colour-blur` blurs it (`model_change`), at each of ``--blur`` (percent of the
crop's side), and read by the eval's judge (`stylize-train eval`'s: shifted and blanked faces, seed 0, cached with
the crops, trained on first use; ``--judge-sees-inside`` as the eval's option). Prints how often each reads flipped,
→female and →male: the teacher says what a change drawn from real faces reads, the blur what the paste then leaves
of it. Needs ../shared/data/celeba (the models' training data).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import clips
import numpy as np
import torch

from stylize.models import load_model
from stylize.models.errors import ModelFileError
from stylize.models.schema import SchemaError
from stylize.pipeline.regions import head
from stylize.pipeline.translate import model_change
from stylize.train.augment import POLICIES
from stylize.train.datasets import rebuild_dataset
from stylize.train.datasets.base import DatasetError, prepare_crops, to_grey_levels, to_tensor
from stylize.train.evaluate import cached_judge, shown
from stylize.train.prototypes import Prototypes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="bundled names or model files with a gender group")
    ap.add_argument("--data", type=Path, default=clips.ROOT.parent / "shared" / "data" / "celeba")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--cache", type=Path, default=Path(".stylize-cache"), help="aligned crops and the judge")
    ap.add_argument("--alpha", type=float, nargs="+", default=[1.5, 2.0, 3.0], help="the teacher's --proto-alpha")
    ap.add_argument("--blur", type=float, nargs="+", default=[0.0, 5.0], help="colour blurs to apply, percent")
    ap.add_argument("--judge-steps", type=int, default=3000)
    ap.add_argument("--judge-sees-inside", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    first = load_model(args.models[0])
    spec = rebuild_dataset(first.provenance, args.data)  # the set, labels and split the first model trained on
    schema, size = spec.schema, first.image_size
    gender = schema.slice("gender").start  # the binary group's one column: 1 is male
    train = prepare_crops(spec.train, spec.alignment, size, args.cache, "aligning train")
    test = prepare_crops(spec.test, spec.alignment, size, args.cache, "aligning test")
    judge = cached_judge(args.cache, train, schema, args.judge_steps, 0, True, False, POLICIES,
                         sees_inside=args.judge_sees_inside)
    picks = np.linspace(0, len(test.images) - 1, min(args.limit, len(test.images))).round().astype(int)
    crops = np.asarray(test.images[picks])
    x, own = to_tensor(crops), torch.from_numpy(np.asarray(test.labels[picks]))
    inside = np.asarray(test.inside[picks])[:, None]  # `shown` counts 255 as 1
    asked = own.clone()
    asked[:, gender] = 1 - asked[:, gender]
    to_male = asked[:, gender] == 1

    def line(name: str, made: np.ndarray) -> str:
        """``made``: the flipped faces as G-output grey levels; each blur applied, then read."""
        out = []
        for blur in args.blur:
            seen = to_tensor(np.rint(crops + model_change(made, crops, None, 1.0, blur)).clip(0, 255).astype(np.uint8))
            with torch.no_grad():
                male = judge(shown(seen, inside) if args.judge_sees_inside else seen)[:, gender] > 0
            flipped = male == to_male
            out.append(f"blur {blur:g}: →female {flipped[~to_male].float().mean():.1%}, "
                       f"→male {flipped[to_male].float().mean():.1%}")
        return f"{name}: " + "; ".join(out)

    print(f"{len(picks)} held-out faces ({int((~to_male).sum())} asked female, {int(to_male.sum())} male); "
          f"judge: {args.judge_steps} steps{', sees inside' if args.judge_sees_inside else ''}")
    for alpha in args.alpha:
        teacher = Prototypes(train, schema, ("gender",), 32, alpha, head(spec.alignment, size)[..., None])
        target, _ = teacher.targets(x, own, asked, 0)
        print(line(f"real-face teacher, alpha {alpha:g}", to_grey_levels(target)), flush=True)
    for name, model in zip(args.models, itertools.chain([first], map(load_model, args.models[1:])), strict=True):
        G = model.generator.eval()
        with torch.no_grad():
            made = torch.cat([G(x[i:i + 50], asked[i:i + 50]) for i in range(0, len(x), 50)])
        print(line(name, to_grey_levels(made)), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (ModelFileError, DatasetError, SchemaError) as error:  # a wrong path or model: one line
        raise SystemExit(f"Error: {error}") from None
