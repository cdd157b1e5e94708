"""A clean model's attention mask as a bound on where G may act (``--mask-teacher``).

A generator pushed hard toward its targets (``--lambda-guide``) learns to act over much of the crop: on CelebA its
mask covers the background too, and a blond edit then lights a glow round dark heads. A masked model trained
without that push (the bundled ``celeba``) keeps its mask mostly on the hair: a weakly supervised hair segmentation,
learnt from the attribute labels alone. Here the teacher's mask for the same input and target bounds the student's:
what the student's mask puts beyond the teacher's costs it; inside, it is free to change colour as far as it needs.
The teacher is only read in training; the exported model is the student alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from stylize.models.errors import ModelFileError
from stylize.models.modelfile import load_model
from stylize.models.schema import DomainSchema


def load_teacher(path: str | Path, schema: DomainSchema, image_size: int, device: str | torch.device) -> nn.Module:
    """The teacher's generator, frozen, after checking it can speak for this run: an attention-mask model of the
    same labels and crop size. Raises ValueError with a one-line reason otherwise."""
    try:
        model = load_model(path, device, with_discriminator=False)
    except ModelFileError as e:
        raise ValueError(f"--mask-teacher: {e}") from None
    if not model.generator.sizes().get("mask"):
        raise ValueError(f"--mask-teacher: {path} has no attention mask (its generator paints every pixel)")
    if model.schema.to_json() != schema.to_json():
        raise ValueError(f"--mask-teacher: {path} has other labels ({model.schema.describe()}) than this run "
                         f"({schema.describe()})")
    if model.image_size != image_size:
        raise ValueError(f"--mask-teacher: {path} works at {model.image_size} px, this run at {image_size} px")
    return model.generator.eval().requires_grad_(False)


def excess_mask(student: torch.Tensor, teacher: nn.Module, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Mean of how far the student's mask (N×1×S×S) rises above the teacher's for the same input and target."""
    with torch.no_grad():
        _, bound = teacher(x, c, return_mask=True)
    return (student.float() - bound.float()).clamp_min(0).mean()
