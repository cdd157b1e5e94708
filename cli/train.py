"""``stylize-train``: one subcommand per dataset module, all sharing the trainer's options, plus ``eval``."""

from __future__ import annotations

import functools
import sys
from dataclasses import fields
from pathlib import Path

import click

from stylize.train.datasets.base import DatasetError, DatasetSpec
from stylize.train.trainer import TrainConfig

DIR = click.Path(exists=True, file_okay=False, path_type=Path)

_HELP = {
    "image_size": "Training crop size in pixels (divisible by 2**d-repeat-num).",
    "g_conv_dim": "Channels of G's first layer (64 in the paper; 32 trains ~4x faster on CPU).",
    "d_conv_dim": "Channels of D's first layer.",
    "g_repeat_num": "Residual blocks in G.",
    "d_repeat_num": "Stride-2 convolutions in D.",
    "lambda_cls": "Weight of the domain classification loss.",
    "lambda_rec": "Weight of the cycle reconstruction loss.",
    "lambda_gp": "Weight of the gradient penalty.",
    "num_iters": "Total iterations (D updates).",
    "num_iters_decay": "Iterations at the end over which the learning rates decay linearly to 0.",
    "n_critic": "D updates per G update.",
    "sample_every": "Write a sample grid every N iterations.",
    "checkpoint_every": "Save a resumable checkpoint and the model file every N iterations.",
    "log_every": "Append a row to losses.csv every N iterations.",
    "device": "auto, cpu, cuda or cuda:N.",
    "amp": "bfloat16 autocast on CUDA.",
    "threads": "CPU threads for torch (0: torch's default).",
}


def trainer_options(f):
    """Adds one option per TrainConfig field, with the paper's defaults."""
    for fld in reversed(fields(TrainConfig)):
        name = "--" + fld.name.replace("_", "-")
        if fld.type in ("bool", bool):
            f = click.option(f"{name}/--no-{fld.name.replace('_', '-')}", default=fld.default, show_default=True,
                             help=_HELP.get(fld.name, ""))(f)
        else:
            kind = {"int": int, "float": float, "str": str}[str(fld.type)]
            f = click.option(name, type=kind, default=fld.default, show_default=True, help=_HELP.get(fld.name, ""))(f)
    f = click.option("--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Run folder: checkpoint, samples, losses.csv, model.safetensors. Reusing it resumes.")(f)
    f = click.option("--until", type=int, default=None, help="Stop at this iteration (resume later).")(f)
    f = click.option("--export", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Also write the final model file here.")(f)
    return f


def run_training(build):
    """Wraps a subcommand that returns a DatasetSpec: trains on it with the shared options."""

    @functools.wraps(build)
    def command(run_dir: Path, until: int | None, export: Path | None, **kwargs):
        cfg_names = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in kwargs.items() if k in cfg_names})
        if cfg.image_size % 2 ** cfg.d_repeat_num:
            raise click.BadParameter(f"{cfg.image_size} is not divisible by 2**{cfg.d_repeat_num}",
                                     param_hint="--image-size")
        try:
            spec: DatasetSpec = build(seed=cfg.seed, **{k: v for k, v in kwargs.items() if k not in cfg_names})
            from stylize.train.trainer import Trainer
            trainer = Trainer(spec, run_dir, cfg)
        except (DatasetError, RuntimeError) as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"{spec.name}: {len(trainer.train_crops.labels)} train / {len(trainer.test_crops.labels)} test "
                   f"images ({spec.schema.describe()}); skipped {trainer.train_crops.skipped}; "
                   f"device {trainer.device}; starting at step {trainer.step}", err=True)
        try:
            trainer.train(until)
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted: checkpoint saved at step {trainer.step}; rerun the same command to resume",
                       err=True)
            sys.exit(130)
        if export:
            trainer.export(export)
        click.echo(f"step {trainer.step}: model file {run_dir / 'model.safetensors'}", err=True)

    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stylize")
def main() -> None:
    """Train StarGAN domain sets for stylize.

    Each dataset subcommand reads one published layout, aligns faces with the same aligner and template that
    `stylize video` uses (non-face sets are used whole), and trains with the paper's recipe. A run folder is
    resumable: rerun the same command to continue; Ctrl-C saves a checkpoint. The run's model.safetensors works
    directly with `stylize video --model`.
    """


@main.command("folder")
@click.option("--data", "root", type=DIR, required=True, help="Folder with one sub-folder of images per domain.")
@click.option("--group", default="domain", show_default=True, help="Name of the group the domains form.")
@click.option("--align-domain", "align_domains", multiple=True,
              help="Sub-folder whose images are real faces to align with dlib (repeatable).")
@click.option("--test-fraction", type=float, default=0.1, show_default=True, help="Held-out share per domain.")
@trainer_options
@run_training
def folder_cmd(root: Path, group: str, align_domains: tuple[str, ...], test_fraction: float, seed: int
               ) -> DatasetSpec:
    """Any folder-per-domain set (e.g. selfie2anime: selfie/ and anime/)."""
    from stylize.train.datasets import folder
    return folder.build(root, group, align_domains, test_fraction, seed)


@main.command("anime-sketch")
@click.option("--data", "root", type=DIR, required=True, help="Folder of anime images.")
@trainer_options
@run_training
def anime_sketch_cmd(root: Path, seed: int) -> DatasetSpec:
    """Anime <-> sketch; sketches are made from the anime images (pencil-sketch transform, cached)."""
    from stylize.train.datasets import anime_sketch
    return anime_sketch.build(root, seed)


if __name__ == "__main__":
    main()
