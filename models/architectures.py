"""Generator families by the name a model file records (``generator.arch``); one builder for all of them."""

from __future__ import annotations

from torch import nn

from .masked import MaskedGenerator
from .stargan import Generator

GENERATORS: dict[str, type[nn.Module]] = {"stargan": Generator, "masked": MaskedGenerator}


def build_generator(sizes: dict) -> nn.Module:
    """A generator from its recorded sizes; files written before ``arch`` existed are the paper's."""
    sizes = dict(sizes)
    arch = str(sizes.pop("arch", "stargan"))
    if arch not in GENERATORS:
        raise ValueError(f"unknown generator architecture '{arch}' (known: {', '.join(GENERATORS)})")
    if arch == "masked":
        return MaskedGenerator(int(sizes["conv_dim"]), int(sizes["c_dim"]), int(sizes["repeat_num"]),
                               bool(sizes.get("mask", True)), str(sizes.get("colour", "rgb")),
                               bool(sizes.get("smooth", False)), str(sizes.get("upsample", "nearest")))
    return Generator(int(sizes["conv_dim"]), int(sizes["c_dim"]), int(sizes["repeat_num"]))
