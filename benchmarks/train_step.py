"""CPU seconds a training iteration takes on real data, a recipe against the same recipe with settings changed.

Both run in one process on one thread, in alternating rounds after a first (warm-up) pair, so that a machine whose
pace drifts weighs on both alike; the figure to quote is the ratio. ``celeba`` is the bundled model's recipe
(``--recipe hybrid --augment translation,cutout``, 64 px, G 32 / 3 blocks), ``anime`` the anime runs' (plain
6-block G, projection D, 64 px). Iterations are timed, not trained to an end: this says what a setting costs, not
what it buys (the experiment logs in docs/ say that).

    python benchmarks/train_step.py --celeba ../shared/data/celeba --set reg_every=4 [--cache DIR] [--steps 20]
    python benchmarks/train_step.py --selfie2anime ../shared/data/selfie2anime --set n_critic=5

Crops are aligned into a temporary cache first (minutes) unless ``--cache`` names a folder that already holds them
(a run folder's ``cache``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import fields, replace
from pathlib import Path

import torch

from stylize.train.datasets import build_dataset
from stylize.train.datasets.base import batches
from stylize.train.trainer import TrainConfig, Trainer

CELEBA_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young")


def recipe(dataset: str, root: Path):
    """(dataset spec, TrainConfig) of the named recipe on the data at ``root``."""
    if dataset == "celeba":
        return build_dataset("celeba", root=root, attrs=CELEBA_ATTRS), TrainConfig(
            image_size=64, g_repeat_num=3, threads=1, adv_loss="wgan-gp", n_critic=5, beta1=0.5, beta2=0.999,
            augment="translation,cutout")  # --recipe hybrid --augment translation,cutout, as bundled
    return build_dataset("folder", root=root, align_domains=("selfie",)), TrainConfig(
        arch="plain", image_size=64, threads=1, d_projection=True)


def alternate(first: Callable[[], float], second: Callable[[], float], rounds: int) -> tuple[float, float]:
    """Means of ``first()`` and ``second()`` over ``rounds`` alternating rounds after one warm-up pair."""
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds + 1):
        a, b = first(), second()
        if r:
            times[0].append(a)
            times[1].append(b)
    return sum(times[0]) / rounds, sum(times[1]) / rounds


def iteration_seconds(dataset: str, root: Path, cache: Path | None, changed: dict, rounds: int = 3, steps: int = 10,
                      first_context=nullcontext) -> tuple[float, float]:
    """CPU s an iteration of ``dataset``'s recipe takes (as is, inside ``first_context()``; then with the settings in
    ``changed``), one trainer for both, so data and networks are the same."""
    torch.set_num_threads(1)
    spec, cfg = recipe(dataset, root)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(spec, Path(tmp) / "run", cfg, cache_dir=cache or Path(tmp) / "cache")
        stream = batches(trainer.train_crops, cfg.batch_size, trainer.rng)

        def timed(config: TrainConfig, context) -> float:
            trainer.cfg = config
            with context():
                c0 = time.process_time()
                for _ in range(steps):
                    trainer.train_step(*next(stream))
                    trainer.step += 1
                return (time.process_time() - c0) / steps

        return alternate(lambda: timed(cfg, first_context), lambda: timed(replace(cfg, **changed), nullcontext),
                         rounds)


def setting(text: str) -> tuple[str, object]:
    """``name=value`` of a TrainConfig field, the value in the field's type."""
    name, _, value = text.partition("=")
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    if name not in kinds:
        raise argparse.ArgumentTypeError(f"no setting '{name}'")
    kind = {"int": int, "float": float, "str": str, "bool": lambda v: v.lower() in ("1", "true", "yes")}[
        str(kinds[name])]
    return name, kind(value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--celeba", type=Path)
    data.add_argument("--selfie2anime", type=Path)
    p.add_argument("--set", type=setting, action="append", required=True, help="name=value, repeatable")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--steps", type=int, default=20, help="iterations a round")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    dataset, root = ("celeba", a.celeba) if a.celeba else ("anime", a.selfie2anime)
    changed = dict(a.set)
    before, after = iteration_seconds(dataset, root, a.cache, changed, a.rounds, a.steps)
    what = ", ".join(f"{k}={v}" for k, v in changed.items())
    print(f"{dataset}: as is {before:.3f} CPU s an iteration, with {what} {after:.3f} ({before / after:.2f}x the "
          f"iterations a CPU second)")


if __name__ == "__main__":
    main()
