"""Negative examples for the critic (``--negatives``): real faces with painted colour patches, shown to D as fakes.

Why: the longer a CelebA run trains, the more of its gender and hair edits are made of small saturated patches
(orange or green eye shadow, red lips, rainbow streaks in the hair; docs/celeba-experiments.md, *On a GPU*), and D
lets them pass: a real face with make-up is not far from one. Negative data augmentation (Sinha et al. 2021, "Negative
Data Augmentation") shows D examples of what the data is not, labelled fake, so that the fault itself is what D
learns to reject, and G is pushed off it. Here the negatives are the batch's own real faces with a few soft
ellipses of a saturated colour painted over them, anywhere on the crop: eye shadow, lips and streaks are all such
ellipses. A share of each critic batch's generated images is replaced by them, so D's losses, its gradient penalty
and its augmentation treat them as they treat G's images.
"""

from __future__ import annotations

import math

import torch

KINDS = ("patches",)  # --negatives
PATCHES = (1, 4)  # patches an image, fewest and most
AXES = (1 / 24, 1 / 5)  # an ellipse's half-axes, shortest and longest, as a share of the image side
ALPHA = (0.35, 0.75)  # how opaque a patch is at its centre, least and most


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """N hue (0-1), saturation and value → N×3 RGB in [0, 1]."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def paint_patches(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``x`` (N×3×H×W in [-1, 1]) with 1-4 soft ellipses of a random saturated colour painted over each image,
    each with its own centre, axes, angle and opacity (drawn from ``generator``, on the CPU; painted on ``x``'s
    device, so a GPU run sends no images to the CPU)."""
    n, _, h, w = x.shape
    m = PATCHES[1]
    draw = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    count = torch.randint(PATCHES[0], PATCHES[1] + 1, (n, 1), generator=generator)
    used = (torch.arange(m).view(1, m) < count).float()  # N×M: which of the M patch slots an image paints
    cy, cx = draw(n, m) * h, draw(n, m) * w
    side = float(min(h, w))
    ay = side * (AXES[0] + (AXES[1] - AXES[0]) * draw(n, m))
    ax = side * (AXES[0] + (AXES[1] - AXES[0]) * draw(n, m))
    angle = draw(n, m) * math.pi
    alpha = (ALPHA[0] + (ALPHA[1] - ALPHA[0]) * draw(n, m)) * used
    colour = hsv_to_rgb(draw(n * m), 0.7 + 0.3 * draw(n * m), 0.6 + 0.4 * draw(n * m)).view(n, m, 3) * 2 - 1
    cy, cx, ay, ax, angle, alpha, colour = (t.to(x.device) for t in (cy, cx, ay, ax, angle, alpha, colour))

    rows = torch.arange(h, dtype=torch.float32, device=x.device).view(1, 1, h, 1) + 0.5
    cols = torch.arange(w, dtype=torch.float32, device=x.device).view(1, 1, 1, w) + 0.5
    dy, dx = rows - cy[..., None, None], cols - cx[..., None, None]
    cos, sin = angle.cos()[..., None, None], angle.sin()[..., None, None]
    u, v = (dx * cos + dy * sin) / ax[..., None, None], (dy * cos - dx * sin) / ay[..., None, None]
    # N×M×H×W: at full opacity out to 0.7 of the axes, fading to nothing at the ellipse's edge
    cover = ((1 - (u * u + v * v)) * 2).clamp(0, 1) * alpha[..., None, None]
    out = x.float()
    for j in range(m):  # painted one over another, in order
        a = cover[:, j:j + 1]
        out = out * (1 - a) + colour[:, j, :, None, None] * a
    return out.to(x.dtype)


def with_negatives(fake: torch.Tensor, real: torch.Tensor, share: float, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(``fake`` with its first ``round(share * N)`` rows replaced by those rows of ``real`` painted with patches,
    N bools marking them): the batch D is shown as generated."""
    k = round(share * len(fake))
    rows = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    if k == 0:
        return fake, rows
    rows[:k] = True
    mixed = fake.clone()
    mixed[:k] = paint_patches(real[:k], generator).to(fake.dtype)
    return mixed, rows
