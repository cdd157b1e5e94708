"""``stylize-train``: one subcommand per dataset module, all sharing the trainer's options, plus ``eval``."""

from __future__ import annotations

import functools
import sys
from dataclasses import fields
from pathlib import Path

import click

from stylize.models.catalogue import APPLY_MODES, FEATHER, MAX_COLOUR_BLUR, MAX_FEATHER
from stylize.models.masked import COLOURS, UPSAMPLES
from stylize.train.augment import POLICIES, parse_policy
from stylize.train.datasets.base import DatasetError
from stylize.train.losses import TARGETS
from stylize.train.negatives import USES as NEGATIVE_USES
from stylize.train.prototypes import MATCHES as PROTO_MATCHES
from stylize.train.prototypes import TARGETS as PROTO_TARGETS
from stylize.train.trainer import ADV_LOSSES, ARCHS, RECIPES, TrainConfig

DIR = click.Path(exists=True, file_okay=False, path_type=Path)

_HELP = {
    "arch": "Generator: masked (resize-convolution decoder + attention mask, output = A*C + (1-A)*x), plain (the "
            "same decoder, no mask: for edits that redraw every pixel) or stargan (the paper's Table 1).",
    "colour": "How G's colour image is made (masked, plain): rgb paints it (tanh), affine recolours the input with a "
              "3x4 colour matrix that varies smoothly over the face (the input's texture is kept); global recolours "
              "it with one matrix per face (no streaks of colour: where it acts is the mask's alone).",
    "smooth_fields": "Fixed low-pass filters inside G on its attention mask (about a pixel at training size) and its "
                     "affine colour grid (neighbouring cells cannot alternate): neither can carry the fine stripes a "
                     "guide rewards (docs/celeba-experiments.md), whatever G learns.",
    "upsample": "How G's decoder doubles the image (masked, plain): nearest copies cells into 2x2 blocks, whose edges "
                "an under-trained decoder keeps as a plaid of short strokes; bilinear has no block edges "
                "(docs/anime-experiments.md).",
    "adv_loss": "nsgan: non-saturating loss with R1 on real images (StarGAN v2); wgan-gp: the paper's.",
    "lambda_r1": "Weight of the R1 penalty (nsgan).",
    "reg_every": "Apply D's penalty (R1 or the gradient penalty) on every Nth critic step only, N times as heavy "
                 "(StyleGAN2's lazy regularisation): the penalty's double backward is a quarter of a critic step.",
    "lambda_mask": "Weight of the attention mask's mean (masked): higher keeps more of the input.",
    "lambda_tv": "Weight of the attention mask's total variation (masked): higher makes it smoother.",
    "lambda_change_tv": "Weight of the total variation of G's change (output - input, absolute): charges fine "
                        "patterns G paints over the face (the stripes and speckle a guide taught it: "
                        "docs/celeba-experiments.md) while a smooth recolour costs little (0: none).",
    "colour_blur": "Blur the colour of G's change over this share (percent) of the crop's side wherever G's output is "
                   "used in training, as `stylize --colour-blur` blurs it when pasting: D and every term judge what "
                   "the tool will paste, so colour speckle and small painted patches earn G nothing (0: off; use the "
                   "model file records it, so `stylize` applies the same blur unless told otherwise).",
    "lambda_guide": "Weight of G's guide: a frozen attribute classifier trained on the real training faces before the "
                    "GAN (kept in the crop cache; other widths and seed than eval's judge), whose reading of G's faces "
                    "joins D's classification term (0: none).",
    "guide_steps": "Training steps of G's guide classifier (--lambda-guide).",
    "guide_groups": "Groups the guide speaks for, comma-separated (e.g. hair; empty: all). On CelebA a guide for "
                    "gender taught G red or blue eyes, which a classifier reads as a gender "
                    "(docs/celeba-experiments.md).",
    "guide_gray": "The guide reads luminance only, so colour alone cannot satisfy it (meant for gender or age, where "
                  "a colour guide taught G red or blue eyes; not for hair colour, which is a colour).",
    "guide_robust": "Train G's guide on adversarial faces, each pixel moved up to this many grey levels (of 255) "
                    "the way that most fools it (FGSM from a random start; 0: plain; twice the guide's training "
                    "time). A robust classifier's gradient points at what it reads, not at faint patterns that fool "
                    "it (the stripes a 64 px guide taught G: docs/celeba-experiments.md).",
    "guide_size": "The side in pixels G's faces are brought down to before the guide reads them (it is trained so "
                  "too): at 16 it sees hair colour but not the fine speckle a full-size classifier is fooled by.",
    "lambda_colour_guide": "Weight of G's hair-colour guide: a linear classifier of the colour histogram of the hair "
                           "band (Lab, soft bins), fitted to the real training faces before the GAN (needs a hair "
                           "group; 0: none). It reads colour only, but ranking the asked colour first is all it asks: "
                           "G still painted an olive yellow-green for blond (docs/celeba-experiments.md); see "
                           "--lambda-colour-match.",
    "lambda_colour_match": "Weight of the squared Hellinger distance of G's hair-band colour histogram to the asked "
                           "colour's mean over the real training faces (the colour guide's; 0: none): charges colours "
                           "real hair of that colour never has, which the guide's classifier may still rank first.",
    "lambda_green": "Weight of a charge on G turning pixels greener than neutral (Lab a* below 0) where the input "
                    "was not: no real hair colour is green, yet guided CelebA runs painted blond yellow-green "
                    "(docs/celeba-experiments.md). Not for sets whose targets may be green (anime). 0: none.",
    "lambda_skin": "Weight of a charge on G moving the face's skin (inner face, cheeks and jaw): the mean there of "
                   "how far each pixel's Lab colour moved past --skin-margin. Asked for female, the celeba model "
                   "bundled before it drew a sheet of dark hair over one side of a man's face (README, *A man asked "
                   "for female*); the bundled one trained on with it (10, margin 0). Needs face crops. 0: none.",
    "skin_margin": "How far (Lab distance, units of 256) --lambda-skin lets a skin pixel move for free.",
    "lambda_vivid": "Weight of a charge on G making pixels more vivid (Lab chroma) than --vivid-floor and than they "
                    "were: no real hair colour is vivid, yet a heavier --lambda-cls painted red crowns and pink or "
                    "blue smudges (docs/celeba-experiments.md). Not for sets whose targets are vivid (anime). 0: none.",
    "lambda_backdrop": "Weight of a charge on G changing the backdrop (the crop beside and above the template's head "
                       "and hair), as --lambda-skin's over the skin and at its --skin-margin: a heavier --lambda-cls "
                       "drew glows round heads and blobs on the wall beside them (docs/celeba-experiments.md). Needs "
                       "face crops. 0: none.",
    "vivid_floor": "The Lab chroma (units of 256) up to which --lambda-vivid lets G colour a pixel for free; 0.14 is "
                   "about the most vivid real hair in CelebA.",
    "lambda_id": "Weight of an identity term: G asked for the face's own labels should return it unchanged (L1, as "
                 "the cycle's). Shuffled targets ask G for a face's own value of a group often (a blond asked "
                 "blond), and the cycle alone does not charge what G paints then: streaks in hair that was already "
                 "the asked colour, a glow round a dark head asked for black. Measured (docs/celeba-experiments.md): "
                 "it took the streaks off hair already blond, not the glow a blond edit puts round a dark head. "
                 "0: none.",
    "lambda_proto": "Weight of a teacher made of real faces for edits that change the face (train/prototypes.py): "
                    "G's output for such an edit is drawn (L1) toward the face plus --proto-alpha times the mean of "
                    "its --proto-k nearest training faces (by layout) with the asked labels less the mean of its "
                    "nearest with its own. Measured (docs/celeba-experiments.md): in 2,100 CPU s G learns only a "
                    "faint blur of that change, and gender flips no more often. 0: none.",
    "proto_groups": "Groups whose edits the real-face teacher teaches, comma-separated (default: every group but "
                    "hair, whose prototypes would teach the backdrop's brightness too).",
    "proto_k": "Neighbours averaged on each side of the real-face teacher's difference.",
    "proto_alpha": "How far the real-face teacher's target moves the face along that difference (1: the whole of "
                   "it; the eval judge read 1.5 times it as the other gender on 65% of held-out faces, 2 times on "
                   "79%).",
    "proto_target": "What the real-face teacher draws G toward: difference (the face plus --proto-alpha times the "
                    "difference of the two neighbour means, kept to the head) or mean (the mean of the neighbours "
                    "with the asked labels, the whole image: for redraws such as selfie→anime; measured in "
                    "docs/anime-experiments.md: softer anime faces with less speckle than without, not clean ones).",
    "proto_match": "What the real-face teacher's neighbours are matched on: the 16 px luminance layout, or the 16 px "
                   "colour image (keeps hair colour in a redraw).",
    "mask_teacher": "A masked model (file or bundled name; same labels and size) whose attention mask bounds G's: "
                    "what G's mask puts beyond the teacher's, for the same input and target, costs --lambda-teacher. "
                    "Meant to keep a pushed G (--lambda-guide) off the background: the bundled celeba model's mask "
                    "stays mostly on the hair (docs/celeba-experiments.md: it did, but G's blond turned greenish).",
    "hide_backdrop": "Show D and G's guide every face with its backdrop (the crop's sides and top corners, outside "
                     "the template's head and hair) taken from another real face of the batch: CelebA's blonds "
                     "have brighter backdrops, which a critic could pay G for lighting. Measured "
                     "(docs/celeba-experiments.md): it cost blond and left the glow round heads, which lies inside "
                     "the head region. Face datasets only.",
    "hide_padding": "Show D and G's guide what lies outside each crop's source image as mid grey, on real and "
                    "edited faces alike. The aligner fills it by reflection, and on CelebA's loose crops that is "
                    "74% of the top eighth of a crop, most crowns: a critic shown it takes mirrored hair for real "
                    "and pays G to paint it (streaks over edited crowns). Measured (docs/celeba-experiments.md): the "
                    "bundled celeba gone on with it softened its streaks without removing them, and read 3 points less "
                    "blond to the eval's judge, more to one that cannot see the crown.",
    "hair_cls_hides_face": "D's classifier reads the hair group with the inner face grey (a pass of its own, 12% "
                           "more CPU a step), as `stylize-train eval --judge-hides-face`'s judge reads it: `stylize "
                           "--region auto` pastes a hair edit outside the inner face only, so G must not earn a hair "
                           "colour by tinting eyes or skin (CelebA's blonds have lighter ones). Measured "
                           "(docs/celeba-experiments.md): no judge read more blond than a control's. Face datasets "
                           "with a hair group only.",
    "teacher_groups": "Groups whose edits the teacher bounds, comma-separated (e.g. hair: an edit that changes "
                      "nothing else is bounded, one that also changes gender or age is G's own; empty: every edit). "
                      "Measured (docs/celeba-experiments.md): freed, gender edits stayed weak, or with a plain gender "
                      "guide became eyeshadow that a classifier reads as a gender.",
    "lambda_teacher": "Weight of the teacher's bound on G's mask (--mask-teacher).",
    "lambda_teacher_change": "Weight of G's mean absolute change where the teacher's mask is under 0.1 "
                             "(--mask-teacher; fading to free as it rises to 0.1): a faint mask over a loud colour, "
                             "the glow round dark heads a guided G lit (docs/celeba-experiments.md), costs what it "
                             "changes (0: none).",
    "augment": "Augment every image D sees, real and generated (DiffAugment): translation, cutout, resolution "
               "(each image shown at a random lower resolution, down to half), comma-separated; keeps D's "
               "classifier from resting on one small region, or on fine texture, that G then paints.",
    "negatives": "Show D a share of real faces with painted colour patches as fakes (patches; negative data "
                 "augmentation, train/negatives.py): the eye shadow, lips and hair streaks that long CelebA runs "
                 "paint become what D learns to reject; or the faces in the colours of G's edits of them "
                 "(g-colour: the edit's colour on the face's own luminance; see --negatives-for) "
                 "('' for none).",
    "negatives_share": "The share of each critic batch's generated images replaced by --negatives (with "
                       "--negatives-for classifier: the share of its real faces shown painted as well).",
    "negatives_for": "Which of D's outputs sees the --negatives: critic (as fakes), classifier (with the face's own "
                     "labels, so that a painted patch stops reading as a gender or a hair colour, and G's "
                     "classification term stops rewarding one) or both.",
    "d_projection": "Condition D's real/fake output on the labels (projection discriminator): a generated face is "
                    "judged against real faces of the asked labels, not of any labels.",
    "targets": "What G is asked for in training: shuffle (the batch's own labels, shuffled: every group changes at "
               "once, common values most, as in the paper) or one-group (one group per image changes, to any other "
               "of its values: the single edits stylize asks for; not with --d-projection).",
    "init_from": "A model file (or bundled name) whose G and D a new run starts from: the same labels, crop size "
                 "and networks. Its step count carries on (--num-iters counts it); the optimisers start afresh. "
                 "For a run whose checkpoint is gone, e.g. one trained on a lent GPU that brought back its model "
                 "file only. Not read when the run folder has a checkpoint (it resumes from that).",
    "ema": "Decay of the moving average of G's weights that is exported (0: export G itself).",
    "max_seconds": "Stop after this many seconds of training (wall clock, summed over resumes; 0: no limit).",
    "max_cpu_seconds": "Stop after this many CPU seconds of training (all threads, summed over resumes; 0: no "
                       "limit). Equal CPU budgets make recipes comparable on a shared machine.",
    "image_size": "Training crop size in pixels (divisible by 2**d-repeat-num).",
    "g_conv_dim": "Channels of G's first layer (64 in the paper; 32 trains ~4x faster on CPU).",
    "batch_size": "Images per step.",
    "g_lr": "G's Adam learning rate.",
    "d_lr": "D's Adam learning rate.",
    "seed": "Seed of the initial weights, the data order and (for sets split at random) the held-out split.",
    "beta1": "Adam beta1 (0 in the budget recipe, 0.5 in the paper's).",
    "beta2": "Adam beta2.",
    "d_conv_dim": "Channels of D's first layer.",
    "g_repeat_num": "Residual blocks in G.",
    "d_repeat_num": "Stride-2 convolutions in D.",
    "lambda_cls": "Weight of the domain classification loss.",
    "g_cls_scale": "Scales the classification term of G's loss (D's stays --lambda-cls): 1 is the paper's; lower "
                   "leaves more of the labels to a projection D (--d-projection), 0 all of them "
                   "(docs/celeba-experiments.md: on CelebA this reached fewer targets).",
    "lambda_rec": "Weight of the cycle reconstruction loss.",
    "lambda_gp": "Weight of the gradient penalty.",
    "num_iters": "Total iterations (D updates).",
    "num_iters_decay": "Iterations at the end over which the learning rates decay linearly to 0.",
    "n_critic": "D updates per G update.",
    "sample_every": "Write a sample grid every N iterations.",
    "checkpoint_every": "Save a resumable checkpoint and the model file every N iterations.",
    "checkpoint_minutes": "Also save them whenever this many minutes of wall time have passed since the last save "
                          "(0: by iterations only), so that a kill no handler sees (SIGKILL, a session's end) loses "
                          "at most this much; Ctrl-C and SIGTERM always save first.",
    "log_every": "Append a row to losses.csv every N iterations.",
    "device": "auto, cpu, cuda or cuda:N.",
    "amp": "bfloat16 autocast on CUDA and on CPUs that multiply it natively (AVX512-BF16, AMX: about 1.5x the "
           "iterations a CPU second there); --no-amp trains in float32.",
    "threads": "CPU threads for torch (0: torch's default).",
}


