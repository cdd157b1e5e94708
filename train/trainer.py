"""One StarGAN trainer for every dataset module and three recipes.

``paper``: the paper's generator and WGAN-GP with five critic steps per generator step (§3–4). ``budget`` (the
default): the resize-convolution, attention-mask generator of ``models/masked.py``, the non-saturating loss with R1
and one critic step (StarGAN v2's objective), and an exponential moving average of G's weights, which is what gets
exported. ``hybrid``: the budget generator and moving average with the paper's critic, which cleaned up the CK+
faces and trained the bundled ``celeba`` model. The README's *Training* section has the equal-CPU-time comparison,
docs/celeba-experiments.md the rest.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import platform
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torchvision.utils import save_image
from tqdm import tqdm

from stylize.models.architectures import build_generator
from stylize.models.modelfile import StyleModel, load_for_run, save_model
from stylize.models.stargan import Discriminator
from stylize.pipeline.regions import OUTSIDE_FACE_GROUPS, head, inner_face, skin
from stylize.pipeline.translate import CHANGE_FLOOR, blur_colour, cpu_has_fast_bfloat16

from .augment import augment, parse_policy
from .colour_guide import colour_guide_losses, fit_colour_guide, greener, hair_slice, lab_moved, lab_of, more_vivid
from .datasets.base import Crops, DatasetSpec, batches, prepare_crops, to_tensor
from .guide import guide_loss, load_guide
from .losses import (
    change_tv,
    classification_loss,
    discriminator_adversarial,
    generator_adversarial,
    gradient_penalty,
    mask_penalties,
    one_group_targets,
    projection_labels,
    r1_penalty,
    random_targets,
)
from .negatives import COLOUR_GROUPS, make_negatives, with_negatives
from .negatives import KINDS as NEGATIVE_KINDS
from .negatives import USES as NEGATIVE_USES
from .prototypes import Prototypes, prototype_loss
from .teacher import edits_within, load_teacher, teacher_bounds

ARCHS = ("masked", "plain", "stargan")  # plain: masked.py's decoder without the mask head
ADV_LOSSES = ("nsgan", "wgan-gp")
T = TypeVar("T")


@dataclass
class TrainConfig:
    """Defaults are the ``budget`` recipe; ``RECIPES['paper']`` holds what the paper changes."""

    arch: str = "masked"
    colour: str = "rgb"
    smooth_fields: bool = False
    upsample: str = "nearest"
    adv_loss: str = "nsgan"
    image_size: int = 128
    g_conv_dim: int = 32
    d_conv_dim: int = 32
    g_repeat_num: int = 6
    d_repeat_num: int = 5
    lambda_cls: float = 1.0
    g_cls_scale: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lambda_r1: float = 1.0
    reg_every: int = 1
    lambda_mask: float = 0.05
    lambda_tv: float = 0.5
    lambda_change_tv: float = 0.0
    colour_blur: float = 0.0
    lambda_guide: float = 0.0
    guide_steps: int = 3000
    guide_size: int = 16
    guide_groups: str = ""
    guide_gray: bool = False
    guide_robust: float = 0.0
    lambda_colour_guide: float = 0.0
    lambda_colour_match: float = 0.0
    lambda_green: float = 0.0
    lambda_skin: float = 0.0
    skin_margin: float = 0.04
    lambda_vivid: float = 0.0
    vivid_floor: float = 0.14
    lambda_backdrop: float = 0.0
    lambda_id: float = 0.0
    lambda_proto: float = 0.0
    proto_groups: str = ""
    proto_k: int = 32
    proto_alpha: float = 1.5
    proto_target: str = "difference"
    proto_match: str = "luminance"
    mask_teacher: str = ""
    lambda_teacher: float = 10.0
    lambda_teacher_change: float = 0.0
    teacher_groups: str = ""
    augment: str = ""
    negatives: str = ""
    negatives_share: float = 0.25
    negatives_for: str = "critic"
    hide_backdrop: bool = False
    hide_padding: bool = False
    hair_cls_hides_face: bool = False
    d_projection: bool = False
    targets: str = "shuffle"
    ema: float = 0.999
    init_from: str = ""
    batch_size: int = 16
    num_iters: int = 200_000
    num_iters_decay: int = 0
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    n_critic: int = 1
    beta1: float = 0.0
    beta2: float = 0.99
    max_seconds: float = 0.0
    max_cpu_seconds: float = 0.0
    seed: int = 0
    sample_every: int = 1000
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    device: str = "auto"
    amp: bool = True
    threads: int = 0

    def colour_guided(self) -> bool:
        """Whether either hair-colour term is asked for (both need the fitted colour guide)."""
        return self.lambda_colour_guide > 0 or self.lambda_colour_match > 0

    def conflict(self) -> tuple[str, str] | None:
        """(option, reason) for settings that cannot train together, None when there is none; checked before any
        data is read (the CLI shows it as a usage error)."""
        for f in fields(self):  # a negative weight would reward the fault its term charges, silently
            if (f.name.startswith("lambda_") or f.name == "g_cls_scale") and getattr(self, f.name) < 0:
                return "--" + f.name.replace("_", "-"), f"{getattr(self, f.name):g} must be 0 or more (a loss weight)"
        for name in ("sample_every", "checkpoint_every", "log_every", "reg_every"):
            if getattr(self, name) < 1:
                return "--" + name.replace("_", "-"), f"{getattr(self, name)} must be 1 or more (iterations)"
        if not 0 <= self.skin_margin < 1:
            return "--skin-margin", f"{self.skin_margin:g} must lie in [0, 1) (a Lab distance in units of 256)"
        if not 0 <= self.vivid_floor < 1:
            return "--vivid-floor", f"{self.vivid_floor:g} must lie in [0, 1) (a Lab chroma in units of 256)"
        if self.checkpoint_minutes < 0:
            return "--checkpoint-minutes", f"{self.checkpoint_minutes:g} must be 0 (only by iterations) or more"
        if self.colour != "rgb" and self.arch == "stargan":
            return "--colour", f"{self.colour} needs --arch masked or plain (the paper's G paints its output)"
        if self.upsample != "nearest" and self.arch == "stargan":
            return "--upsample", f"{self.upsample} needs --arch masked or plain (the paper's G up-samples by " \
                "transposed convolutions)"
        if self.targets != "shuffle" and self.d_projection:
            # shuffled labels ask for what the batch has; other targets shift the label mix of the fakes, which a
            # projection critic then scores from the labels alone, unbounded (a run here diverged:
            # docs/celeba-experiments.md)
            return "--targets", (f"{self.targets} does not go with --d-projection (only shuffle keeps the asked "
                                 "labels distributed as the real ones)")
        if self.negatives and self.negatives not in NEGATIVE_KINDS:
            return "--negatives", f"unknown kind {self.negatives} (choose from {', '.join(NEGATIVE_KINDS)})"
        if self.negatives_for not in NEGATIVE_USES:
            return "--negatives-for", f"unknown use {self.negatives_for} (choose from {', '.join(NEGATIVE_USES)})"
        if self.negatives_for != "critic" and not self.negatives:
            return "--negatives-for", f"{self.negatives_for} shows D the --negatives, and none were asked for"
        if not 0 < self.negatives_share < 1:
            return "--negatives-share", f"{self.negatives_share:g} must lie between 0 and 1 (a share of each batch)"
        if self.lambda_guide > 0 and not 4 <= self.guide_size <= 64:
            return "--guide-size", f"{self.guide_size} must lie between 4 and 64 (the side the guide reads, in px)"
        if not 0 <= self.guide_robust < 128:
            return "--guide-robust", f"{self.guide_robust:g} must lie in [0, 128) (grey levels of 255)"
        if self.smooth_fields and not (self.arch == "masked" or self.colour == "affine"):
            return "--smooth-fields", f"filters G's mask or affine colour grid, and --arch {self.arch} --colour " \
                f"{self.colour} has neither"
        if self.lambda_teacher_change > 0 and not self.mask_teacher:
            return "--lambda-teacher-change", "charges G's change where the teacher is quiet: name --mask-teacher"
        if self.teacher_groups and not self.mask_teacher:
            return "--teacher-groups", "names the edits the teacher bounds: name --mask-teacher"
        if self.lambda_proto > 0 and (self.proto_k < 1 or self.proto_alpha <= 0):
            return "--proto-k/--proto-alpha", f"need at least one neighbour and a weight above 0 " \
                f"(got {self.proto_k}, {self.proto_alpha:g})"
        if self.mask_teacher and self.arch != "masked":
            return "--mask-teacher", f"bounds G's attention mask, and --arch {self.arch} has none"
        return None


RECIPES: dict[str, dict] = {
    "budget": {},
    "paper": {"arch": "stargan", "adv_loss": "wgan-gp", "g_conv_dim": 64, "d_conv_dim": 64, "d_repeat_num": 6,
              "ema": 0.0, "num_iters_decay": 100_000, "n_critic": 5, "beta1": 0.5, "beta2": 0.999},
    "hybrid": {"adv_loss": "wgan-gp", "n_critic": 5, "beta1": 0.5, "beta2": 0.999},
}


def make_generator(cfg: TrainConfig, c_dim: int) -> nn.Module:
    if cfg.arch not in ARCHS:
        raise ValueError(f"unknown --arch {cfg.arch} (choose from {', '.join(ARCHS)})")
    sizes = {"arch": "stargan" if cfg.arch == "stargan" else "masked", "conv_dim": cfg.g_conv_dim, "c_dim": c_dim,
             "repeat_num": cfg.g_repeat_num, "mask": cfg.arch == "masked"}
    if cfg.colour != "rgb":  # TrainConfig.conflict rules out the paper's G
        sizes["colour"] = cfg.colour
    if cfg.smooth_fields:
        sizes["smooth"] = True
    if cfg.upsample != "nearest":
        sizes["upsample"] = cfg.upsample
    return build_generator(sizes)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but CUDA is not available here")
    return torch.device(name)


class ConfigError(ValueError):
    """Settings that cannot train, together or on this dataset; ``option`` names the flag to blame (the CLI shows
    it as a usage error)."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option, self.reason = option, reason


