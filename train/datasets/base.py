"""The one contract every dataset module meets: a :class:`DatasetSpec` of (image, label) samples.

Each module (celeba, rafd, ckplus, joint, anime_sketch, folder) only knows its published layout and turns it into
``Sample``s with full label vectors. Everything after that — face alignment with the inference aligner and
template, resizing, sketch preprocessing, the on-disk crop cache, batching — is shared here, so the trainer
never cares which dataset it is fed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from stylize.models.alignment import Alignment
from stylize.models.schema import DomainSchema
from stylize.pipeline.align import align_face, inside_mask, warp_to_crop, whole_image_transform

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CACHE_VERSION = 2  # 2: crops of large faces are area-averaged (pipeline/align.py)


class DatasetError(Exception):
    """The data on disk does not have the layout the dataset module expects; one line for the user."""


@dataclass(frozen=True)
class Sample:
    """One training image: its file, its full label vector (mask included), which label set it belongs to,
    whether its face must be aligned, and an optional deterministic preprocessing (e.g. ``sketch``)."""

    path: Path
    label: tuple[float, ...]
    set_index: int = 0
    align: bool = False
    preprocess: str = ""


@dataclass
class DatasetSpec:
    name: str
    schema: DomainSchema
    alignment: Alignment
    train: list[Sample]
    test: list[Sample]
    counts: dict = field(default_factory=dict)
    terms: str = ""  # the data's licence terms, carried into every model trained on it
    source: dict = field(default_factory=dict)  # {"dataset": module name, "args": {...}}, set by build_dataset

    @property
    def seed(self) -> int:
        """The seed it was built with (its held-out split's, for sets split at random; 0 when none was given):
        what the eval's judge is seeded with too."""
        return int(self.source.get("args", {}).get("seed", 0))


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name so every machine sees the same order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def seeded_split(items: list, fractions: tuple[float, ...], seed: int = 0) -> list[list]:
    """Splits ``items`` into consecutive parts of a fixed seeded permutation (the same on every machine)."""
    order = np.random.default_rng(seed).permutation(len(items))
    parts, start = [], 0
    for i, f in enumerate(fractions):
        end = len(items) if i == len(fractions) - 1 else start + int(round(f * len(items)))
        parts.append([items[j] for j in sorted(order[start:end])])
        start = end
    return parts


def pencil_sketch(rgb: np.ndarray) -> np.ndarray:
    """Deterministic pencil sketch: grey divided by its blurred inverse (colour dodge), lines darkened.

    This is how the anime↔sketch set gets its sketch domain; the same function serves training and tests."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blur = cv2.GaussianBlur(255.0 - gray, (0, 0), sigmaX=max(rgb.shape[:2]) / 64)
    dodge = np.clip(gray * 255.0 / np.maximum(255.0 - blur, 1.0), 0, 255)
    sketch = (255.0 * (dodge / 255.0) ** 2.0).astype(np.uint8)
    return cv2.cvtColor(sketch, cv2.COLOR_GRAY2RGB)


PREPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sketch": pencil_sketch}


def read_rgb(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class Crops:
    """Prepared training images: N×S×S×3 uint8 (memory-mapped from the cache), labels N×c, label-set ids N, and
    for each crop how much of each pixel lies inside its source image (N×S×S uint8, 255: all of it; the rest of
    the crop is filled by reflection: ``inside_mask``). ``inside`` is None for crops made elsewhere (tests)."""

    images: np.ndarray
    labels: np.ndarray
    sets: np.ndarray
    skipped: dict[str, int]
    inside: np.ndarray | None = None


@dataclass
class LoadedSample:
    """One sample as the aligner sees it: the whole image (preprocessed), its crop and the frame→crop transform,
    and for aligned faces the 68 landmarks (evaluation measures identity with them)."""

    image: np.ndarray
    crop: np.ndarray
    transform: np.ndarray
    landmarks: np.ndarray | None = None


class SampleLoader:
    """Reads, preprocesses and aligns samples exactly as inference aligns faces; the dlib models load on first
    use, since whole-image sets never need them."""

    def __init__(self, alignment: Alignment, size: int) -> None:
        self.alignment, self.size, self.detector = alignment, size, None

    def __call__(self, s: Sample) -> LoadedSample | str:
        """The loaded sample, or why it was skipped (``unreadable`` or ``no_face``)."""
        rgb = read_rgb(s.path)
        if rgb is None:
            return "unreadable"
        if s.preprocess:
            rgb = PREPROCESSORS[s.preprocess](rgb)
        if not s.align:
            m = whole_image_transform(*rgb.shape[:2], self.size)
            return LoadedSample(rgb, warp_to_crop(rgb, m, self.size), m)
        if self.detector is None:
            from stylize.pipeline.detect import FaceDetector
            self.detector = FaceDetector(max_side=None)
        faces = self.detector.detect(rgb) or self.detector.detect(rgb, upsample=1)  # small faces: finer pass
        if not faces:
            return "no_face"
        crop, m = align_face(rgb, faces[0].points5, self.alignment, self.size)
        return LoadedSample(rgb, crop, m, faces[0].landmarks)


def cache_key(samples: list[Sample], alignment: Alignment, size: int) -> str:
    h = hashlib.sha256(json.dumps([CACHE_VERSION, size, alignment.to_json()]).encode())
    for s in samples:
        h.update(f"{s.path}|{s.align}|{s.preprocess}|{s.set_index}|{s.label}\n".encode())
    return h.hexdigest()[:16]


def prepare_crops(samples: list[Sample], alignment: Alignment, size: int, cache_dir: Path,
                  desc: str = "preparing") -> Crops:
    """Aligns/resizes every sample once and caches the result as ``.npy`` files, so a resumed or repeated run
    starts at once. Images that cannot be read, or where no face is found for an aligned sample, are skipped and
    counted; if nothing remains it is an error."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(samples, alignment, size)
    img_path, meta_path = cache_dir / f"crops-{key}.npy", cache_dir / f"crops-{key}.json"
    inside_path = cache_dir / f"crops-{key}-inside.npy"  # a cache from before it is made again, crops and all
    if img_path.exists() and meta_path.exists() and inside_path.exists():
        meta = json.loads(meta_path.read_text())
        return Crops(np.load(img_path, mmap_mode="r"), np.asarray(meta["labels"], np.float32),
                     np.asarray(meta["sets"], np.int64), meta["skipped"], np.load(inside_path, mmap_mode="r"))
    loader = SampleLoader(alignment, size)
    images, labels, sets, inside = [], [], [], []
    skipped = {"unreadable": 0, "no_face": 0}
    for s in tqdm(samples, desc=desc, unit="img", leave=False):
        loaded = loader(s)
        if isinstance(loaded, str):
            skipped[loaded] += 1
            continue
        images.append(loaded.crop)
        inside.append(inside_mask(loaded.image.shape[:2], loaded.transform, size))
        labels.append(s.label)
        sets.append(s.set_index)
    if not images:
        raise DatasetError(f"no usable images ({skipped['unreadable']} unreadable, {skipped['no_face']} without a "
                           "detectable face)")
    for path, array in ((img_path, images), (inside_path, inside)):
        tmp = path.with_suffix(f".{os.getpid()}.npy")
        np.save(tmp, np.stack(array))
        os.replace(tmp, path)
    meta_path.write_text(json.dumps({"labels": np.asarray(labels).tolist(), "sets": sets, "skipped": skipped}))
    return Crops(np.load(img_path, mmap_mode="r"), np.asarray(labels, np.float32), np.asarray(sets, np.int64),
                 skipped, np.load(inside_path, mmap_mode="r"))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×S×S×3 → float N×3×S×S in [-1, 1], the range every model file declares."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def to_grey_levels(x: torch.Tensor) -> np.ndarray:
    """`to_tensor`'s way back for a generator's output: N×3×S×S in [-1, 1] → N×S×S×3 float32 grey levels in 0–255,
    unrounded, as `model_change` takes it."""
    return ((x.float() + 1) * 127.5).clamp(0, 255).permute(0, 2, 3, 1).numpy()


def batches(crops: Crops, batch_size: int, generator: torch.Generator, flip: bool = True, start: int = 0
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor | None]]:
    """Endless random batches (images, labels, label-set id, how much of each pixel is inside its source image:
    N×1×S×S in [0, 1], or None when ``crops`` has no such record), every batch from one label set, cycling
    through the sets in turn as the paper's joint training does. All randomness comes from ``generator``, whose
    state the checkpoint saves, so a resumed run draws the same batches it would have drawn."""
    by_set = [np.flatnonzero(crops.sets == s) for s in np.unique(crops.sets)]
    step = start
    while True:
        set_id = step % len(by_set)
        pool = by_set[set_id]
        pick = pool[torch.randint(len(pool), (min(batch_size, len(pool)),), generator=generator).numpy()]
        x = to_tensor(crops.images[np.sort(pick)])
        y = torch.from_numpy(crops.labels[np.sort(pick)])
        inside = (None if crops.inside is None else
                  torch.from_numpy(np.array(crops.inside[np.sort(pick)], np.float32)).div_(255.0)[:, None])
        if flip:
            mask = torch.rand(len(x), generator=generator) < 0.5
            x[mask] = x[mask].flip(-1)
            if inside is not None:
                inside[mask] = inside[mask].flip(-1)
        yield x, y, int(crops.sets[pool[0]]), inside
        step += 1
