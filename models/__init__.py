"""StarGAN networks and the self-describing model file (``load_model``, ``save_model``, ``import_stargan``).

The names below are imported on first use (PEP 562): the networks need torch, about two seconds to import, and
`stylize --help` or catching a ``ModelFileError`` needs none of it.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "NO_ALIGNMENT": "alignment", "Alignment": "alignment", "import_stargan": "importer", "ModelFileError": "errors",
    "StyleModel": "modelfile", "bundled_for": "catalogue", "bundled_models": "catalogue", "load_model": "modelfile",
    "read_metadata": "catalogue", "resolve_model_path": "catalogue", "save_model": "modelfile",
    "DomainSchema": "schema", "Group": "schema", "LabelSet": "schema", "SchemaError": "schema",
    "Discriminator": "stargan", "Generator": "stargan",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