@dataclass(frozen=True)
class CheckedConfig:
    """What check_config resolved against the dataset, so that the Trainer builds from it and checks nothing
    twice."""

    policy: tuple[str, ...]  # --augment, parsed
    guided: tuple[str, ...]  # --guide-groups (all when empty)
    taught: tuple[str, ...]  # --teacher-groups (every edit when empty)
    head: np.ndarray | None  # --hide-backdrop: what of a crop D and the guide see as the face's own
    teacher: nn.Module | None  # --mask-teacher, on the CPU
    proto: tuple[str, ...]  # --proto-groups (every group but hair when empty)
    start: StyleModel | None  # --init-from, on the CPU
    negatives_kept: tuple[str, ...] = ()  # groups D's classifier is charged on for the --negatives (all when empty)
    hidden_face: np.ndarray | None = None  # --hair-cls-hides-face: 1 where D's hair classifier sees grey
    skin: np.ndarray | None = None  # --lambda-skin: the face's skin, where G is charged for moving it
    backdrop: np.ndarray | None = None  # --lambda-backdrop: beside and above the head, where no edit belongs


def _blaming(option: str, check: Callable[[], T]) -> T:
    """``check()``, its ValueError turned into a ConfigError that names ``option``."""
    try:
        return check()
    except ValueError as e:  # SchemaError among them
        raise ConfigError(option, str(e).removeprefix(f"{option}: ")) from None


