"""One module per dataset, each building a DatasetSpec (see base.py for the contract), picked by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import anime_sketch, celeba, expressions, folder, joint
from .base import DatasetError, DatasetSpec

BUILDERS: dict[str, Callable[..., DatasetSpec]] = {
    "celeba": celeba.build,
    "rafd": expressions.build_rafd,
    "ckplus": expressions.build_ckplus,
    "joint": joint.build,
    "anime-sketch": anime_sketch.build,
    "folder": folder.build,
}
PATH_ARGS = ("root", "celeba_root", "rafd_root")


def build_dataset(name: str, **args) -> DatasetSpec:
    """Builds a dataset by module name and records how (``spec.source``), so ``stylize-train eval`` and the
    model file's provenance can rebuild the same split later."""
    if name not in BUILDERS:
        raise DatasetError(f"unknown dataset '{name}' (known: {', '.join(BUILDERS)})")
    args = {k: Path(v) if k in PATH_ARGS else (tuple(v) if isinstance(v, list) else v) for k, v in args.items()}
    spec = BUILDERS[name](**args)
    spec.source = {"dataset": name,
                   "args": {k: str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
                            for k, v in args.items()}}
    return spec


def rebuild_dataset(provenance: dict, root: str | Path | None = None, name: str = "the model file") -> DatasetSpec:
    """The dataset a model was trained on, rebuilt from ``build_dataset``'s record in its provenance (same split),
    read from ``root`` instead of the recorded folder when given (single-folder datasets only)."""
    source = provenance.get("source")
    if not source:
        raise DatasetError(f"{name} does not record the dataset it was trained on")
    args = dict(source["args"])
    if root is not None:
        if "root" not in args:
            raise DatasetError("--data works for single-folder datasets; this model used several")
        args["root"] = str(root)
    return build_dataset(source["dataset"], **args)


__all__ = ["BUILDERS", "DatasetError", "DatasetSpec", "build_dataset", "rebuild_dataset"]
