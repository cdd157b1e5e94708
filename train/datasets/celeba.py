"""``celeba``: ``list_attr_celeba.txt`` + ``img_align_celeba/000001.jpg…`` as published.

Attributes are chosen with ``--attrs`` (default: the paper's five). Hair colours form one exclusive group, so an
image must have exactly one of the chosen hair colours; others are skipped and counted. The last 2,000 images (in
file order) are the test split.
"""

from __future__ import annotations

from pathlib import Path

from stylize.models.alignment import CELEBA_TEMPLATE, Alignment
from stylize.models.schema import DomainSchema, schema_from_attrs

from .base import DatasetError, DatasetSpec, Sample

DEFAULT_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
TEST_COUNT = 2000
TERMS = "CelebA (Liu et al., ICCV 2015): non-commercial research use only; so is a model trained on it"


def read_attributes(path: Path) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """The published format: a count line, a line of 40 names, then ``file v1 … v40`` with values ±1."""
    if not path.is_file():
        raise DatasetError(f"{path} not found (CelebA needs list_attr_celeba.txt)")
    lines = path.read_text().splitlines()
    if len(lines) < 3:
        raise DatasetError(f"{path} is too short to be a CelebA attribute file")
    names = lines[1].split()
    rows = []
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{path}:{n}: expected {len(names) + 1} fields, found {len(parts)}")
        rows.append((parts[0], [int(v) for v in parts[1:]]))
    return names, rows


def build(root: Path, attrs: tuple[str, ...] = DEFAULT_ATTRS, seed: int = 0, test_count: int = TEST_COUNT
          ) -> DatasetSpec:
    names, rows = read_attributes(root / "list_attr_celeba.txt")
    missing = [a for a in attrs if a not in names]
    if missing:
        raise DatasetError(f"unknown CelebA attribute(s): {', '.join(missing)}")
    groups = schema_from_attrs(list(attrs))
    schema = DomainSchema.single("celeba", groups)
    cols = [names.index(a) for a in attrs]
    images = root / "img_align_celeba"
    if not images.is_dir():
        raise DatasetError(f"{images} not found")
    samples, ambiguous = [], 0
    for fname, values in rows:
        vec = [1.0 if values[c] > 0 else 0.0 for c in cols]
        labels = dict(zip(attrs, vec, strict=True))
        if any(g.kind == "onehot" and sum(labels[s] for s in g.slots) != 1 for g in groups):
            ambiguous += 1
            continue
        samples.append(Sample(images / fname, tuple(vec), align=True))
    if not samples:
        raise DatasetError(f"no CelebA image has exactly one of {', '.join(attrs)}'s exclusive values")
    # the convention: the last 2,000 are the test split; a small stand-in set keeps a tenth instead
    n_test = test_count if len(samples) > 10 * test_count else max(1, len(samples) // 10)
    train, test = samples[:-n_test], samples[-n_test:]
    return DatasetSpec("celeba", schema, Alignment("face", CELEBA_TEMPLATE), train, test,
                       {"images": len(rows), "used": len(samples), "skipped_ambiguous_hair": ambiguous}, TERMS)
