"""A StarGAN generator built for small compute budgets: resize-convolution up-sampling and an attention mask.

Two changes to the paper's Table 1, each from a paper that measured it:

- **Resize-convolution** (Odena et al., Distill 2016): nearest-neighbour ×2 then a 3×3 convolution instead of a
  4×4 stride-2 transposed convolution, whose uneven kernel overlap paints a checkerboard that a short training
  run never learns away. ``UpConv2d`` computes it without the up-sampled image (four 2×2 convolutions, one per
  output phase): the same numbers for less than half the CPU.
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

``upsample="bilinear"`` (StyleGAN2 filters its up-sampling the same way, Karras et al. 2020) makes the decoder's
×2 bilinear instead of nearest-neighbour. Nearest copies each cell into a 2×2 block, and a decoder that a CPU
budget leaves under-trained keeps the blocks' edges: a plaid of short horizontal and vertical strokes all over a
photo→anime face (docs/anime-experiments.md measures it). A bilinear ×2 has no block edges to keep.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .stargan import InstanceNorm, encoder_layers

# how the colour image C is made: painted (tanh), or the input recoloured per grid cell or for the whole image
COLOURS = ("rgb", "affine", "global")
# how the decoder doubles the image before each of its 3x3 convolutions
UPSAMPLES = ("nearest", "bilinear")


class MaskedGenerator(nn.Module):
    """Encoder and bottleneck as in Table 1; decoder of resize-convolutions; colour and mask heads."""

    arch = "masked"

    def __init__(self, conv_dim: int = 32, c_dim: int = 5, repeat_num: int = 6, mask: bool = True,
                 colour: str = "rgb", smooth: bool = False, upsample: str = "nearest") -> None:
        super().__init__()
        if colour not in COLOURS:
            raise ValueError(f"unknown colour head '{colour}' (known: {', '.join(COLOURS)})")
        if upsample not in UPSAMPLES:
            raise ValueError(f"unknown up-sampling '{upsample}' (known: {', '.join(UPSAMPLES)})")
        self.conv_dim, self.c_dim, self.repeat_num, self.mask = conv_dim, c_dim, repeat_num, mask
        self.colour, self.smooth, self.upsample = colour, smooth, upsample
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
                nn.Identity(),  # where nn.Upsample was: UpConv2d up-samples itself (the weights' names stay)
                UpConv2d(dim, dim // 2) if upsample == "nearest" else BilinearUpConv2d(dim, dim // 2),
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
        sizes = sizes if self.upsample == "nearest" else {**sizes, "upsample": self.upsample}
        return {**sizes, "smooth": True} if self.smooth else sizes

    def parts(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(colour image C, mask A or None) for inputs ``x`` N×3×S×S in [-1, 1] and labels ``c`` N×c_dim."""
        c = c.to(x.dtype).view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        h = torch.cat([x, c], dim=1)
        for i, layer in enumerate(self.main):
            h = layer(h)
            if i == self.encoder_len - 1:
                bottleneck = h
        if self.fusable_heads():
            # both heads in one convolution: a 7x7 conv to 1 or 3 channels costs the same on the CPU, so one to 4
            # costs half of the two (about a seventh of G's forward at 64 px)
            both = F.conv2d(h, torch.cat([self.color[0].weight, self.attention[0].weight]), padding=3)
            color, mask = torch.tanh(both[:, :3]), torch.sigmoid(both[:, 3:])
        else:
            mask = self.attention(h) if self.attention is not None else None
            color = self.color(h) if self.affine is None else self.recolour(x, bottleneck)
        if mask is not None and self.smooth:
            mask = binomial_blur(mask, 5)
        return color, mask

    def fusable_heads(self) -> bool:
        """Whether the colour and mask heads are the two bias-free 7x7 convolutions this class builds (a test or a
        caller may have swapped one for another layer)."""
        if self.color is None or self.attention is None:
            return False
        convs = (self.color[0], self.attention[0])
        return all(type(m) is nn.Conv2d and m.kernel_size == (7, 7) and m.padding == (3, 3) and m.bias is None
                   and m.stride == (1, 1) and m.dilation == (1, 1) and m.groups == 1 for m in convs)

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


