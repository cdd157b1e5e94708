"""The stylize model file: safetensors weights plus one JSON metadata entry that says everything inference needs.

safetensors rather than ``torch.save``: loading it cannot execute code (no pickle), it is memory-mapped and its
header can be read without the weights, which ``stylize models`` uses to list files cheaply.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .alignment import Alignment
from .architectures import build_generator
from .errors import ModelFileError
from .schema import DomainSchema, SchemaError
from .stargan import Discriminator

FORMAT = "stylize-model"
FORMAT_VERSION = 1
METADATA_KEY = "stylize"
APPLY_MODES = ("change", "output")  # paste the model's change onto the full-resolution face, or its output


@dataclass
class StyleModel:
    """A loaded model: the networks plus the metadata that says how to feed them."""

    generator: nn.Module  # any family of models/architectures.py: forward(x, c) → image
    discriminator: Discriminator | None
    schema: DomainSchema
    image_size: int
    alignment: Alignment
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    provenance: dict = field(default_factory=dict)
    name: str = ""
    apply: str = "change"
    path: str = ""  # the file it was loaded from

    def target_vector(self, request: dict[str, str], source: np.ndarray | None = None) -> np.ndarray:
        """Label vector for ``request`` (e.g. ``{"hair": "blond"}``), other groups kept from ``source``
        (the person's own labels as D's classifier logits; see :meth:`estimate_source`)."""
        return self.schema.target_vector(request, source)

    @torch.no_grad()
    def estimate_source(self, faces: torch.Tensor) -> np.ndarray | None:
        """D's classifier logits for aligned faces (N×3×S×S in [-1, 1]), averaged over N: one estimate of one
        person's own attributes. None when the file has no discriminator."""
        if self.discriminator is None:
            return None
        d = self.discriminator
        p = next(d.parameters())
        _, logits = d(faces.to(device=p.device, dtype=p.dtype))
        return logits.float().mean(0).cpu().numpy()

    def measured_rates(self, request: dict[str, str]) -> dict[str, float]:
        """For each asked ``group=value``, how often `stylize-train eval` judged the edit reached on held-out
        faces, as recorded in the file (absent when the file carries no eval or none for that value)."""
        per_target = (self.provenance.get("eval") or {}).get("per_target", {})
        keys = (f"{group}={value}" for group, value in request.items())
        return {k: float(per_target[k]) for k in keys if k in per_target}

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> StyleModel:
        self.generator.to(device=device, dtype=dtype).eval()
        if self.discriminator is not None:
            self.discriminator.to(device=device, dtype=dtype).eval()
        return self

    def metadata(self) -> dict:
        return build_metadata(self.generator, self.discriminator, self.schema, self.image_size, self.alignment,
                              self.provenance, self.mean, self.std, self.apply)


def build_metadata(generator: nn.Module, discriminator: Discriminator | None, schema: DomainSchema,
                   image_size: int, alignment: Alignment, provenance: dict,
                   mean: tuple[float, ...] = (0.5, 0.5, 0.5), std: tuple[float, ...] = (0.5, 0.5, 0.5),
                   apply: str = "change") -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "image_size": image_size,
        "generator": generator.sizes(),
        "discriminator": None if discriminator is None else discriminator.sizes(),
        "schema": schema.to_json(),
        "alignment": alignment.to_json(),
        "normalization": {"mean": list(mean), "std": list(std), "range": [-1, 1]},
        "apply": apply,
        "provenance": provenance,
    }


def save_model(path: str | Path, generator: nn.Module, discriminator: Discriminator | None, schema: DomainSchema,
               image_size: int, alignment: Alignment, provenance: dict, dtype: torch.dtype = torch.float16,
               apply: str = "change") -> Path:
    """Writes a model file atomically (temporary name, then rename). ``dtype`` float16 halves the file; weights
    are widened back to float32 on load."""
    if generator.c_dim != schema.c_dim:
        raise ValueError(f"generator expects c_dim {generator.c_dim} but the schema describes {schema.c_dim}")
    tensors = {f"G.{k}": v for k, v in generator.state_dict().items()}
    if discriminator is not None:
        tensors.update({f"D.{k}": v for k, v in discriminator.state_dict().items()})
    tensors = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in tensors.items()}
    meta = build_metadata(generator, discriminator, schema, image_size, alignment, provenance, apply=apply)
    return _write_file(tensors, meta, Path(path))


def _write_file(tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> Path:
    """Writes beside the target and renames, so a reader never sees a half-written model under its final name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(meta)})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only; a model file is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def update_provenance(path: str | Path, apply: str | None = None, **items) -> None:
    """Adds entries (e.g. eval figures) to a model file's provenance, and optionally sets how it is applied,
    rewriting the file atomically."""
    path = Path(path)
    meta = read_metadata(path)
    meta["provenance"] = {**meta.get("provenance", {}), **items}
    if apply is not None:
        meta["apply"] = apply
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    _write_file(tensors, meta, path)


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
        with safe_open(str(path), framework="pt") as f:
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
    except (KeyError, TypeError, ValueError, SchemaError) as e:
        raise ModelFileError(f"{path}: metadata does not describe a usable model ({e})") from None
    if c_dim != schema.c_dim:
        raise ModelFileError(f"{path}: generator takes {c_dim} labels but the schema has {schema.c_dim}")
    return meta


def load_model(path_or_name: str | Path, device: str | torch.device = "cpu",
               with_discriminator: bool = True) -> StyleModel:
    """Loads a model file or a bundled model by name. Never unpickles: weights come from safetensors."""
    path = resolve_model_path(path_or_name)
    meta = read_metadata(path)
    try:
        schema = DomainSchema.from_json(meta["schema"])
        image_size = int(meta["image_size"])
        g_cfg, d_cfg = meta["generator"], meta.get("discriminator")
        alignment = Alignment.from_json(meta["alignment"])
        norm = meta.get("normalization", {})
        generator = build_generator(g_cfg)
        discriminator = None
        if d_cfg and with_discriminator:
            discriminator = Discriminator(image_size, int(d_cfg["conv_dim"]), int(d_cfg["c_dim"]),
                                          int(d_cfg["repeat_num"]), bool(d_cfg.get("projection", False)))
    except (KeyError, TypeError, ValueError, SchemaError) as e:
        raise ModelFileError(f"{path}: metadata does not describe a usable model ({e})") from None
    if discriminator is not None and discriminator.c_dim != schema.cls_dim:
        raise ModelFileError(f"{path}: discriminator predicts {discriminator.c_dim} labels, schema has "
                             f"{schema.cls_dim}")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            for prefix, net in (("G.", generator), ("D.", discriminator)):
                if net is None:
                    continue
                state = {k[len(prefix):]: f.get_tensor(k) for k in keys if k.startswith(prefix)}
                state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
                net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not match the described architecture "
                             f"({str(e).splitlines()[0]})") from None
    except (SafetensorError, OSError) as e:
        raise ModelFileError(f"{path}: cannot read weights ({str(e).splitlines()[0]})") from None
    model = StyleModel(generator, discriminator, schema, image_size, alignment,
                       tuple(norm.get("mean", (0.5,) * 3)), tuple(norm.get("std", (0.5,) * 3)),
                       dict(meta.get("provenance", {})), path.stem, str(meta.get("apply", "change")), str(path))
    return model.to(device)
