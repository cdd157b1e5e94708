"""StarGAN's losses (§3.1 of the paper): WGAN-GP adversarial, domain classification, cycle reconstruction."""

from __future__ import annotations

from collections.abc import Collection

import torch
import torch.nn.functional as F

from stylize.models.schema import DomainSchema


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, schema: DomainSchema, set_index: int,
                        only: Collection[str] = ()) -> torch.Tensor:
    """Per group of the active label set: cross-entropy for one-hot groups (RaFD expressions, anime/sketch),
    binary cross-entropy for binary groups (CelebA's Male, Young). Groups of other label sets are ignored,
    which is how the mask vector lets one D learn from datasets with different labels. ``only``: just these
    groups (all when empty)."""
    total = logits.new_zeros(())
    for g in schema.label_sets[set_index].groups:
        if only and g.name not in only:
            continue
        sl = schema.slice(g.name)
        if g.kind == "binary":
            total = total + F.binary_cross_entropy_with_logits(logits[:, sl], labels[:, sl], reduction="sum")
        else:
            total = total + F.cross_entropy(logits[:, sl], labels[:, sl].argmax(1), reduction="sum")
    return total / logits.size(0)


def gradient_penalty(discriminator: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     c_real: torch.Tensor | None = None, c_fake: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (‖∇D(x̂)‖₂ − 1)² on random interpolates of real and fake; a conditional
    D (``c_real``, ``c_fake``: the labels each side is judged with) sees the labels interpolated alike."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    c_hat = None
    if c_real is not None and c_fake is not None:
        a = alpha.view(-1, 1).to(c_real.dtype)
        c_hat = a * c_real + (1 - a) * c_fake
    out_src, _ = discriminator(x_hat, c_hat)
    grad = torch.autograd.grad(out_src.sum(), x_hat, create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def projection_labels(labels: torch.Tensor, schema: DomainSchema, set_index: int) -> torch.Tensor:
    """The labels a projection D_src is conditioned on: one-hot groups as they are, binary groups as ±1 (so that
    "female" is a direction of its own, not the absence of "male"), groups of other label sets 0."""
    out = torch.zeros_like(labels)
    for g in schema.label_sets[set_index].groups:
        sl = schema.slice(g.name)
        out[:, sl] = labels[:, sl] * 2 - 1 if g.kind == "binary" else labels[:, sl]
    return out


def random_targets(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Target labels for a batch: the batch's own labels, shuffled (the original code's choice), so targets
    follow the data's label distribution and combinations that never occur are not asked for."""
    return labels[torch.randperm(labels.size(0), generator=generator)]


def one_group_targets(labels: torch.Tensor, schema: DomainSchema, set_index: int, generator: torch.Generator
                      ) -> torch.Tensor:
    """Target labels that change one group per image, to another of its values, the rest kept: the edits `stylize`
    asks for (``--hair blond`` alone), where shuffled labels change every group at once and ask for the data's
    common values most (black hair 46% of CelebA's faces, gray 5%)."""
    groups = schema.label_sets[set_index].groups
    out = labels.clone()
    picks = torch.randint(len(groups), (labels.size(0),), generator=generator).tolist()
    shifts = torch.rand(labels.size(0), generator=generator).tolist()
    for i, (k, u) in enumerate(zip(picks, shifts, strict=True)):
        g, sl = groups[k], schema.slice(groups[k].name)
        if g.kind == "binary":
            out[i, sl] = 1 - labels[i, sl]
        else:  # one of the other values, uniformly
            own = int(labels[i, sl].argmax())
            new = (own + 1 + int(u * (len(g.values) - 1))) % len(g.values)
            out[i, sl] = 0
            out[i, sl.start + new] = 1
    return out


TARGETS = ("shuffle", "one-group")


def discriminator_adversarial(out_real: torch.Tensor, out_fake: torch.Tensor, kind: str) -> torch.Tensor:
    """D's adversarial loss: the paper's Wasserstein critic (``wgan-gp``) or the non-saturating logistic loss
    (``nsgan``, Goodfellow et al. 2014) that StarGAN v2 trains with, regularised by R1 instead of a GP."""
    if kind == "wgan-gp":
        return out_fake.mean() - out_real.mean()
    return F.softplus(-out_real).mean() + F.softplus(out_fake).mean()


def generator_adversarial(out_fake: torch.Tensor, kind: str) -> torch.Tensor:
    return -out_fake.mean() if kind == "wgan-gp" else F.softplus(-out_fake).mean()


def r1_penalty(out_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ½‖∇D(x)‖² on real images only, which is what makes a non-saturating GAN
    converge; ``real`` must have required grad when ``out_real`` was computed."""
    grad = torch.autograd.grad(out_real.sum(), real, create_graph=True)[0]
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean()


def total_variation(x: torch.Tensor, power: int) -> torch.Tensor:
    """Mean |difference| ** power between vertical neighbours plus that between horizontal ones (NCHW)."""
    return ((x[:, :, 1:] - x[:, :, :-1]).abs().pow(power).mean()
            + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().pow(power).mean())


def mask_penalties(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GANimation's two mask terms: the mean (so the mask does not simply select the colour image everywhere)
    and the total variation (so it is smooth rather than speckled)."""
    mask = mask.float()
    return mask.mean(), total_variation(mask, 2)


def change_tv(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute total variation of G's change (fake - real): fine patterns G adds over the face (stripes,
    speckle: what fooled a classifier, docs/celeba-experiments.md) cost much, a smooth recolour little, and the
    input's own edges nothing, since they cancel in the difference."""
    return total_variation((fake - real).float(), 1)
