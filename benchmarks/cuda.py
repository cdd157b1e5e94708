"""The translate stage on CUDA: the Translator on the GPU (fp16, channels_last, as `stylize video` runs it there)
against the same model on the CPU (fp32), on held-out faces of the set the model was trained on, then the GPU's
time a face by batch size, the CPU's beside it, and a paper-size generator's for scale.

    python benchmarks/cuda.py [MODEL] [--data ../shared/data/celeba] [--cache runs/cache] [--limit 256]

MODEL is a model file or a bundled name (default celeba); the faces are its dataset's held-out crops, aligned once
into the crop cache. Needs a CUDA device; on a machine without one it says so and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stylize.models import load_model
from stylize.models.architectures import build_generator
from stylize.pipeline.translate import Translator
from stylize.train.datasets import rebuild_dataset
from stylize.train.datasets.base import prepare_crops


def timed(fn, device: str, reps: int = 20) -> float:
    """Seconds a call, after warm-up, with the GPU's queue drained before and after."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - start) / reps


def requests(schema) -> list[dict[str, str]]:
    """One request per group (its last value), and one naming every group at once (their first values)."""
    single = [{g.name: g.values[-1]} for g in schema.groups]
    return [*single, {g.name: g.values[0] for g in schema.groups}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="celeba")
    parser.add_argument("--data", type=Path, default=None, help="the dataset folder, if not where it was trained")
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--device", default="cuda", help="the device set against the CPU (cpu: a dry run here)")
    args = parser.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("benchmarks/cuda.py: no CUDA device on this machine")
    model = load_model(args.model)
    spec = rebuild_dataset(model.provenance, args.data)
    crops = np.asarray(prepare_crops(spec.test, spec.alignment, model.image_size, args.cache).images[:args.limit])
    ids = list(range(-1, -1 - len(crops), -1))  # untracked faces: the source labels are estimated per face
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else dev
    print(f"torch {torch.__version__}, {name}, {len(crops)} held-out crops")
    for request in requests(model.schema):
        outs = [np.stack([y for i in range(0, len(crops), 64)
                          for y in Translator(load_model(args.model), request, device=on, precision=precision)(
                              list(crops[i:i + 64]), ids[i:i + 64])])
                for on, precision in (("cpu", "fp32"), (dev, "auto"))]  # float32 against what `stylize` runs
        d = np.abs(outs[0] - outs[1])
        print(f"{request}: |CPU fp32 - {dev}| mean {d.mean():.3f}, 99th percentile {np.percentile(d, 99):.2f}, "
              f"max {d.max():.1f} grey levels")
    request = {g.name: g.values[0] for g in model.schema.groups}
    gpu = Translator(load_model(args.model), request, device=dev)
    for b in (1, 16, 64, 256):
        batch, faces = list(crops[np.arange(b) % len(crops)]), list(range(-1, -1 - b, -1))
        s = timed(lambda batch=batch, faces=faces: gpu(batch, faces), dev)
        print(f"{dev}, batch {b}: {s * 1e3:.2f} ms a batch, {s * 1e3 / b:.3f} ms a face")
    cpu = Translator(load_model(args.model), request, device="cpu", precision="fp32")
    s = timed(lambda: cpu(list(crops[:64]), ids[:64]), "cpu", reps=3)
    print(f"CPU ({torch.get_num_threads()} threads), batch 64: {s * 1e3 / 64:.2f} ms a face")
    if not dev.startswith("cuda"):
        return  # a dry run: a 128 px fp16 G on the CPU takes minutes and says nothing
    paper = build_generator({"arch": "stargan", "conv_dim": 64, "c_dim": 5, "repeat_num": 6})
    paper = paper.to(dev).half().eval().to(memory_format=torch.channels_last)
    for b in (16, 256):
        x = torch.randn(b, 3, 128, 128, device=dev, dtype=torch.half).contiguous(memory_format=torch.channels_last)
        c = torch.zeros(b, 5, device=dev, dtype=torch.half)
        with torch.inference_mode():
            s = timed(lambda x=x, c=c: paper(x, c), dev)
        print(f"paper-size G (conv_dim 64, 128 px, random weights), fp16, batch {b}: {s * 1e3 / b:.3f} ms a face")


if __name__ == "__main__":
    main()
