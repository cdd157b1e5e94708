"""StarGAN's losses (§3.1 of the paper): WGAN-GP adversarial, domain classification, cycle reconstruction."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylize.models.schema import DomainSchema


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, schema: DomainSchema, set_index: int
                        ) -> torch.Tensor:
    """Per group of the active label set: cross-entropy for one-hot groups (RaFD expressions, anime/sketch),
    binary cross-entropy for binary groups (CelebA's Male, Young). Groups of other label sets are ignored,
    which is how the mask vector lets one D learn from datasets with different labels."""
    total = logits.new_zeros(())
    for g in schema.label_sets[set_index].groups:
        sl = schema.slice(g.name)
        if g.kind == "binary":
            total = total + F.binary_cross_entropy_with_logits(logits[:, sl], labels[:, sl], reduction="sum")
        else:
            total = total + F.cross_entropy(logits[:, sl], labels[:, sl].argmax(1), reduction="sum")
    return total / logits.size(0)


def gradient_penalty(discriminator: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (‖∇D(x̂)‖₂ − 1)² on random interpolates of real and fake."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out_src, _ = discriminator(x_hat)
    grad = torch.autograd.grad(out_src.sum(), x_hat, create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def random_targets(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Target labels for a batch: the batch's own labels, shuffled (the original code's choice), so targets
    follow the data's label distribution and combinations that never occur are not asked for."""
    return labels[torch.randperm(labels.size(0), generator=generator)]
