"""A clean model's attention mask as a bound on where G may act (``--mask-teacher``).

A generator pushed hard toward its targets (``--lambda-guide``) learns to act over much of the crop: on CelebA its
mask covers the background too, and a blond edit then lights a glow round dark heads. A masked model trained
without that push (the bundled ``celeba``) keeps its mask mostly on the hair: a weakly supervised hair segmentation,
learnt from the attribute labels alone. Here the teacher's mask for the same input and target bounds the student's:
what the student's mask puts beyond the teacher's costs it; inside, it is free to change colour as far as it needs.
The teacher is only read in training; the exported model is the student alone.

The mask bound alone lets a faint mask carry a loud colour: with the mask's low-pass filters (``--smooth-fields``)
the guided student lit a glow round dark heads with a mask of 0.07 over a colour a full grey range brighter than the
backdrop. ``--lambda-teacher-change`` charges the student's change itself where the teacher is quiet (its mask
under ``TEACHER_QUIET``: three quarters of a CelebA crop, the teacher's hair reads 0.4-0.55), fading to free as the
teacher's mask rises to it.

The bundled teacher barely acts for gender or age (its gender edits flip 14% / 2%), so its bound might keep a student
from learning them. ``--teacher-groups hair`` bounds only the edits that change nothing but the hair, the ones
``--hair`` asks for; an edit that also changes gender or age is the student's own. Measured
(docs/celeba-experiments.md): freed, gender edits stayed as weak under D alone or a robust guide, and under the plain
guide became eyeshadow a classifier reads.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch
from torch import nn

from stylize.models.modelfile import load_for_run
from stylize.models.schema import DomainSchema


def load_teacher(path: str | Path, schema: DomainSchema, image_size: int, device: str | torch.device) -> nn.Module:
    """The teacher's generator, frozen, after checking it can speak for this run: an attention-mask model of the
    same labels and crop size. Raises ValueError with a one-line reason otherwise."""
    model = load_for_run(path, schema, image_size, "--mask-teacher")
    if not model.generator.sizes().get("mask"):
        raise ValueError(f"--mask-teacher: {path} has no attention mask (its generator paints every pixel)")
    return model.generator.to(device).eval().requires_grad_(False)


TEACHER_QUIET = 0.1  # the teacher's mask below this: where it does not act


def edits_within(label_org: torch.Tensor, label_trg: torch.Tensor, schema: DomainSchema,
                 groups: Collection[str]) -> torch.Tensor:
    """N floats: 1 where the target (N×cls_dim labels) differs from the input's own labels in ``groups`` alone,
    else 0; all 1 when ``groups`` is empty (``--teacher-groups``: the edits the teacher bounds)."""
    if not groups:
        return torch.ones(len(label_org), device=label_org.device)
    outside = torch.ones(label_org.shape[1], dtype=torch.bool, device=label_org.device)
    for name in groups:
        outside[schema.slice(name)] = False
    return (label_org[:, outside] == label_trg[:, outside]).all(1).float()


def teacher_bounds(student: torch.Tensor, change: torch.Tensor, teacher: nn.Module, x: torch.Tensor,
                   c: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For the same input and target, (mean of how far the student's mask N×1×S×S rises above the teacher's, mean
    absolute change N×3×S×S where the teacher is quiet, weighted by 1 - its mask / ``TEACHER_QUIET``); ``rows``
    (N weights, ``edits_within``) keeps only the bounded edits' terms, still averaged over all N."""
    with torch.no_grad():
        _, bound = teacher(x, c, return_mask=True)
    bound = bound.float()
    quiet = (1 - bound / TEACHER_QUIET).clamp_min(0)
    excess = (student.float() - bound).clamp_min(0).mean((1, 2, 3))
    loud = (change.float().abs().mean(1, keepdim=True) * quiet).mean((1, 2, 3))
    if rows is not None:
        excess, loud = excess * rows, loud * rows
    return excess.mean(), loud.mean()
