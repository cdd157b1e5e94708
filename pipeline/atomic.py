"""Outputs appear under their final name only when complete: written to a hidden temporary sibling, renamed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def check_output_path(path: Path) -> None:
    """Fails early, before any work, when the output cannot be written where asked."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{path}: output folder {parent} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: cannot write to {parent}")


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix, so tools pick the format from it); renames it to
    ``path`` if the block succeeds and deletes it if the block raises, Ctrl-C included."""
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