# --help lists the trainer's many options under these headings, in this order; the dataset's own options, the run
# folder and the recipe come first. The last heading holds the terms tried against CelebA's and anime's failures
# (docs/celeba-experiments.md): measured, none of them in a bundled model's recipe (the skin and green charges, which
# the bundled celeba's last runs used, are the objective's).
SECTIONS = {
    "Model": ("arch", "colour", "smooth_fields", "upsample", "image_size", "g_conv_dim", "d_conv_dim", "g_repeat_num",
              "d_repeat_num", "d_projection", "ema", "init_from"),
    "Objective and schedule": ("adv_loss", "lambda_cls", "g_cls_scale", "lambda_rec", "lambda_gp", "lambda_r1",
                               "reg_every", "lambda_mask", "lambda_tv", "augment", "targets", "batch_size",
                               "num_iters", "num_iters_decay", "g_lr", "d_lr", "n_critic", "beta1", "beta2",
                               "lambda_skin", "skin_margin", "lambda_green"),
    "Budget, logging and device": ("max_seconds", "max_cpu_seconds", "seed", "sample_every", "checkpoint_every",
                                   "checkpoint_minutes", "log_every", "device", "amp", "threads"),
    "Experimental terms (measured in docs/celeba-experiments.md; no bundled model uses them)": (
        "lambda_change_tv", "colour_blur", "lambda_guide", "guide_steps", "guide_size", "guide_groups", "guide_gray",
        "guide_robust", "lambda_colour_guide", "lambda_colour_match", "lambda_id", "lambda_proto", "proto_groups",
        "proto_k", "proto_alpha", "proto_target", "proto_match", "mask_teacher", "lambda_teacher",
        "lambda_teacher_change", "teacher_groups", "hide_backdrop", "hide_padding", "hair_cls_hides_face", "negatives",
        "negatives_share", "negatives_for", "lambda_vivid", "vivid_floor", "lambda_backdrop"),
}


