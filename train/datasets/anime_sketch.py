"""``anime-sketch``: a folder of anime images; the sketch domain is made from them by :func:`pencil_sketch`.

Split 80/10/10 (train/validation/test) by a fixed seed, as the seed set was; the same image never appears as an
anime in one split and as a sketch in another.
"""

from __future__ import annotations

from pathlib import Path

from stylize.models.alignment import NO_ALIGNMENT
from stylize.models.schema import DomainSchema, Group

from .base import DatasetError, DatasetSpec, Sample, image_files, seeded_split

DOMAINS = ("anime", "sketch")
GROUP = "style"  # not "domain": `--domain anime` picks the selfie↔anime model, `--style sketch` this one


def build(root: Path, seed: int = 0) -> DatasetSpec:
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    files = image_files(root)
    if len(files) < 10:
        raise DatasetError(f"{root} has {len(files)} images; anime-sketch needs at least 10")
    schema = DomainSchema.single("anime-sketch", [Group(GROUP, DOMAINS, "onehot", DOMAINS)])
    anime, sketch = (tuple(float(x) for x in schema.encode({GROUP: d})) for d in DOMAINS)
    train, _val, test = seeded_split(files, (0.8, 0.1, 0.1), seed)

    def both(part: list[Path]) -> list[Sample]:
        return [Sample(p, anime) for p in part] + [Sample(p, sketch, preprocess="sketch") for p in part]

    return DatasetSpec("anime-sketch", schema, NO_ALIGNMENT, both(train), both(test),
                       {"images": len(files), "train": len(train), "test": len(test)})