class UpConv2d(nn.Conv2d):
    """Nearest-neighbour ×2 up-sampling followed by this 3×3 convolution (padding 1, no bias), computed without
    the up-sampled image: each of the four output phases (row and column even or odd) sees only two rows and two
    columns of the input, so it is a 2×2 convolution of the input whose taps are sums of the 3×3 kernel's. Same
    arithmetic as up-sampling then convolving, 4/9 of the multiplies and no copy four times the input's size: about
    2 to 3x faster forward and backward on the CPU at the decoder's sizes (benchmarks/decoder.py)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        # rows: an even output row reads input rows (i-1, i) with kernel rows (0, 1+2); an odd one (i, i+1), (0+1, 2)
        rows = (torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),
                torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2))
        padded, (n, _, height, width) = F.pad(x, (1, 1, 1, 1)), x.shape
        phases = []
        for a, k in enumerate(rows):
            for b, kernel in enumerate((torch.stack([k[..., 0], k[..., 1] + k[..., 2]], -1),
                                        torch.stack([k[..., 0] + k[..., 1], k[..., 2]], -1))):
                phases.append(F.conv2d(padded[:, :, a:a + height + 1, b:b + width + 1], kernel))
        # channel c of phase (a, b) is pixel_shuffle's channel 4c + 2a + b
        out = torch.stack(phases, 2).reshape(n, 4 * self.out_channels, height, width)
        return F.pixel_shuffle(out, 2)


class BilinearUpConv2d(nn.Conv2d):
    """Bilinear ×2 up-sampling (half-pixel centres, edges clamped, as ``F.interpolate(..., align_corners=False)``)
    followed by this 3×3 convolution over the up-sampled image with its edges replicated. Each output phase is a
    weighted sum of the input's 3×3 neighbourhood, so all four are one 3×3 convolution of the (edge-padded) input to
    four times the channels, then ``pixel_shuffle``: no image four times the input's size is made."""

    # bilinear ×2 along one axis: an even output sample is ¼·x[i-1] + ¾·x[i], an odd one ¾·x[i] + ¼·x[i+1]; row t
    # of PHASES[a] says how much input tap t (i-1, i, i+1) each of the 3x3 kernel's taps s reads for phase a
    PHASES = (((0.75, 0.25, 0.0), (0.25, 0.75, 0.75), (0.0, 0.0, 0.25)),
              ((0.25, 0.0, 0.0), (0.75, 0.75, 0.25), (0.0, 0.25, 0.75)))

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.PHASES, dtype=self.weight.dtype, device=self.weight.device)  # a, t, s
        # kernel of phase (a, b): M_a · W · M_bᵀ; pixel_shuffle wants output channel o·4 + 2a + b
        kernels = torch.einsum("ats,oisr,bur->oabitu", m, self.weight, m).reshape(4 * self.out_channels,
                                                                                  self.in_channels, 3, 3)
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels), 2)


def binomial_blur(x: torch.Tensor, taps: int) -> torch.Tensor:
    """Each channel low-passed by a separable binomial filter (3 taps: [1 2 1]/4, zero at the grid's own
    alternation; 5 taps: [1 4 6 4 1]/16), edges replicated so a uniform field stays uniform."""
    row = torch.tensor([math.comb(taps - 1, k) / 2 ** (taps - 1) for k in range(taps)], dtype=x.dtype, device=x.device)
    ch, pad = x.size(1), taps // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    x = F.conv2d(x, row.view(1, 1, 1, taps).expand(ch, 1, 1, taps), groups=ch)
    return F.conv2d(x, row.view(1, 1, taps, 1).expand(ch, 1, taps, 1), groups=ch)
