"""Finding model files and reading what they say about themselves, without torch: `stylize models`, `stylize info`
and the edit commands' --help list the bundled models' groups in a fraction of a second (torch takes about two to
import); `modelfile` loads the weights.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from safetensors import SafetensorError, safe_open

from .alignment import Alignment
from .errors import ModelFileError
from .schema import DomainSchema, SchemaError

FORMAT = "stylize-model"
FORMAT_VERSION = 1
METADATA_KEY = "stylize"
# paste the model's change onto the full-resolution face, or its output; each as an eval's figures name it
APPLIED = {"change": "change at full resolution", "output": "output"}
APPLY_MODES = tuple(APPLIED)
# --colour-blur's ceiling, in percent of the crop's side: past a quarter the blur is one colour for the whole edit
MAX_COLOUR_BLUR = 25.0
# The share of an aligned crop over which a face's paste fades out toward the crop's edge (pipeline/composite.py),
# for files that do not set their own: it hides the crop's border, and it also takes part of a hair edit off the hair
# that reaches that edge (docs/celeba-experiments.md, *The paste's edge*; `stylize --feather`). Up to half the crop.
FEATHER, MAX_FEATHER = 0.12, 0.5
# An edit whose inner face is darkened (`stylize-train eval`'s shaded) over more than this share counts as stained; an
# eval records how often, and `stylize` warns from it
STAINED = 0.1


def bundled_dir() -> Path:
    return Path(str(resources.files(__package__) / "bundled"))


def bundled_models() -> dict[str, Path]:
    """Model files shipped inside the package, by name (file stem)."""
    d = bundled_dir()
    return {p.stem: p for p in sorted(d.glob("*.safetensors"))} if d.is_dir() else {}


def bundled_for(request: dict[str, str]) -> str:
    """The one bundled model that takes every named group with the asked value (``--hair blond`` → ``celeba``);
    a one-line ModelFileError listing what is bundled when none or several do."""
    fits, offers = [], []
    for name, path in bundled_models().items():
        groups = {g.name: g for g in DomainSchema.from_json(read_metadata(path)["schema"]).groups}
        offers.append(f"{name} ({', '.join(f'--{g.name} {chr(124).join(g.values)}' for g in groups.values())})")
        if all(k in groups and v in groups[k].values for k, v in request.items()):
            fits.append(name)
    if len(fits) == 1:
        return fits[0]
    asked = " ".join(f"--{k} {v}" for k, v in request.items())
    if fits:
        raise ModelFileError(f"several bundled models take {asked} ({', '.join(fits)}); pick one with -m")
    raise ModelFileError(f"no bundled model takes {asked}; bundled: {'; '.join(offers) or 'none'}. "
                         "Name a model file with -m")


def resolve_model_path(path_or_name: str | Path) -> Path:
    """A bundled model name or a file path → an existing file path, or a one-line ModelFileError."""
    bundled = bundled_models()
    if str(path_or_name) in bundled:
        return bundled[str(path_or_name)]
    path = Path(path_or_name)
    if not path.exists():
        names = ", ".join(bundled) or "none"
        raise ModelFileError(f"no model file or bundled model named '{path_or_name}' (bundled: {names})")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    return path


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of a model file, checked, without loading the weights."""
    path = resolve_model_path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise ModelFileError(f"{path} is empty (0 bytes)")
    try:
        with safe_open(str(path), framework="numpy") as f:  # "numpy": reading the header loads no torch
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        # only now look for a pickle's signature: a safetensors header length can start with the byte 0x80 too
        if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
            raise ModelFileError(f"{path} is a PyTorch pickle checkpoint, not a stylize model file; "
                                 "convert it with 'stylize import-stargan'") from None
        raise ModelFileError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0]})") from None
    if raw is None:
        raise ModelFileError(f"{path} is a safetensors file without stylize metadata")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: metadata is not in the {FORMAT} format")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {meta.get('version')} is not supported "
                             f"(this stylize reads version {FORMAT_VERSION})")
    try:
        schema = DomainSchema.from_json(meta["schema"])
        Alignment.from_json(meta["alignment"])
        c_dim = int(meta["generator"]["c_dim"])
        int(meta["image_size"])
        if meta.get("apply", "change") not in APPLY_MODES:
            raise ValueError(f"apply must be one of {', '.join(APPLY_MODES)}")
        if not 0 <= float(meta.get("colour_blur", 0.0)) <= MAX_COLOUR_BLUR:
            raise ValueError(f"colour_blur must be 0 to {MAX_COLOUR_BLUR:g}")
        if not 0 <= float(meta.get("feather", FEATHER)) <= MAX_FEATHER:
            raise ValueError(f"feather must be 0 to {MAX_FEATHER:g}")
    except (KeyError, TypeError, ValueError, SchemaError) as e:
        raise ModelFileError(f"{path}: metadata does not describe a usable model ({e})") from None
    if c_dim != schema.c_dim:
        raise ModelFileError(f"{path}: generator takes {c_dim} labels but the schema has {schema.c_dim}")
    return meta
