"""A StarGAN generator built for small compute budgets: resize-convolution up-sampling and an attention mask.

Two changes to the paper's Table 1, each from a paper that measured it:

- **Resize-convolution** (Odena et al., Distill 2016): nearest-neighbour ×2 then a 3×3 convolution instead of a
  4×4 stride-2 transposed convolution, whose uneven kernel overlap paints a checkerboard that a short training
  run never learns away.
- **Attention mask** (GANimation, Pumarola et al. ECCV 2018): the decoder ends in two heads, a colour image ``C``
  (tanh) and a mask ``A`` (sigmoid), and the output is ``A·C + (1−A)·x``. Where the edit needs no change the
  input's own pixels come through, so identity, background, sharpness and temporal stability cost nothing to
  learn; training penalises the mask's mean and roughness so it stays on what the target domain needs.

With ``mask=False`` the colour head is the output (for edits that change nearly every pixel, such as
photo→anime), keeping the resize-convolution decoder.

``colour="affine"`` (not in either paper) makes ``C`` a recolouring of the input instead of a painting: the
bottleneck predicts a 3×4 colour matrix per cell of its coarse grid (a quarter of the image's side), bilinearly
up-sampled, and ``C = M·x + b`` per pixel, as HDRNet's local affine colour transforms do (Gharbi et al. 2017).
Strands, shading and edges under the mask are the input's own; G only chooses how colours move, smoothly in
space, and the mask where. It starts as the identity (``C = x``). ``colour="global"`` predicts one 3×4 matrix per
image (the bottleneck averaged over the face), as a colourist grades a shot: every pixel of one colour moves to the
same new colour, so the colour cannot vary in streaks or cells over the hair, and where it acts is the mask's alone.

``smooth=True`` (not in either paper) puts fixed binomial low-pass filters inside the network: on the mask (5 taps,
after the sigmoid, so about one pixel of softness at model size) and on the affine grid (3 taps, before its
up-sampling, so neighbouring cells cannot alternate). A guide rewarded fine stripes in either field (the plaid in
docs/celeba-experiments.md); filtered, neither can carry them, whatever the weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .stargan import InstanceNorm, encoder_layers

# how the colour image C is made: painted (tanh), or the input recoloured per grid cell or for the whole image
COLOURS = ("rgb", "affine", "global")


class MaskedGenerator(nn.Module):
    """Encoder and bottleneck as in Table 1; decoder of resize-convolutions; colour and mask heads."""

    arch = "masked"

    def __init__(self, conv_dim: int = 32, c_dim: int = 5, repeat_num: int = 6, mask: bool = True,
                 colour: str = "rgb", smooth: bool = False) -> None:
        super().__init__()
        if colour not in COLOURS:
            raise ValueError(f"unknown colour head '{colour}' (known: {', '.join(COLOURS)})")
        self.conv_dim, self.c_dim, self.repeat_num, self.mask = conv_dim, c_dim, repeat_num, mask
        self.colour, self.smooth = colour, smooth
        layers, dim = encoder_layers(conv_dim, c_dim, repeat_num)
        self.encoder_len = len(layers)
        # 12 numbers per grid cell: a 3x3 matrix and a bias, as offsets from the identity (zero at the start)
        self.affine = (nn.Conv2d(dim, 12, kernel_size=3, stride=1, padding=1) if colour == "affine" else
                       nn.Conv2d(dim, 12, kernel_size=1) if colour == "global" else None)
        if self.affine is not None:
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)
        for _ in range(2):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(dim, dim // 2, kernel_size=3, stride=1, padding=1, bias=False),
                InstanceNorm(dim // 2),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        self.main = nn.Sequential(*layers)
        self.color = (nn.Sequential(nn.Conv2d(dim, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh())
                      if colour == "rgb" else None)
        self.attention = (nn.Sequential(nn.Conv2d(dim, 1, kernel_size=7, stride=1, padding=3, bias=False),
                                        nn.Sigmoid()) if mask else None)

    def sizes(self) -> dict:
        sizes = {"arch": self.arch, "conv_dim": self.conv_dim, "c_dim": self.c_dim, "repeat_num": self.repeat_num,
                 "mask": self.mask}
        sizes = sizes if self.colour == "rgb" else {**sizes, "colour": self.colour}
        return {**sizes, "smooth": True} if self.smooth else sizes

    def parts(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(colour image C, mask A or None) for inputs ``x`` N×3×S×S in [-1, 1] and labels ``c`` N×c_dim."""
        c = c.to(x.dtype).view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        h = torch.cat([x, c], dim=1)
        for i, layer in enumerate(self.main):
            h = layer(h)
            if i == self.encoder_len - 1:
                bottleneck = h
        mask = self.attention(h) if self.attention is not None else None
        if mask is not None and self.smooth:
            mask = binomial_blur(mask, 5)
        return (self.color(h) if self.affine is None else self.recolour(x, bottleneck)), mask

    def recolour(self, x: torch.Tensor, bottleneck: torch.Tensor) -> torch.Tensor:
        """``C = M·x + b`` per pixel, M and b bilinearly up-sampled from the bottleneck's grid (or one per image)."""
        if self.colour == "global":
            coef = self.affine(bottleneck.mean((2, 3), keepdim=True)).expand(-1, -1, *x.shape[-2:])
        else:
            grid = self.affine(bottleneck)
            grid = binomial_blur(grid, 3) if self.smooth else grid
            coef = F.interpolate(grid, size=x.shape[-2:], mode="bilinear", align_corners=False)
        n, _, height, width = coef.shape
        coef = coef.view(n, 3, 4, height, width)
        out = x + (coef[:, :, :3] * x.unsqueeze(1)).sum(2) + coef[:, :, 3]
        return out.clamp(-1, 1)

    @staticmethod
    def blend(x: torch.Tensor, color: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """GANimation's output: the mask picks the colour image, the rest is the input itself."""
        return color if mask is None else mask * color + (1 - mask) * x

    def forward(self, x: torch.Tensor, c: torch.Tensor, return_mask: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """The edited image; with ``return_mask`` also the mask, for training's mask penalties."""
        color, mask = self.parts(x, c)
        out = self.blend(x, color, mask)
        return (out, mask) if return_mask else out


def binomial_blur(x: torch.Tensor, taps: int) -> torch.Tensor:
    """Each channel low-passed by a separable binomial filter (3 taps: [1 2 1]/4, zero at the grid's own
    alternation; 5 taps: [1 4 6 4 1]/16), edges replicated so a uniform field stays uniform."""
    row = torch.tensor([math.comb(taps - 1, k) / 2 ** (taps - 1) for k in range(taps)], dtype=x.dtype, device=x.device)
    ch, pad = x.size(1), taps // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    x = F.conv2d(x, row.view(1, 1, 1, taps).expand(ch, 1, 1, taps), groups=ch)
    return F.conv2d(x, row.view(1, 1, taps, 1).expand(ch, 1, taps, 1), groups=ch)