class SectionedCommand(click.Command):
    """A training subcommand whose --help groups the options under SECTIONS' headings."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        heading = {name: title for title, names in SECTIONS.items() for name in names}
        rows: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if (record := param.get_help_record(ctx)) is not None:
                rows.setdefault(heading.get(param.name, "Options"), []).append(record)
        for title in ("Options", *SECTIONS):
            if title in rows:
                with formatter.section(title):
                    formatter.write_dl(rows[title])


def trainer_options(f):
    """Adds one option per TrainConfig field, with the paper's defaults."""
    for fld in reversed(fields(TrainConfig)):
        name = "--" + fld.name.replace("_", "-")
        if fld.type in ("bool", bool):
            f = click.option(f"{name}/--no-{fld.name.replace('_', '-')}", default=fld.default, show_default=True,
                             help=_HELP.get(fld.name, ""))(f)
        else:
            kind = {"int": int, "float": float, "str": str}[str(fld.type)]
            choices = {"arch": ARCHS, "adv_loss": ADV_LOSSES, "colour": COLOURS, "targets": TARGETS,
                       "upsample": UPSAMPLES, "negatives_for": NEGATIVE_USES,
                       "proto_target": PROTO_TARGETS, "proto_match": PROTO_MATCHES}
            kind = click.Choice(choices[fld.name]) if fld.name in choices else kind
            f = click.option(name, type=kind, default=fld.default, show_default=True, help=_HELP.get(fld.name, ""))(f)
    f = click.option("--recipe", type=click.Choice(list(RECIPES)), default="budget", show_default=True,
                     help="Defaults for the options not given: budget (masked generator, nsgan + R1, one critic "
                          "step, EMA), paper (StarGAN's Table 1, WGAN-GP, five critic steps, lr decay) or hybrid "
                          "(budget's generator and EMA, the paper's critic: the bundled celeba model's).")(f)
    f = click.option("--run", "--run-dir", "run_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Run folder: checkpoint, samples, losses.csv, model.safetensors. Reusing it resumes.")(f)
    f = click.option("--until", type=int, default=None, help="Stop at this iteration (resume later).")(f)
    f = click.option("--export", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Also write the final model file here.")(f)
    return f


def usage_policy(text: str, option: str) -> tuple[str, ...]:
    """An augmentation policy (``--augment``, ``--judge-augment``), or a usage error naming the option."""
    try:
        return parse_policy(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=option) from None


def run_training(describe):
    """Wraps a subcommand that returns (dataset module name, its arguments): builds it and trains on it."""

    @functools.wraps(describe)
    def command(run_dir: Path, until: int | None, export: Path | None, recipe: str, **kwargs):
        cfg_names = {f.name for f in fields(TrainConfig)}
        ctx = click.get_current_context()
        given = {k: v for k, v in kwargs.items()
                 if k in cfg_names and ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
        cfg = TrainConfig(**{**RECIPES[recipe], **given})
        name, args = describe(**{k: v for k, v in kwargs.items() if k not in cfg_names})
        from stylize.train.datasets import build_dataset
        from stylize.train.trainer import ConfigError, Trainer

        try:
            spec = build_dataset(name, seed=cfg.seed, **args)
        except (DatasetError, RuntimeError) as e:
            raise click.ClickException(str(e)) from None
        try:
            trainer = Trainer(spec, run_dir, cfg)
        except ConfigError as e:  # checked before the run folder is made
            raise click.BadParameter(e.reason, param_hint=e.option) from None
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
        finally:
            trainer.close()
        if trainer.rank == 0:
            if export:
                trainer.export(export)
            click.echo(f"step {trainer.step}: model file {run_dir / 'model.safetensors'}", err=True)

    return command


def split_attrs(attrs: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in attrs.split(",") if a.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stylize")
def main() -> None:
    """Train StarGAN domain sets for stylize.

    Each dataset subcommand reads one published layout, aligns faces with the same aligner and template that
    `stylize video` uses (non-face sets are used whole), and trains with the budget recipe (`--recipe paper`:
    StarGAN as published; `--recipe hybrid`: the budget generator with the paper's critic). A run folder is
    resumable: rerun the same command to continue; Ctrl-C saves a checkpoint. The run's model.safetensors works
    directly with `stylize video --model`.
    """


@main.command("folder", cls=SectionedCommand)
@click.option("--data", "root", type=DIR, required=True, help="Folder with one sub-folder of images per domain.")
@click.option("--group", default="domain", show_default=True, help="Name of the group the domains form.")
@click.option("--align-domain", "align_domains", multiple=True,
              help="Sub-folder whose images are real faces to align with dlib (repeatable).")
@click.option("--test-fraction", type=float, default=0.1, show_default=True, help="Held-out share per domain.")
@trainer_options
@run_training
def folder_cmd(root: Path, group: str, align_domains: tuple[str, ...], test_fraction: float):
    """Any folder-per-domain set (e.g. selfie2anime: selfie/ and anime/)."""
    return "folder", {"root": root, "group": group, "align_domains": align_domains, "test_fraction": test_fraction}


@main.command("anime-sketch", cls=SectionedCommand)
@click.option("--data", "root", type=DIR, required=True, help="Folder of anime images.")
@trainer_options
@run_training
def anime_sketch_cmd(root: Path):
    """Anime <-> sketch; sketches are made from the anime images (pencil-sketch transform, cached)."""
    return "anime-sketch", {"root": root}


@main.command("celeba", cls=SectionedCommand)
@click.option("--data", "root", type=DIR, required=True,
              help="Folder with list_attr_celeba.txt and img_align_celeba/.")
@click.option("--attrs", default="Black_Hair,Blond_Hair,Brown_Hair,Male,Young", show_default=True,
              help="Comma-separated CelebA attributes; hair colours form one exclusive group.")
@trainer_options
@run_training
def celeba_cmd(root: Path, attrs: str):
    """CelebA attributes (hair / gender / age ...); the last 2,000 images are the test split."""
    return "celeba", {"root": root, "attrs": split_attrs(attrs)}


@main.command("rafd", cls=SectionedCommand)
@click.option("--data", "root", type=DIR, required=True, help="Folder of RaFD images (published file names).")
@trainer_options
@run_training
def rafd_cmd(root: Path):
    """RaFD expressions (8), from the file names; split by subject."""
    return "rafd", {"root": root}


@main.command("ckplus", cls=SectionedCommand)
@click.option("--data", "root", type=DIR, required=True,
              help="Folder with cohn-kanade-images/ and Emotion/, or with one folder per expression (anger/, happy/…).")
@trainer_options
@run_training
def ckplus_cmd(root: Path):
    """CK+ expressions: each labelled sequence's peak frame with its emotion and its first frame as neutral; or,
    one folder per expression (CK+48), the expressions found there. Split by subject."""
    return "ckplus", {"root": root}


@main.command("joint", cls=SectionedCommand)
@click.option("--celeba", "celeba_root", type=DIR, required=True, help="The CelebA folder.")
@click.option("--rafd", "rafd_root", type=DIR, required=True, help="The RaFD folder.")
@click.option("--attrs", default="Black_Hair,Blond_Hair,Brown_Hair,Male,Young", show_default=True,
              help="CelebA attributes to use.")
@trainer_options
@run_training
def joint_cmd(celeba_root: Path, rafd_root: Path, attrs: str):
    """CelebA + RaFD in one model with the mask vector (paper section 3.2)."""
    return "joint", {"celeba_root": celeba_root, "rafd_root": rafd_root,
                     "attrs": split_attrs(attrs)}


@main.command("eval")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=DIR, help="Dataset folder, if not where the model was trained from.")
@click.option("--judge-steps", type=int, default=400, show_default=True,
              help="Training steps of the judge classifier (trained on the real training images).")
@click.option("--limit", type=int, default=None, help="Evaluate on at most this many held-out images.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Crop cache folder (default: the run's cache, or .stylize-cache beside the model).")
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also save a PNG grid of held-out images: each row the input, then each domain value.")
@click.option("--structure-only", is_flag=True,
              help="The judge sees greyscale images, so domains that differ in colour (anime vs sketch) must be "
                   "told apart by their structure.")
@click.option("--greyscale-judge/--no-greyscale-judge", default=True, show_default=True,
              help="Also read every edit with a second judge that sees luminance only (figures under "
                   "greyscale_judge): a colour judge reads make-up as a gender, this one needs the face changed.")
@click.option("--region", type=click.Choice(["auto", "everywhere"]), default="auto", show_default=True,
              help="Where the edits may act, as `stylize --region`: auto keeps hair edits out of the inner face.")
@click.option("--strength", type=click.FloatRange(0, 4, min_open=True), default=1.0, show_default=True,
              help="Scale each change, as `stylize --strength`.")
@click.option("--colour-blur", type=click.FloatRange(0, MAX_COLOUR_BLUR), default=None, metavar="PERCENT",
              help="Blur each change's colour, as `stylize --colour-blur`  [default: the model file's own, as "
                   "`stylize` applies it]")
@click.option("--judge-augment", default=",".join(POLICIES), show_default=True,
              help="How the judge's training faces are augmented (as --augment; '' for none): a judge trained on "
                   "shifted, partly blanked faces is not swayed by a coloured patch on the eyes; add resolution "
                   "where sharpness alone tells the domains apart (anime against photos).")
@click.option("--judge-seed", type=int, multiple=True,
              help="Seed of the judges' training  [default: the one the dataset was built with, 0 unless given]. "
                   "Another seed trains other judges (cached beside the first): how far a figure moves with the "
                   "judge alone, before reading a difference between two models as theirs. Given more than once: "
                   "each judge is the ensemble of those seeds' judges (their logits averaged).")
@click.option("--judge-hides-face", is_flag=True,
              help="The judges see the inner face (eyes, nose, mouth) as grey, in training and reading: whether the "
                   "hair is blond, not whether the face looks it (CelebA's blonds have lighter eyes and skin). For "
                   "hair edits, which stay off the inner face; the gender and age figures then mean little.")
@click.option("--judge-sees-inside", is_flag=True,
              help="The judges see grey wherever a crop lies outside its source image, in training and reading: "
                   "what a pasted edit can show, not the aligner's reflection of it (on CelebA's loose crops, most "
                   "of every crown: a judge that sees it reads mirrored hair).")
@click.option("--feather", type=click.FloatRange(0, MAX_FEATHER), default=None, metavar="SHARE",
              help="The share of the crop over which each face's paste fades out toward the crop's edge, as "
                   "`stylize --feather`  [default: the model file's own, as `stylize` applies it]")
@click.option("--apply", type=click.Choice(APPLY_MODES), default=None,
              help="Paste each edit as `stylize --apply` does: change (added to the full-resolution image) or "
                   "output (the model-size output itself)  [default: the model file's own, as `stylize` applies it]")
def eval_cmd(target: Path, data: Path | None, judge_steps: int, limit: int | None, cache: Path | None,
             grid: Path | None, structure_only: bool, greyscale_judge: bool, region: str, strength: float,
             colour_blur: float | None, judge_augment: str, judge_seed: tuple[int, ...],
             judge_hides_face: bool, judge_sees_inside: bool, feather: float | None, apply: str | None) -> None:
    """Evaluate a run folder or model file on its held-out split, editing each image as `stylize` does (the change
    pasted at full resolution): how often an independent judge (trained here on the real training images) sees
    the target value (and how often a second judge that sees greyscale only does), how often it still sees the
    values that were not asked (gender and age when hair was), how often dlib's face descriptor still calls it the
    same person (face models), and the cycle reconstruction L1; for hair, how often each judge sees the value on real
    faces given another held-out face's hair (about what a perfect edit could read). Printed, saved as eval.json and
    added to the model file's provenance."""
    import json

    from stylize.models.modelfile import ModelFileError, load_model, update_provenance
    from stylize.train.datasets import rebuild_dataset
    from stylize.train.evaluate import evaluate

    policy = usage_policy(judge_augment, "--judge-augment")
    model_path = target / "model.safetensors" if target.is_dir() else target
    try:
        model = load_model(model_path)
    except ModelFileError as e:
        raise click.ClickException(str(e)) from None
    try:
        spec = rebuild_dataset(model.provenance, data, name=str(model_path))
        cache_dir = cache or (target / "cache" if target.is_dir() else model_path.parent / ".stylize-cache")
        seed = judge_seed or spec.seed
        result = evaluate(model, spec, cache_dir, judge_steps, limit, seed=seed, grid=grid,
                          structure_only=structure_only, region=region, judge_augment=policy,
                          greyscale_judge=greyscale_judge, strength=strength, colour_blur=colour_blur,
                          judge_hides_face=judge_hides_face, feather=feather, judge_sees_inside=judge_sees_inside,
                          apply=apply)
    except (DatasetError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(result, indent=2))
    out = (target if target.is_dir() else model_path.parent) / ("eval.json" if target.is_dir() else
                                                                f"{model_path.stem}.eval.json")
    out.write_text(json.dumps(result, indent=2))
    update_provenance(model_path, eval=result)


@main.command("defaults")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--colour-blur", type=click.FloatRange(0, MAX_COLOUR_BLUR), default=None, metavar="PERCENT",
              help="The `stylize --colour-blur` this model gets when none is given (0: off).")
@click.option("--apply", type=click.Choice(APPLY_MODES), default=None,
              help="The `stylize --apply` this model gets when none is given.")
@click.option("--feather", type=click.FloatRange(0, MAX_FEATHER), default=None, metavar="SHARE",
              help="The `stylize --feather` this model gets when none is given.")
def defaults_cmd(model_file: Path, colour_blur: float | None, apply: str | None, feather: float | None) -> None:
    """Set how `stylize` applies MODEL_FILE when the command line does not say (the file is rewritten atomically;
    its weights and figures stay); with no option, print what it is now. Measure a setting first with
    `stylize-train eval --colour-blur` / `--apply` / `--feather`: the figures a file carries are read against these
    defaults."""
    from stylize.models.catalogue import read_metadata
    from stylize.models.errors import ModelFileError
    from stylize.models.modelfile import update_provenance

    try:
        if colour_blur is not None or apply is not None or feather is not None:
            update_provenance(model_file, apply=apply, colour_blur=colour_blur, feather=feather)
        meta = read_metadata(model_file)
    except ModelFileError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{model_file}: --apply {meta.get('apply', 'change')} --colour-blur {meta.get('colour_blur', 0):g} "
               f"--feather {meta.get('feather', FEATHER):g}")


if __name__ == "__main__":
    main()