def face_region(spec: DatasetSpec, size: int) -> np.ndarray | None:
    """S×S×1 weights of the head in this dataset's crops (``regions.head``), None when they are not faces."""
    try:
        return head(spec.alignment, size)[..., None]
    except ValueError:
        return None


def check_config(config: TrainConfig, spec: DatasetSpec, resuming: bool = False) -> CheckedConfig:
    """Every check of the settings, with each other and with this dataset, before a run folder is made or a crop
    read: a ConfigError naming the option otherwise. A run that resumes from its checkpoint does not read
    ``--init-from`` again (the file may have moved since it started)."""
    if bad := config.conflict():
        raise ConfigError(*bad)
    if config.image_size % 2 ** config.d_repeat_num:
        raise ConfigError("--image-size", f"{config.image_size} is not divisible by 2**{config.d_repeat_num}")
    if not 0 <= config.num_iters_decay <= config.num_iters:
        raise ConfigError("--num-iters-decay", f"{config.num_iters_decay} must lie between 0 and --num-iters "
                                               f"({config.num_iters})")
    policy = _blaming("--augment", lambda: parse_policy(config.augment))
    schema = spec.schema
    guided = _blaming("--guide-groups", lambda: schema.named(config.guide_groups))
    taught = _blaming("--teacher-groups", lambda: schema.named(config.teacher_groups))
    if config.colour_guided():
        _blaming("--lambda-colour-guide/--lambda-colour-match", lambda: hair_slice(schema))
    region = (_blaming("--hide-backdrop", lambda: head(spec.alignment, config.image_size))
              if config.hide_backdrop else None)
    teacher = (_blaming("--mask-teacher", lambda: load_teacher(config.mask_teacher, schema, config.image_size, "cpu"))
               if config.mask_teacher else None)
    proto = _blaming("--proto-groups", lambda: schema.named(config.proto_groups))
    if not config.proto_groups:  # hair prototypes would teach the backdrop too (train/prototypes.py)
        proto = tuple(g.name for g in schema.groups if g.name not in OUTSIDE_FACE_GROUPS)
    start = (_blaming("--init-from", lambda: load_start(config, spec)) if config.init_from and not resuming
             else None)
    kept: tuple[str, ...] = ()
    if config.negatives == "g-colour" and config.negatives_for != "critic":  # a recolouring changes hair colour
        kept = tuple(g.name for g in schema.groups if g.name not in COLOUR_GROUPS)
        if not kept:
            raise ConfigError("--negatives", "g-colour keeps no label of a colour group "
                                             f"({', '.join(sorted(COLOUR_GROUPS))}), and these labels have no other")
    hidden_face = (_blaming("--hair-cls-hides-face", lambda: hair_blind_mask(spec, config.image_size))
                   if config.hair_cls_hides_face else None)
    skin_weights = (_blaming("--lambda-skin", lambda: skin(spec.alignment, config.image_size))
                    if config.lambda_skin > 0 else None)
    backdrop = (_blaming("--lambda-backdrop", lambda: 1.0 - head(spec.alignment, config.image_size))
                if config.lambda_backdrop > 0 else None)
    return CheckedConfig(policy, guided, taught, region, teacher, proto, start, kept, hidden_face, skin_weights,
                         backdrop)


def hair_blind_mask(spec: DatasetSpec, size: int) -> np.ndarray:
    """S×S weights of the inner face (``regions.inner_face``), for a D whose hair classifier must not see it.
    ValueError when the crops are not faces or the labels have no group that `--region auto` keeps off the face."""
    face = inner_face(spec.alignment, size)
    if not any(g.name in OUTSIDE_FACE_GROUPS for g in spec.schema.groups):
        raise ValueError(f"the labels have no {' or '.join(sorted(OUTSIDE_FACE_GROUPS))} group")
    return face


def load_start(config: TrainConfig, spec: DatasetSpec) -> StyleModel:
    """The model file a new run starts from (``--init-from``): its G and D must be the networks this config builds,
    for this dataset's labels and crop size. ValueError with a one-line reason otherwise."""
    model = load_for_run(config.init_from, spec.schema, config.image_size, "--init-from", with_discriminator=True)
    if model.discriminator is None:
        raise ValueError(f"{config.init_from} has no discriminator to go on training against")
    g_sizes = make_generator(config, spec.schema.c_dim).sizes()
    d_sizes = Discriminator(config.image_size, config.d_conv_dim, spec.schema.cls_dim, config.d_repeat_num,
                            config.d_projection).sizes()
    for net, want, got in (("generator", g_sizes, model.generator.sizes()),
                           ("discriminator", d_sizes, model.discriminator.sizes())):
        if want != got:
            differ = ", ".join(f"{k} {got.get(k)} (this run: {want.get(k)})" for k in sorted({*want, *got})
                               if want.get(k) != got.get(k))
            raise ValueError(f"{config.init_from}'s {net} differs: {differ}")
    return model


@dataclass
class Cover:
    """What the critics are not shown of one batch (``Trainer.cover``): they see ``x · keep + fill``. The real and
    the fake faces of a batch get the same cover, so it tells D nothing about which is which."""

    keep: torch.Tensor | None = None
    fill: torch.Tensor | float = 0.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.keep is None else x * self.keep + self.fill

    def first(self, k: int) -> Cover:
        """The cover of the batch's first ``k`` faces (the painted negatives are made from them)."""
        if self.keep is None:
            return self
        return Cover(self.keep[:k], self.fill if isinstance(self.fill, float) else self.fill[:k])


