"""``folder``: any set laid out as one sub-folder per domain (``ROOT/anime/*.jpg``, ``ROOT/selfie/*.jpg``)."""

from __future__ import annotations

from pathlib import Path

from stylize.models.alignment import NO_ALIGNMENT, Alignment
from stylize.models.schema import DomainSchema, Group

from .base import DatasetError, DatasetSpec, Sample, image_files, seeded_split


def build(root: Path, group: str = "domain", align_domains: tuple[str, ...] = (), test_fraction: float = 0.1,
          seed: int = 0, alignment: Alignment | None = None) -> DatasetSpec:
    """One one-hot group whose values are the sub-folder names. Domains named in ``align_domains`` are face
    crops cut by the inference aligner; the others are used whole (anime faces, sketches: dlib finds no face)."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    domains = sorted(p.name for p in root.iterdir() if p.is_dir() and image_files(p))
    if len(domains) < 2:
        raise DatasetError(f"{root} needs at least two sub-folders with images (one per domain), found "
                           f"{len(domains)}")
    unknown = set(align_domains) - set(domains)
    if unknown:
        raise DatasetError(f"--align-domain {', '.join(sorted(unknown))}: no such sub-folder in {root}")
    schema = DomainSchema.single(root.name, [Group(group, tuple(domains), "onehot", tuple(domains))])
    train, test, counts = [], [], {}
    for d in domains:
        label = tuple(float(x) for x in schema.encode({group: d}))
        files = image_files(root / d)
        tr, te = seeded_split(files, (1 - test_fraction, test_fraction), seed)
        train += [Sample(p, label, align=d in align_domains) for p in tr]
        test += [Sample(p, label, align=d in align_domains) for p in te]
        counts[d] = len(files)
    if align_domains:
        from stylize.models.alignment import SELFIE_TEMPLATE
        alignment = alignment or Alignment("face", SELFIE_TEMPLATE, "selfie2anime selfies' mean landmarks")
    return DatasetSpec(f"folder:{root.name}", schema, alignment or NO_ALIGNMENT, train, test, counts)
