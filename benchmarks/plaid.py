"""Where a plaid comes from: `stylize-train eval`'s plaid figure (on-axis over off-axis power of the fine detail,
train/evaluate.py `axis_power`) for G's raw outputs toward one domain and for the features after each of G's layers,
and for the same weights with the decoder's up-sampling swapped (nearest for bilinear or back), against real faces of
the target domain and the inputs themselves.

    python benchmarks/plaid.py MODEL [MODEL ...] --data ../shared/data/selfie2anime --align-domain selfie \
        [--target anime] [--limit 100] [--cache DIR]

A folder-per-domain set (the `stylize-train folder` layout); the inputs are the held-out images of the other
domains. A figure near the real faces' (about 2 for photos, 1.7 for anime faces) is no plaid; G's features jumping
at an up-sampling layer say where one is made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylize.models import load_model
from stylize.models.masked import BilinearUpConv2d, UpConv2d
from stylize.train.datasets import folder
from stylize.train.datasets.base import prepare_crops, to_tensor
from stylize.train.evaluate import axis_power, axis_ratio


def figure(t: torch.Tensor) -> float:
    """The plaid figure of a batch of images or feature maps, every channel a plane."""
    return axis_ratio(axis_power(t.reshape(-1, *t.shape[-2:]).numpy()))


def swapped(layer: torch.nn.Module) -> torch.nn.Module:
    """The same 3x3 weights behind the other up-sampling."""
    other = BilinearUpConv2d if isinstance(layer, UpConv2d) else UpConv2d
    new = other(layer.in_channels, layer.out_channels)
    new.weight = layer.weight
    return new


def recorder(seen: list[str], label: str):
    """A forward hook that appends the layer's output figure to ``seen`` under ``label``."""
    return lambda _layer, _inputs, h: seen.append(f"{label} {figure(h):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--align-domain", action="append", default=[])
    parser.add_argument("--target", default="anime")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = folder.build(args.data, align_domains=tuple(args.align_domain))
    values = list(spec.schema.groups[0].values)
    to = values.index(args.target)
    first = load_model(args.models[0])
    test = prepare_crops(spec.test, spec.alignment, first.image_size, args.cache, "aligning test")
    own = test.labels.argmax(1)
    x = to_tensor(test.images[own != to][: args.limit])
    c = torch.zeros(len(x), len(values))
    c[:, to] = 1
    print(f"inputs (held-out, not {args.target}): {figure(x):.1f}; real {args.target} faces: "
          f"{figure(to_tensor(test.images[own == to][: args.limit])):.1f}")
    with torch.no_grad():
        for name in args.models:
            G = load_model(name).generator.eval()
            ups = [i for i, layer in enumerate(G.main) if isinstance(layer, (UpConv2d, BilinearUpConv2d))]
            seen: list[str] = []
            watched = {G.encoder_len - 1: "bottleneck", **{i: type(G.main[i]).__name__ for i in ups}}
            hooks = [G.main[i].register_forward_hook(recorder(seen, label)) for i, label in watched.items()]
            out = G(x, c)
            for hook in hooks:
                hook.remove()
            for i in ups:
                G.main[i] = swapped(G.main[i])
            other = G(x, c)
            print(f"{name}: output {figure(out):.1f}; after {', '.join(seen)}; the same weights with the other "
                  f"up-sampling: output {figure(other):.1f} (mean change {(other - out).abs().mean() * 127.5:.1f} "
                  "grey levels)")


if __name__ == "__main__":
    main()
