"""``joint``: CelebA + RaFD trained together with the mask vector (paper §3.2): one G serves both label sets.

A sample's label vector is [CelebA labels | RaFD labels | mask]; the other dataset's part is zero and the mask
says which part is meaningful. Batches alternate between the two datasets, as in the paper.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stylize.models.schema import DomainSchema

from . import celeba, expressions
from .base import DatasetSpec, Sample


def build(celeba_root: Path, rafd_root: Path, attrs: tuple[str, ...] = celeba.DEFAULT_ATTRS, seed: int = 0
          ) -> DatasetSpec:
    parts = [celeba.build(celeba_root, attrs, seed), expressions.build_rafd(rafd_root, seed)]
    schema = DomainSchema(tuple(p.schema.label_sets[0] for p in parts))

    def widen(samples: list[Sample], index: int) -> list[Sample]:
        out = []
        for s in samples:
            full = [0.0] * schema.c_dim
            full[schema.set_slice(index)] = s.label
            full[schema.cls_dim + index] = 1.0
            out.append(replace(s, label=tuple(full), set_index=index))
        return out

    train = widen(parts[0].train, 0) + widen(parts[1].train, 1)
    test = widen(parts[0].test, 0) + widen(parts[1].test, 1)
    return DatasetSpec("joint:celeba+rafd", schema, parts[0].alignment, train, test,
                       {"celeba": parts[0].counts, "rafd": parts[1].counts}, f"{parts[0].terms}; {parts[1].terms}")