class Trainer:
    """Owns the networks, optimisers and run folder of one training run; resumes from ``run/checkpoint.pt``."""

    def __init__(self, spec: DatasetSpec, run_dir: Path, config: TrainConfig, cache_dir: Path | None = None) -> None:
        checked = check_config(config, spec, (Path(run_dir) / "checkpoint.pt").exists())  # before the folder is made
        self.guided, self.taught = checked.guided, checked.taught
        self.negatives_kept = checked.negatives_kept
        self.spec, self.run_dir, self.cfg = spec, Path(run_dir), config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.dist = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank = int(os.environ.get("RANK", "0"))
        if self.dist:
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.device = pick_device(config.device)
        if self.dist and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed + self.rank)
        random.seed(config.seed)
        np.random.seed(config.seed)
        cache = cache_dir or self.run_dir / "cache"
        if self.dist and self.rank != 0:
            torch.distributed.barrier()  # rank 0 fills the crop cache first; the others then read it
        self.train_crops = prepare_crops(spec.train, spec.alignment, config.image_size, cache, "aligning train")
        self.test_crops = prepare_crops(spec.test, spec.alignment, config.image_size, cache, "aligning test")
        self.guide = (load_guide(cache, self.train_crops, spec.schema, config.guide_steps, config.guide_size,
                                 self.device, gray=config.guide_gray, robust=config.guide_robust)
                      if config.lambda_guide > 0 else None)
        if self.dist and self.rank == 0:
            torch.distributed.barrier()
        self.colour_guide = (fit_colour_guide(self.train_crops, spec.schema, spec.alignment, self.device)
                             if config.colour_guided() else None)
        schema = spec.schema
        self.prototypes = (Prototypes(self.train_crops, schema, checked.proto, config.proto_k, config.proto_alpha,
                                      face_region(spec, config.image_size), config.proto_target, config.proto_match)
                           if config.lambda_proto > 0 else None)
        self.teacher = None if checked.teacher is None else checked.teacher.to(self.device)
        self.G = make_generator(config, schema.c_dim).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if config.ema > 0 else None
        self.D = Discriminator(config.image_size, config.d_conv_dim, schema.cls_dim, config.d_repeat_num,
                               config.d_projection).to(self.device)
        if self.device.type == "cuda":
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.g_opt = torch.optim.Adam(self.G.parameters(), config.g_lr, (config.beta1, config.beta2))
        self.d_opt = torch.optim.Adam(self.D.parameters(), config.d_lr, (config.beta1, config.beta2))
        self.g_train, self.d_train = self.G, self.D
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train, self.d_train = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
        self.rng = torch.Generator().manual_seed(config.seed * 1000 + self.rank)
        self.policy = checked.policy
        self.head = None if checked.head is None else torch.from_numpy(checked.head).to(self.device)[None, None]
        self.hidden_face = (None if checked.hidden_face is None else
                            torch.from_numpy(checked.hidden_face).to(self.device)[None, None])
        self.skin = None if checked.skin is None else torch.from_numpy(checked.skin).to(self.device)
        self.backdrop = None if checked.backdrop is None else torch.from_numpy(checked.backdrop).to(self.device)
        # --hair-cls-hides-face: the groups D classifies with the inner face hidden, and the rest
        self.blind_groups = tuple(g.name for g in spec.schema.groups if g.name in OUTSIDE_FACE_GROUPS)
        self.sighted_groups = tuple(g.name for g in spec.schema.groups if g.name not in OUTSIDE_FACE_GROUPS)
        self.step = 0
        self.elapsed = 0.0
        self.cpu_seconds = 0.0
        self.started_from: dict | None = None  # --init-from's file and what its own training cost
        self.resume(checked.start)

    # --- checkpoints -------------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def resume(self, start: StyleModel | None = None) -> None:
        """Restores networks, optimisers, step and RNG state if the run folder has a checkpoint; otherwise starts
        from ``start``'s networks (``--init-from``) when given."""
        if not self.checkpoint_path.exists():
            (self.run_dir / "config.json").write_text(json.dumps(asdict(self.cfg), indent=2))
            if start is not None:
                self.init_from(start)
            return
        ck = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        self.g_opt.load_state_dict(ck["g_opt"])
        self.d_opt.load_state_dict(ck["d_opt"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(ck.get("G_ema", ck["G"]))
        self.step, self.elapsed = int(ck["step"]), float(ck.get("elapsed", 0.0))
        self.cpu_seconds = float(ck.get("cpu_seconds", 0.0))
        self.started_from = ck.get("started_from")
        self.rng.set_state(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        if torch.cuda.is_available() and "cuda_rng" in ck:
            torch.cuda.set_rng_state_all(ck["cuda_rng"])

    def init_from(self, model: StyleModel) -> None:
        """G (and its average) and D from a model file, the step count carried on so that ``--num-iters`` and its
        decay count the model's own iterations too; the optimisers start afresh (a model file has none of their
        state), and time and CPU seconds count this run's alone (the file's are kept in ``started_from``). For a run
        whose checkpoint is gone: a lent GPU's run that brought back its model file only."""
        self.G.load_state_dict(model.generator.state_dict())
        if self.G_ema is not None:
            self.G_ema.load_state_dict(model.generator.state_dict())
        self.D.load_state_dict(model.discriminator.state_dict())
        prov = model.provenance
        self.step = int(prov.get("steps", 0))
        # the file's recipe and its own start go along, so a chain of runs keeps every link's settings and cost
        self.started_from = {"file": Path(model.path).name, "steps": self.step,
                             **{k: prov[k] for k in ("train_seconds", "train_cpu_seconds", "device", "torch", "date",
                                                     "recipe", "started_from") if k in prov}}

    def save_checkpoint(self) -> None:
        """Atomic: written to a temporary name and renamed, so a kill mid-write keeps the previous one."""
        if self.rank != 0:
            return
        ck = {"G": self.G.state_dict(), "D": self.D.state_dict(), "g_opt": self.g_opt.state_dict(),
              "d_opt": self.d_opt.state_dict(), "step": self.step, "elapsed": self.elapsed,
              "cpu_seconds": self.cpu_seconds, "started_from": self.started_from,
              "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            ck["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.G_ema is not None:
            ck["G_ema"] = self.G_ema.state_dict()
        tmp = self.checkpoint_path.with_suffix(".pt.part")
        torch.save(ck, tmp)
        os.replace(tmp, self.checkpoint_path)
        self.export()

    @property
    def G_export(self) -> nn.Module:
        """What is sampled, evaluated and shipped: the weight average when the recipe keeps one."""
        return self.G_ema if self.G_ema is not None else self.G

    def export(self, path: Path | None = None) -> Path:
        """The run's model file, usable directly by ``stylize video --model``."""
        provenance = {
            "trainer": "stylize-train", "dataset": self.spec.name, "source": self.spec.source,
            "data_terms": self.spec.terms or "see the dataset's own licence",
            "counts": self.spec.counts,
            "train_images": len(self.train_crops.labels), "test_images": len(self.test_crops.labels),
            "skipped": self.train_crops.skipped, "steps": self.step, "train_seconds": round(self.elapsed),
            "train_cpu_seconds": round(self.cpu_seconds),
            "recipe": asdict(self.cfg), "device": str(self.device), "torch": torch.__version__,
            "arithmetic": "bfloat16 autocast" if self.mixed_precision else "float32",
            "host": platform.machine(), "date": time.strftime("%Y-%m-%d"),
        }
        if self.started_from is not None:
            provenance["started_from"] = self.started_from
        eval_path = self.run_dir / "eval.json"
        if eval_path.exists():
            result = json.loads(eval_path.read_text())
            if result.get("model_steps") == self.step:  # figures of an older model would misdescribe this one
                provenance["eval"] = result
        return save_model(path or self.run_dir / "model.safetensors", self.G_export, self.D, self.spec.schema,
                          self.cfg.image_size, self.spec.alignment, provenance,
                          colour_blur=self.cfg.colour_blur)  # trained through the blur: `stylize` pastes it so

    # --- training ----------------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> tuple[float, float]:
        """Constant, then linear decay to zero over the last ``num_iters_decay`` iterations (the paper's)."""
        start = self.cfg.num_iters - self.cfg.num_iters_decay
        frac = 1.0 if step < start else max(0.0, 1 - (step - start) / max(1, self.cfg.num_iters_decay))
        return self.cfg.g_lr * frac, self.cfg.d_lr * frac

    @property
    def mixed_precision(self) -> bool:
        """bfloat16 autocast: asked (``--amp``, the default) and native here, on CUDA or a CPU that multiplies it
        (``cpu_has_fast_bfloat16``); where bfloat16 is emulated it was not measured faster, so float32 there."""
        return self.cfg.amp and (self.device.type == "cuda" or
                                 (self.device.type == "cpu" and cpu_has_fast_bfloat16()))

    def autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.mixed_precision)

    def generate(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's output (its change's colour blurred, ``--colour-blur``) and, for the masked family, its attention mask
        (for the mask penalties)."""
        if self.cfg.arch == "masked":
            out, mask = self.g_train(x, c, return_mask=True)
        else:
            out, mask = self.g_train(x, c), None
        return self.colour_blurred(x, out), mask

    def colour_blurred(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` with the colour of its change from ``x`` blurred as `stylize --colour-blur` blurs it
        (`translate.blur_colour`; the same share of the crop), so that D, the cycle and every term judge what the
        tool will paste; ``out`` itself when the option is off."""
        if self.cfg.colour_blur <= 0:
            return out
        sigma = self.cfg.colour_blur / 100 * x.shape[-1]
        return x + blur_colour((out - x).float(), sigma, 2 * CHANGE_FLOOR / 255).to(out.dtype)

    def train_step(self, x_real: torch.Tensor, label_org: torch.Tensor, set_index: int,
                   inside: torch.Tensor | None = None) -> dict[str, float]:
        """One critic step, and G's step every ``n_critic``. ``inside``: how much of each pixel lies inside its
        source image (``batches``' fourth item), for ``--hide-padding``."""
        cfg, schema = self.cfg, self.spec.schema
        x_real = x_real.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x_real = x_real.contiguous(memory_format=torch.channels_last)
        label_org = label_org.to(self.device)
        label_trg = (one_group_targets(label_org, schema, set_index, self.rng) if cfg.targets == "one-group"
                     else random_targets(label_org, self.rng)).to(self.device)
        c_org, c_trg = label_org, label_trg  # labels are full c vectors: mask already set per label set
        cls_org, cls_trg = label_org[:, :schema.cls_dim], label_trg[:, :schema.cls_dim]
        # what a projection D_src judges each image against: its own labels (real) or the asked ones (fake)
        src_org = projection_labels(cls_org, schema, set_index) if cfg.d_projection else None
        src_trg = projection_labels(cls_trg, schema, set_index) if cfg.d_projection else None
        uses_r1 = cfg.adv_loss == "nsgan" and cfg.lambda_r1 > 0
        # --reg-every N: D's penalty on every Nth critic step only, N times as heavy (StyleGAN2's lazy regularisation)
        regularise = self.step % cfg.reg_every == 0
        log: dict[str, float] = {}

        with self.autocast():
            x_in = x_real.detach().requires_grad_(True) if uses_r1 and regularise else x_real
            cover = self.cover(x_real, inside)  # --hide-backdrop, --hide-padding: what the critics are not shown
            real_seen = self.seen(cover(x_in))
            real_src, out_cls = self.d_train(real_seen, src_org)
            d_cls = self.classification(out_cls, x_real, cover, src_org, cls_org, set_index)
            with torch.no_grad():
                x_fake = self.colour_blurred(x_real, self.g_train(x_real, c_trg))
            src_shown, d_cls_seen = src_trg, d_cls
            # --negatives: real faces with painted patches, or G's colour on them (train/negatives.py), for the
            # critic as fakes and/or for the classifier with the faces' own labels
            painted = (make_negatives(cfg.negatives, x_real.detach(), x_fake, cfg.negatives_share, self.rng)
                       if cfg.negatives else None)
            to_critic = painted is not None and cfg.negatives_for in ("critic", "both")
            if to_critic:
                x_fake, rows = with_negatives(x_fake, painted)
                if src_trg is not None:  # a painted face is judged against its own labels, as the real one is
                    src_shown = torch.where(rows[:, None], src_org, src_trg)
            k = 0 if painted is None or cfg.negatives_for == "critic" else len(painted)  # for the classifier
            if k and not to_critic:  # a pass of their own, before the fakes' (so the augmentation draws in this order)
                painted_cls = self.d_train(self.seen(cover.first(k)(painted)),
                                           None if src_org is None else src_org[:k])[1]
            fake_seen = self.seen(cover(x_fake.detach()))
            fake_src, fake_cls = self.d_train(fake_seen, src_shown)
            if k:
                if to_critic:  # they lead the fakes, and the critic's pass has read them
                    painted_cls = fake_cls[:k]
                d_cls_painted = classification_loss(painted_cls.float(), cls_org[:k], schema, set_index,
                                                    self.negatives_kept)
                log.update(D_cls_painted=d_cls_painted.item())
                # one mean over every face the classifier saw, real and painted
                d_cls_seen = (len(x_real) * d_cls + k * d_cls_painted) / (len(x_real) + k)
            d_adv = discriminator_adversarial(real_src.float(), fake_src.float(), cfg.adv_loss)
            d_loss = d_adv + cfg.lambda_cls * d_cls_seen
            if regularise:
                d_reg = (cfg.lambda_r1 * r1_penalty(real_src, x_in) if uses_r1 else
                         cfg.lambda_gp * gradient_penalty(self.d_train, real_seen.detach(),
                                                          fake_seen.to(x_real.dtype), src_org, src_shown))
                d_loss = d_loss + cfg.reg_every * d_reg
                log.update(D_reg=d_reg.item())  # at its weight for one step, so lazy and eager runs read alike
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        log.update(D_adv=d_adv.item(), D_cls=d_cls.item())

        if (self.step + 1) % cfg.n_critic == 0:
            with self.autocast():
                x_fake, mask_fake = self.generate(x_real, c_trg)
                out_src, out_cls = self.d_train(self.seen(cover(x_fake)), src_trg)
                g_adv = generator_adversarial(out_src.float(), cfg.adv_loss)
                g_cls = self.classification(out_cls, x_fake, cover, src_trg, cls_trg, set_index)
                x_rec, mask_rec = self.generate(x_fake, c_org)
                g_rec = (x_real - x_rec).abs().float().mean()
                g_loss = g_adv + cfg.lambda_rec * g_rec + cfg.lambda_cls * cfg.g_cls_scale * g_cls
                if mask_fake is not None:
                    (m_f, tv_f), (m_r, tv_r) = mask_penalties(mask_fake), mask_penalties(mask_rec)
                    g_loss = g_loss + cfg.lambda_mask * (m_f + m_r) + cfg.lambda_tv * (tv_f + tv_r)
                    log.update(G_mask=m_f.item())
                    if self.teacher is not None:
                        rows = edits_within(cls_org, cls_trg, schema, self.taught)  # all of them when none named
                        g_excess, g_quiet = teacher_bounds(mask_fake, x_fake - x_real, self.teacher, x_real, c_trg,
                                                           rows)
                        g_loss = g_loss + cfg.lambda_teacher * g_excess + cfg.lambda_teacher_change * g_quiet
                        log.update(G_excess=g_excess.item(), G_quiet=g_quiet.item())
                if cfg.lambda_change_tv > 0:
                    g_change_tv = change_tv(x_fake, x_real)
                    g_loss = g_loss + cfg.lambda_change_tv * g_change_tv
                    log.update(G_change_tv=g_change_tv.item())
                if self.guide is not None:
                    g_guide = guide_loss(self.guide, cover(x_fake), cls_trg, schema, set_index, self.rng,
                                         self.guided)
                    g_loss = g_loss + cfg.lambda_guide * g_guide
                    log.update(G_guide=g_guide.item())
                if cfg.lambda_id > 0:  # asked for its own labels, G should hand the face back unchanged
                    g_id = (self.generate(x_real, c_org)[0] - x_real).abs().float().mean()
                    g_loss = g_loss + cfg.lambda_id * g_id
                    log.update(G_id=g_id.item())
                if self.prototypes is not None:
                    target, rows = self.prototypes.targets(x_real, cls_org, cls_trg, set_index)
                    g_proto = prototype_loss(x_fake, target, rows)
                    g_loss = g_loss + cfg.lambda_proto * g_proto
                    log.update(G_proto=g_proto.item())
                if cfg.lambda_green > 0 or cfg.lambda_vivid > 0 or self.skin is not None or self.backdrop is not None:
                    lab_fake, lab_real = lab_of(x_fake), lab_of(x_real)  # once for every Lab charge below
                if cfg.lambda_green > 0:
                    g_green = greener(lab_fake, lab_real)
                    g_loss = g_loss + cfg.lambda_green * g_green
                    log.update(G_green=g_green.item())
                if self.backdrop is not None:  # the skin's charge, over the backdrop, at the skin's margin
                    g_backdrop = lab_moved(lab_fake, lab_real, self.backdrop, cfg.skin_margin)
                    g_loss = g_loss + cfg.lambda_backdrop * g_backdrop
                    log.update(G_backdrop=g_backdrop.item())
                if cfg.lambda_vivid > 0:
                    g_vivid = more_vivid(lab_fake, lab_real, cfg.vivid_floor)
                    g_loss = g_loss + cfg.lambda_vivid * g_vivid
                    log.update(G_vivid=g_vivid.item())
                if self.skin is not None:
                    g_skin = lab_moved(lab_fake, lab_real, self.skin, cfg.skin_margin)
                    g_loss = g_loss + cfg.lambda_skin * g_skin
                    log.update(G_skin=g_skin.item())
                if self.colour_guide is not None:
                    g_colour, g_match = colour_guide_losses(self.colour_guide, x_fake, cls_trg, schema)
                    g_loss = g_loss + cfg.lambda_colour_guide * g_colour + cfg.lambda_colour_match * g_match
                    log.update(G_colour=g_colour.item(), G_match=g_match.item())
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            self.update_ema()
            log.update(G_adv=g_adv.item(), G_rec=g_rec.item(), G_cls=g_cls.item())
        return log

    def classification(self, logits: torch.Tensor, x: torch.Tensor, cover: Cover,
                       src: torch.Tensor | None, labels: torch.Tensor, set_index: int) -> torch.Tensor:
        """D's classification loss of ``x`` against ``labels``, from ``logits`` (D's reading of ``x`` as shown).
        With ``--hair-cls-hides-face`` the hair group is read instead from a pass of its own with the inner face grey:
        `stylize --region auto` pastes a hair edit outside the inner face only, so G must not earn a hair colour by
        tinting the eyes or skin (blond goes with lighter ones in CelebA), and every bit of it must be in the hair."""
        schema = self.spec.schema
        if self.hidden_face is None:
            return classification_loss(logits.float(), labels, schema, set_index)
        blind = self.d_train(self.seen(cover(x) * (1 - self.hidden_face)), src)[1]  # 0 is mid grey
        loss = classification_loss(blind.float(), labels, schema, set_index, self.blind_groups)
        if self.sighted_groups:
            loss = loss + classification_loss(logits.float(), labels, schema, set_index, self.sighted_groups)
        return loss

    def cover(self, x_real: torch.Tensor, inside: torch.Tensor | None) -> Cover:
        """What D and G's guide are not shown of this batch. ``--hide-backdrop``: each face's backdrop (outside
        ``regions.head``) is its neighbour's in the batch. Real blonds' backdrops are brighter than black-haired
        people's in CelebA, so a critic that sees them could reward G for lighting the backdrop round a head
        (docs/celeba-experiments.md: the glow of guided runs lies inside the head region, and stayed).
        ``--hide-padding``: what lies outside each crop's source image is mid grey. The aligner fills it by
        reflection, which on CelebA's loose crops is most of every crown: a critic shown it takes mirrored hair for
        real and pays G to paint it (the streaks over edited crowns)."""
        keep, fill = None, 0.0
        if self.head is not None:
            keep, fill = self.head, (1 - self.head) * x_real.roll(1, 0)
        if inside is not None and self.cfg.hide_padding:
            inside = inside.to(self.device)
            keep = inside if keep is None else keep * inside
            fill = fill * inside
        return Cover(keep, fill)

    def seen(self, x: torch.Tensor) -> torch.Tensor:
        """What D is shown of ``x``: ``--augment``'s shifted and blanked copy (differentiable), or ``x``."""
        return augment(x, self.policy, self.rng)

    def ema_decay(self) -> float:
        """β for this step: ``--ema`` (StarGAN v2's 0.999), warmed up as (1 + t) / (10 + t) while that is smaller.
        Without the warm-up a short run exports mostly its random start: 0.999 ** 1000 still weighs the initial
        weights by 37%, and a CPU budget buys a few thousand steps."""
        return min(self.cfg.ema, (1 + self.step) / (10 + self.step))

    @torch.no_grad()
    def update_ema(self) -> None:
        """StarGAN v2's moving average: θ_ema ← β·θ_ema + (1−β)·θ; buffers are copied."""
        if self.G_ema is None:
            return
        ema, live = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, live, 1.0 - self.ema_decay())
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def out_of_budget(self) -> bool:
        cfg = self.cfg
        return bool((cfg.max_seconds and self.elapsed >= cfg.max_seconds)
                    or (cfg.max_cpu_seconds and self.cpu_seconds >= cfg.max_cpu_seconds))

    def train(self, until: int | None = None, progress: bool = True) -> None:
        """Trains to step ``until`` (default ``num_iters``) or until the time budget is spent. Ctrl-C or a kill
        signal saves a checkpoint first."""
        cfg = self.cfg
        until = cfg.num_iters if until is None else min(until, cfg.num_iters)
        stream = batches(self.train_crops, cfg.batch_size, self.rng, start=self.step)
        log_path = self.run_dir / "losses.csv" if self.rank == 0 else Path(os.devnull)
        # a column per term this run has, so that an older run's header stays valid
        fields = ["step", "seconds", "cpu_seconds", "g_lr", "D_adv", "D_cls", "D_reg", "G_adv", "G_rec", "G_cls",
                  "G_mask"] + (["G_guide"] if self.guide is not None else []) + (
                  ["G_excess"] if self.teacher is not None else []) + (
                  ["G_quiet"] if self.teacher is not None and cfg.lambda_teacher_change > 0 else []) + (
                  ["G_colour", "G_match"] if self.colour_guide is not None else []) + (
                  ["G_change_tv"] if cfg.lambda_change_tv > 0 else []) + (
                  ["G_green"] if cfg.lambda_green > 0 else []) + (
                  ["G_skin"] if cfg.lambda_skin > 0 else []) + (
                  ["G_vivid"] if cfg.lambda_vivid > 0 else []) + (
                  ["G_backdrop"] if cfg.lambda_backdrop > 0 else []) + (
                  ["G_id"] if cfg.lambda_id > 0 else []) + (
                  ["G_proto"] if cfg.lambda_proto > 0 else []) + (
                  ["D_cls_painted"] if cfg.negatives and cfg.negatives_for != "critic" else [])
        if self.rank == 0:  # rows a killed run logged past its last checkpoint go; before its first, all of them
            trim_log(log_path, self.step)
        new_log = self.rank == 0 and (not log_path.exists() or log_path.stat().st_size == 0)
        writer_tb = self.tensorboard()
        bar = tqdm(total=until, initial=self.step, desc="training", unit="it", disable=not progress or self.rank)
        last_g: dict[str, float] = {}
        saved = time.monotonic()  # a kill no handler sees (SIGKILL, the session's end) loses at most this much
        restore = None
        if threading.current_thread() is threading.main_thread():
            restore = signal.signal(signal.SIGTERM, _raise_interrupt)  # a kill saves a checkpoint like Ctrl-C
        try:
            with open(log_path, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                if new_log:
                    writer.writeheader()
                while self.step < until and not self.out_of_budget():
                    t0, c0 = time.perf_counter(), time.process_time()
                    g_lr, d_lr = self.lr_at(self.step)
                    for group in self.g_opt.param_groups:
                        group["lr"] = g_lr
                    for group in self.d_opt.param_groups:
                        group["lr"] = d_lr
                    log = self.train_step(*next(stream))
                    last_g.update({k: v for k, v in log.items() if k.startswith("G_")})
                    self.step += 1
                    self.elapsed += time.perf_counter() - t0
                    self.cpu_seconds += time.process_time() - c0
                    bar.update(1)
                    if self.step % cfg.log_every == 0 and self.rank == 0:
                        row = {"step": self.step, "seconds": round(self.elapsed, 1),
                               "cpu_seconds": round(self.cpu_seconds, 1), "g_lr": g_lr, **log, **last_g}
                        writer.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()})
                        f.flush()
                        bar.set_postfix(D_cls=f"{log['D_cls']:.3f}", G_rec=f"{last_g.get('G_rec', 0):.3f}")
                        if writer_tb:
                            for k, v in log.items():
                                writer_tb.add_scalar(k, v, self.step)
                    if self.step % cfg.sample_every == 0:
                        self.sample_grid()
                    if self.step % cfg.checkpoint_every == 0 or (
                            cfg.checkpoint_minutes and time.monotonic() - saved >= 60 * cfg.checkpoint_minutes):
                        self.save_checkpoint()
                        saved = time.monotonic()
        except KeyboardInterrupt:
            bar.close()
            self.save_checkpoint()
            raise
        finally:
            if restore is not None:
                signal.signal(signal.SIGTERM, restore)
        bar.close()
        self.save_checkpoint()
        self.sample_grid()

    def close(self) -> None:
        """Leaves the process group of a multi-process (torchrun) run."""
        if self.dist and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def tensorboard(self):
        if self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    @torch.no_grad()
    def sample_grid(self, n: int = 8) -> Path | None:
        """PNG grid: each row a held-out image, then that image translated to every value of every group."""
        if self.rank != 0:
            return None
        path = self.run_dir / "samples" / f"{self.step:06d}.png"
        path.parent.mkdir(exist_ok=True)
        save_image(translate_grid(self.G_export, self.spec.schema, self.test_crops, n, self.device,
                                  self.colour_blurred), path)
        return path


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def trim_log(path: Path, step: int) -> None:
    """Drops the rows logged after ``step``: a run killed past its last checkpoint resumes from that step, and its
    log would otherwise hold those iterations twice."""
    if not path.exists():
        return
    if step == 0:  # a fresh run: whatever is there came from one that never saved a checkpoint
        path.unlink()
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if logged_step(line) <= step]
    if len(kept) < len(lines):
        tmp = path.with_suffix(".csv.part")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)


