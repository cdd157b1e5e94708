"""Negative examples for D (``--negatives``): real faces with painted colour patches, or in G's colours, shown to
its critic as fakes or to its classifier with their own labels.

Why: the longer a CelebA run trains, the more of its gender and hair edits are made of small saturated patches
(orange or green eye shadow, red lips, rainbow streaks in the hair; docs/celeba-experiments.md, *On a GPU*), and D
lets them pass: a real face with make-up is not far from one. Negative data augmentation (Sinha et al. 2021, "Negative
Data Augmentation") shows D examples of what the data is not, labelled fake, so that the fault itself is what D
learns to reject, and G is pushed off it. Here the negatives are the batch's own real faces with a few soft
ellipses of a saturated colour painted over them, anywhere on the crop: eye shadow, lips and streaks are all such
ellipses. A share of each critic batch's generated images is replaced by them (``--negatives-for critic``), so D's
losses, its gradient penalty and its augmentation treat them as they treat G's images.

The critic is not the only part of D that G exploits: G's classification term asks D's classifier, which has seen
real faces only, and a patch of eye shadow reads as "female" to a classifier that never saw a man wearing it.
``--negatives-for classifier`` shows the classifier the painted faces with their own labels (a painted man is still
a man), so that a patch stops changing what it reads, and G's classification term stops rewarding one; ``both``
does both with the same painted faces.

Random ellipses are not G's patches, though: D's classifier already reads gender through most of them (a probe of
the bundled model's D: 5.5% of painted held-out faces change its gender reading, where G's gender edits move its
logit six times as far). ``--negatives g-colour`` makes the negatives from G's own edits instead: the edited face's
colour on the real face's luminance (the edit's chroma, none of its light and shade). A classifier shown these with
the face's own labels learns that G's colour alone changes no gender or age, so what G's edit must change is the
face's light and shade, as the greyscale judge of ``stylize-train eval`` reads it. Hair colour is a colour, so the
hair groups (``COLOUR_GROUPS``) are left out of the classifier's loss on these.
"""

from __future__ import annotations

import math

import torch

KINDS = ("patches", "g-colour")  # --negatives
COLOUR_GROUPS = frozenset({"hair"})  # groups that a recolouring changes: g-colour negatives keep no label of them
USES = ("critic", "classifier", "both")  # --negatives-for: which of D's outputs is shown the negatives
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


def g_colour(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``fake``'s chroma on ``real``'s luminance (Rec. 601 luma, images in [-1, 1]): each pixel of ``fake`` moved
    by one grey amount, the same for its three channels, to the real pixel's luma."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=real.device, dtype=torch.float32).view(1, 3, 1, 1)
    luma = lambda t: (t.float() * weights).sum(1, keepdim=True)  # noqa: E731
    return (fake.float() + luma(real) - luma(fake)).clamp(-1, 1).to(fake.dtype)


def make_negatives(kind: str, real: torch.Tensor, fake: torch.Tensor, share: float, generator: torch.Generator
                   ) -> torch.Tensor:
    """The first ``round(share * N)`` rows of the batch as negatives of ``kind`` (``KINDS``): ``real`` painted
    (``paint_patches``) or ``fake``'s colour on ``real``'s luminance (``g_colour``); none when the share rounds
    to 0."""
    k = round(share * len(real))
    if k == 0:
        return real[:0]
    return paint_patches(real[:k], generator) if kind == "patches" else g_colour(real[:k], fake[:k])


def with_negatives(fake: torch.Tensor, painted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(``fake`` with its first rows replaced by the K ``painted`` faces, N bools marking them): the batch D is
    shown as generated."""
    k = len(painted)
    rows = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    rows[:k] = True
    if k == 0:
        return fake, rows
    mixed = fake.clone()
    mixed[:k] = painted.to(fake.dtype)
    return mixed, rows
