"""Where a hair edit lands: how much a →blond edit changes the aligned crop where hair rarely is, against how much it
changes it where hair usually is. A model whose change glows over the background round a head scores high on the
first; one that keeps to the hair does not. Neither place is segmented by hand: "where hair is" is read from the
training crops themselves, as the mean blond crop's luminance minus the mean black-haired crop's (scaled to 0–1).

    python benchmarks/hair_spill.py MODEL [MODEL ...] [--limit 300] [--cache DIR]

Prints per model the mean |change| (grey levels, 0–255, at model size, with `--region auto` applied as `stylize`
applies it) over the upper crop's low-hair pixels ("corners": that map < 0.25, upper half) and over the hair arc
(> 0.6, outside the inner face), the share of faces whose corner change exceeds 4 grey levels, and the change's
fine pattern: the mean distance of the signed change from its own 3x3 box blur over the whole crop (stripes and
speckle score high, a smooth recolour low).
Needs ../shared/data/celeba (the models' training data).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from hair_colour_check import hair_models_on_celeba

from stylize.models import load_model
from stylize.pipeline.regions import edit_region, inner_face
from stylize.train.datasets.base import prepare_crops, to_tensor

CORNER_BELOW, ARC_ABOVE, LOUD = 0.25, 0.6, 4.0


def hair_map(images: np.ndarray, labels: np.ndarray, black: int, blond: int) -> np.ndarray:
    """S×S in [0, 1]: mean luminance of blond crops minus that of black-haired ones, over its maximum."""
    diff = images[labels[:, blond] == 1].mean((0, 3)) - images[labels[:, black] == 1].mean((0, 3))
    return np.clip(diff / diff.max(), 0, 1)


def main() -> None:
    args, first, spec = hair_models_on_celeba(__doc__)
    size, schema = first.image_size, spec.schema
    hair, values = schema.slice("hair"), list(schema.group("hair").values)
    black, blond = hair.start + values.index("black"), hair.start + values.index("blond")
    train = prepare_crops(spec.train, spec.alignment, size, args.cache, "aligning train")
    test = prepare_crops(spec.test, spec.alignment, size, args.cache, "aligning test")
    where = hair_map(train.images.astype(np.float32), train.labels, black, blond)
    corners = (where < CORNER_BELOW) & (np.arange(size)[:, None] < size // 2)
    arc = (where > ARC_ABOVE) & (inner_face(spec.alignment, size) < 0.05)
    region = edit_region(spec.alignment, size, ["hair"], "auto")[..., 0]
    n = min(args.limit, len(test.labels))
    target = test.labels[:n].copy()
    target[:, hair] = 0
    target[:, blond] = 1
    with torch.no_grad():
        for name in args.models:
            G = load_model(name).generator.eval()
            spill, kept, pattern = [], [], []
            for i in range(0, n, 25):
                crops = test.images[i:i + 25].astype(np.float32)
                y = (G(to_tensor(test.images[i:i + 25]), torch.from_numpy(target[i:i + 25])) + 1) * 127.5
                signed = (y.permute(0, 2, 3, 1).numpy() - crops) * region[..., None]
                change = np.abs(signed).mean(-1)
                pattern += [np.abs(d - cv2.blur(d, (3, 3), borderType=cv2.BORDER_REPLICATE)).mean() for d in signed]
                spill += list(change[:, corners].mean(1))
                kept += list(change[:, arc].mean(1))
            print(f"{name}: corners {np.mean(spill):.2f}, hair arc {np.mean(kept):.2f} grey levels; corners above "
                  f"{LOUD:g} on {np.mean(np.array(spill) > LOUD):.1%} of {n} faces; "
                  f"fine pattern {np.mean(pattern):.2f}", flush=True)


if __name__ == "__main__":
    main()