def logged_step(line: str) -> float:
    """The step a losses.csv row was logged at; infinity for a row torn by a kill mid-write (dropped with the rest)."""
    try:
        return int(line.split(",", 1)[0]) if line.endswith("\n") else math.inf
    except ValueError:
        return math.inf


def targets_for_each_value(schema, label: np.ndarray, set_index: int) -> list[np.ndarray]:
    """For one image's label vector: one target per value of every group of its label set, the rest kept."""
    own = schema.decode(label, set_index)
    out = []
    for g in schema.label_sets[set_index].groups:
        for v in g.values:
            out.append(schema.encode({**own, g.name: v}, set_index))
    return out


def translate_grid(G: nn.Module, schema, crops: Crops, n: int, device: torch.device,
                   shown: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Rows of [input, translations to each value], in [0, 1], stacked vertically; ``shown`` turns (input, G's
    output) into what the run's edits look like (`Trainer.colour_blurred`)."""
    was_training = G.training
    G.eval()
    idx = np.linspace(0, len(crops.labels) - 1, min(n, len(crops.labels))).round().astype(int)
    rows = []
    for i in idx:
        x = to_tensor(crops.images[i:i + 1]).to(device)
        targets = targets_for_each_value(schema, crops.labels[i], int(crops.sets[i]))
        c = torch.from_numpy(np.stack(targets)).to(device)
        x_each = x.expand(len(targets), -1, -1, -1)
        fake = G(x_each, c) if shown is None else shown(x_each, G(x_each, c))
        rows.append(torch.cat([x[0], *fake], dim=2))
    G.train(was_training)
    width = max(r.shape[2] for r in rows)  # joint sets: rows of different label sets differ in length
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[2]), value=-1.0) for r in rows]
    return (torch.cat(rows, dim=1) + 1) / 2
