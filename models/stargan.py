"""StarGAN generator and discriminator, as in Tables 1 and 2 of Choi et al. (CVPR 2018).

Module names follow the original implementation (``main.N.*``, ``conv1``, ``conv2``) so that an original
``200000-G.ckpt`` / ``-D.ckpt`` state dict loads with ``strict=True`` and no renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm that always normalises with the image's own statistics.

    The original code builds ``InstanceNorm2d(track_running_stats=True)`` but never calls ``.eval()``, so its
    test outputs use per-image statistics. We keep the running-stat buffers (their keys are in every original
    checkpoint) and ignore them, so ``eval()`` here gives the original's test-time output.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=True, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)


class ResidualBlock(nn.Module):
    """Bottleneck block of Table 1: two 3x3 convolutions with instance norm and a skip connection."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=1, bias=False),
            InstanceNorm(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=1, bias=False),
            InstanceNorm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


def encoder_layers(conv_dim: int, c_dim: int, repeat_num: int) -> tuple[list[nn.Module], int]:
    """Table 1 up to the bottleneck: 7x7 conv, two stride-2 down-samplings, ``repeat_num`` residual blocks; and
    the bottleneck's width. Shared by every generator family, so all read images and labels the same way."""
    layers: list[nn.Module] = [
        nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
        InstanceNorm(conv_dim),
        nn.ReLU(inplace=True),
    ]
    dim = conv_dim
    for _ in range(2):
        layers += [
            nn.Conv2d(dim, dim * 2, kernel_size=4, stride=2, padding=1, bias=False),
            InstanceNorm(dim * 2),
            nn.ReLU(inplace=True),
        ]
        dim *= 2
    layers += [ResidualBlock(dim) for _ in range(repeat_num)]
    return layers, dim


class Generator(nn.Module):
    """Table 1: 7x7 conv, two stride-2 down-samplings, ``repeat_num`` residual blocks, two up-samplings, 7x7
    conv + tanh. The target label ``c`` is tiled over the image and concatenated as extra input channels."""

    arch = "stargan"

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> None:
        super().__init__()
        self.conv_dim, self.c_dim, self.repeat_num = conv_dim, c_dim, repeat_num
        layers, dim = encoder_layers(conv_dim, c_dim, repeat_num)
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, kernel_size=4, stride=2, padding=1, bias=False),
                InstanceNorm(dim // 2),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def sizes(self) -> dict:
        return {"arch": self.arch, "conv_dim": self.conv_dim, "c_dim": self.c_dim, "repeat_num": self.repeat_num}

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x``: N×3×S×S in [-1, 1]; ``c``: N×c_dim target labels. Returns N×3×S×S in [-1, 1]."""
        c = c.to(x.dtype).view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class Discriminator(nn.Module):
    """Table 2: PatchGAN of ``repeat_num`` stride-2 convolutions, then two heads: ``conv1`` says real/fake per
    patch (D_src), ``conv2`` covers the whole remaining map and predicts the domain labels (D_cls).

    ``projection`` (not in the paper): D_src also asks whether the image is a real one *of the given labels*,
    as a projection discriminator does (Miyato & Koyama 2018; StarGAN v2's D keeps one output per domain for the
    same reason): ``proj`` adds Σⱼ cⱼ·φⱼ(h) to the patch map, so a generated blond is compared with real blonds,
    not with real faces of any hair colour. Without labels (inference) D_src is the unconditional part."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6,
                 projection: bool = False) -> None:
        super().__init__()
        if image_size % (2**repeat_num):
            raise ValueError(f"image size {image_size} is not divisible by 2**{repeat_num}")
        self.image_size, self.conv_dim, self.c_dim, self.repeat_num = image_size, conv_dim, c_dim, repeat_num
        self.projection = projection
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, kernel_size=image_size // 2**repeat_num, bias=False)
        self.proj = nn.Conv2d(dim, c_dim, kernel_size=3, stride=1, padding=1, bias=False) if projection else None

    def sizes(self) -> dict:
        return {"conv_dim": self.conv_dim, "c_dim": self.c_dim, "repeat_num": self.repeat_num,
                "projection": self.projection}

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (D_src map N×1×h×w, D_cls logits N×c_dim); ``c`` (N×c_dim) conditions D_src when the
        discriminator has a projection head."""
        h = self.main(x)
        src = self.conv1(h)
        if self.proj is not None and c is not None:
            src = src + (self.proj(h) * c.to(h.dtype).view(c.size(0), -1, 1, 1)).sum(1, keepdim=True)
        return src, self.conv2(h).view(x.size(0), -1)


def generator_sizes(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Reads conv_dim, c_dim and repeat_num off a generator state dict (original key layout)."""
    first = state["main.0.weight"]
    blocks = {k.split(".")[1] for k in state if k.startswith("main.") and ".main." in k}
    return {"conv_dim": int(first.shape[0]), "c_dim": int(first.shape[1]) - 3, "repeat_num": len(blocks)}


def discriminator_sizes(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Reads conv_dim, c_dim, repeat_num and the image size (from conv2's kernel) off a D state dict."""
    convs = sorted(int(k.split(".")[1]) for k in state if k.startswith("main.") and k.endswith(".weight"))
    repeat_num = len(convs)
    cls = state["conv2.weight"]
    return {
        "conv_dim": int(state["main.0.weight"].shape[0]),
        "c_dim": int(cls.shape[0]),
        "repeat_num": repeat_num,
        "image_size": int(cls.shape[-1]) * 2**repeat_num,
    }
