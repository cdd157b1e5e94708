"""A model's edits made once and made again on their own result (docs/celeba-experiments.md, *The edit made
twice*): `stylize-train eval`'s figures with G asked for the same target once, then a second time on the crop its first
pass edited (`train.evaluate.edit_as_stylize`, ``passes``), and so on. A model that stops short of a colour (black
hair made ash rather than blond) might finish the step from where it stopped; this measures whether it does.

    python benchmarks/repeat_edit.py MODEL --data ../shared/data/celeba [--passes 1 2] [--limit 300]
        [--judge-steps 3000] [--cache DIR] [--grid-prefix PREFIX]

Per pass count: target reached, each target (colour judge, greyscale judge in brackets), →blond split by the face's
own hair, gender and age kept when hair was asked, same person and the change made to a face asked for its own hair.
Judges and crops are cached as `stylize-train eval` caches them, so the same cache gives the same judges; nothing is
written into the model file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylize.models import load_model
from stylize.models.errors import ModelFileError
from stylize.train.datasets import rebuild_dataset
from stylize.train.datasets.base import DatasetError
from stylize.train.evaluate import evaluate


def pct(rate: float) -> str:
    return f"{100 * rate:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--passes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--judge-steps", type=int, default=3000)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--grid-prefix", help="save each pass count's eval grid as PREFIX-N.png")
    args = parser.parse_args()
    if any(p < 1 for p in args.passes):
        raise SystemExit("Error: --passes takes counts of 1 or more")
    torch.set_num_threads(1)
    model = load_model(args.model)
    spec = rebuild_dataset(model.provenance, args.data, name=str(args.model))
    for passes in args.passes:
        grid = Path(f"{args.grid_prefix}-{passes}.png") if args.grid_prefix else None
        e = evaluate(model, spec, args.cache, args.judge_steps, args.limit, seed=spec.seed, grid=grid, passes=passes)
        grey = e.get("greyscale_judge", {}).get("per_target", {})
        print(f"passes {passes}: target reached {pct(e['target_accuracy'])}%")
        for target, rate in e["per_target"].items():
            print(f"  {target}: {pct(rate)}%" + (f" ({pct(grey[target])}%)" if target in grey else ""))
        for key, (rate, count) in e["per_target_by_source"].items():
            if key.startswith("hair=blond from"):
                print(f"  {key}: {pct(rate)}% of {count}")
        for key, rate in e["others_kept"].items():
            print(f"  {key}: kept {pct(rate)}%")
        if e["same_person"] is not None:
            print(f"  same person {pct(e['same_person'])}% (distance {e['identity_distance_mean']:.3f})")
        print("  asked for its own value, mean change (grey levels): "
              + ", ".join(f"{k} {v:.1f}" for k, v in e["own_value_change"].items()))


if __name__ == "__main__":
    try:
        main()
    except (ModelFileError, DatasetError, ValueError) as error:  # a wrong path, model or data: one line
        raise SystemExit(f"Error: {error}") from None
