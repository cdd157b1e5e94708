"""Would a stronger attention mask at inference reach the targets? The held-out eval of a masked model with its mask
scaled by each gain (clamped at 1), everything else as `stylize-train eval` does it.

    python benchmarks/mask_gain.py [--model celeba] [--gain 1 2] [--limit 300] [--cache DIR] [--grid-dir DIR]

Prints, per gain, target reached per value, the values kept when another group is asked, and the identity distance;
gain 1 reproduces the model's own eval. Needs ../shared/data/celeba (the model's training data).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import clips
import torch
from torch import nn

from stylize.models import load_model
from stylize.train.datasets import rebuild_dataset
from stylize.train.evaluate import evaluate


class MaskGain(nn.Module):
    """A masked generator whose attention mask is multiplied by ``gain`` before the blend."""

    def __init__(self, generator: nn.Module, gain: float) -> None:
        super().__init__()
        self.generator, self.gain = generator, gain

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        color, mask = self.generator.parts(x, c)
        return self.generator.blend(x, color, None if mask is None else (mask * self.gain).clamp(max=1.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="celeba", help="bundled name or model file (masked architecture)")
    ap.add_argument("--data", type=Path, default=clips.ROOT.parent / "shared" / "data" / "celeba")
    ap.add_argument("--gain", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--judge-steps", type=int, default=3000)
    ap.add_argument("--cache", type=Path, default=Path(".stylize-cache"), help="aligned crops and judges")
    ap.add_argument("--grid-dir", type=Path, default=None, help="write grid-GAIN.png here")
    args = ap.parse_args()
    model = load_model(args.model)
    if not hasattr(model.generator, "parts"):
        raise SystemExit(f"{args.model}: not a masked generator")
    spec = rebuild_dataset(model.provenance, args.data)
    plain = model.generator
    if args.grid_dir:
        args.grid_dir.mkdir(parents=True, exist_ok=True)
    for gain in args.gain:
        model.generator = MaskGain(plain, gain)
        grid = args.grid_dir / f"grid-{gain:g}.png" if args.grid_dir else None
        r = evaluate(model, spec, args.cache, args.judge_steps, args.limit, seed=spec.seed,
                     grid=grid, progress=False, greyscale_judge=False)
        targets = " ".join(f"{k} {v:.1%}" for k, v in r["per_target"].items())
        kept = " ".join(f"{k} {v:.1%}" for k, v in r["others_kept"].items())
        print(f"gain {gain:g}: target {r['target_accuracy']:.1%} | {targets} | kept: {kept} | "
              f"identity {r['identity_distance_mean']}", flush=True)


if __name__ == "__main__":
    main()
