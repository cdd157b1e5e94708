"""What the budget generator's decoder costs on the CPU, computed as it is against the textbook way.

The decoder's resize-convolutions (nearest ×2, then 3×3) run as ``UpConv2d``: four 2×2 convolutions of the input,
one per output phase, with no up-sampled copy; its two 7×7 heads (colour, mask) run as one convolution to four
channels. Both give the same numbers as the textbook layers (the difference is printed); this script times each
both ways at the decoder's sizes, then a whole generator forward and forward+backward with both switched back to
the textbook layers, so the ratios come from one run on one machine.

    python benchmarks/decoder.py [--conv-dim 32] [--repeat-num 3] [--image-size 64] [--batch 16] [--threads 1]
                                 [--clip ../shared/footage/hand-over-face.mp4] [--celeba ../shared/data/celeba]
                                 [--selfie2anime ../shared/data/selfie2anime]

``--clip`` also times the pipeline's translate stage (the bundled ``celeba`` model) on that clip's faces, both ways
in alternating rounds; ``--celeba`` and ``--selfie2anime`` time a training iteration on that data (its crops aligned
into a temporary cache first, which takes minutes, unless ``--cache`` names one that holds them).
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from train_step import alternate, iteration_seconds

from stylize.models.masked import MaskedGenerator, UpConv2d


def cpu_ms(f, n: int) -> float:
    """Mean CPU milliseconds of ``f()`` over ``n`` calls after one warm-up call."""
    f()
    c0 = time.process_time()
    for _ in range(n):
        f()
    return (time.process_time() - c0) / n * 1000


def textbook_up(self: UpConv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), self.weight, padding=1)


@contextmanager
def textbook():
    """Every MaskedGenerator in this process up-samples, convolves and runs its heads the textbook way."""
    with mock.patch.object(UpConv2d, "forward", textbook_up), \
            mock.patch.object(MaskedGenerator, "fusable_heads", lambda self: False):
        yield


def textbook_timed(once):
    """``once`` run with the textbook layers."""
    def run() -> float:
        with textbook():
            return once()
    return run


def translate_ms(clip: Path, rounds: int) -> tuple[float, float]:
    """CPU ms a frame of the pipeline's translate stage (bundled celeba model, --hair blond, the pipeline's batch and
    threads) on ``clip``'s tracked, aligned faces: (textbook layers, as run), alternating rounds after a first one."""
    from stylize.models import load_model
    from stylize.pipeline.align import align_frames
    from stylize.pipeline.decode import read_frames
    from stylize.pipeline.detect import detect_frames
    from stylize.pipeline.ffmpeg_tools import probe
    from stylize.pipeline.options import EditOptions
    from stylize.pipeline.track import FaceTracker, SmoothingConfig
    from stylize.pipeline.translate import generator_threads, translate_frames

    info, model, options = probe(clip), load_model("celeba"), EditOptions(progress=False)
    frames = list(detect_frames(read_frames(clip, info), options.make_detector(), options.detect_every))
    faces = list(align_frames(FaceTracker(SmoothingConfig())(frames), model.alignment, model.image_size))
    translator = options.make_translator(model, {"hair": "blond"})

    def once() -> float:
        c0 = time.process_time()
        list(translate_frames(faces, translator, options.batch_size))
        return (time.process_time() - c0) / len(faces) * 1000

    with generator_threads():
        return alternate(textbook_timed(once), once, rounds)


def compare(name: str, ref, new, inputs: tuple[torch.Tensor, ...], n: int) -> None:
    """Times ``ref(*inputs)`` against ``new(*inputs)``, forward and forward + backward, and prints how far apart."""
    out = ref(*inputs)
    err = (new(*inputs) - out).abs().max().item() / out.abs().max().item()
    passes = (("forward", lambda f: f(*inputs)), ("  forward + backward", lambda f: f(*inputs).sum().backward()))
    for what, wrap in passes:
        a, b = cpu_ms(lambda: wrap(ref), n), cpu_ms(lambda: wrap(new), n)  # noqa: B023 (called at once)
        label = f"{name}, {what}" if what == "forward" else what
        print(f"{label:46s} {a:8.1f} {b:8.1f} {a / b:7.2f}x" + (f"   {err:.1e}" if what == "forward" else ""),
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--conv-dim", type=int, default=32)
    p.add_argument("--repeat-num", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--clip", type=Path, default=None, help="also time the translate stage on this clip's faces")
    p.add_argument("--celeba", type=Path, default=None, help="also time a training iteration of the bundled recipe")
    p.add_argument("--selfie2anime", type=Path, default=None, help="... and of the anime runs' recipe")
    p.add_argument("--cache", type=Path, default=None, help="crop cache of earlier runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n, s, d = a.batch, a.image_size, a.conv_dim
    print(f"batch {n}, {s} px, G {d} channels / {a.repeat_num} blocks, {a.threads} thread(s); CPU ms a call")
    print(f"{'':46s} {'textbook':>8s} {'as run':>8s} {'ratio':>8s}   max diff / max |out|")
    for cin, side in ((4 * d, s // 4), (2 * d, s // 2)):
        layer = UpConv2d(cin, cin // 2)
        compare(f"up {cin}->{cin // 2} ch, {side}->{2 * side} px", partial(textbook_up, layer), layer,
                (torch.randn(n, cin, side, side, requires_grad=True),), a.repeats)
    heads = (torch.randn(n, d, s, s, requires_grad=True), torch.randn(3, d, 7, 7, requires_grad=True),
             torch.randn(1, d, 7, 7, requires_grad=True))
    compare(f"heads 7x7, {d}->3 and {d}->1 ch",
            lambda h, wc, wa: torch.cat([F.conv2d(h, wc, padding=3), F.conv2d(h, wa, padding=3)], 1),
            lambda h, wc, wa: F.conv2d(h, torch.cat([wc, wa]), padding=3), heads, a.repeats)
    G = MaskedGenerator(d, 6, a.repeat_num)
    x, c = torch.rand(n, 3, s, s) * 2 - 1, torch.rand(n, 6)
    with torch.no_grad():
        ref = G(x, c)
    with textbook():
        with torch.no_grad():
            err = (G(x, c) - ref).abs().max().item()
        t_fwd = cpu_ms(lambda: G(x, c), a.repeats)
        t_both = cpu_ms(lambda: G(x, c).mean().backward(), a.repeats)
    print(f"whole G, textbook layers: forward {t_fwd:.1f}, forward + backward {t_both:.1f}")
    n_fwd, n_both = cpu_ms(lambda: G(x, c), a.repeats), cpu_ms(lambda: G(x, c).mean().backward(), a.repeats)
    print(f"whole G as run: forward {n_fwd:.1f} ({t_fwd / n_fwd:.2f}x), forward + backward {n_both:.1f} "
          f"({t_both / n_both:.2f}x); outputs differ by {err * 127.5:.1e} grey levels at most")
    if a.clip:
        t, r = translate_ms(a.clip, 3)
        print(f"translate stage on {a.clip.name} (bundled celeba, --hair blond): textbook {t:.2f}, as run {r:.2f} "
              f"CPU ms a frame ({t / r:.2f}x)")
    for name, root, steps in (("celeba", a.celeba, 10), ("anime", a.selfie2anime, 6)):
        if root:
            t, r = iteration_seconds(name, root, a.cache, {}, 3, steps, first_context=textbook)
            print(f"training iteration, {name}: textbook {t:.3f}, as run {r:.3f} CPU s ({t / r:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
