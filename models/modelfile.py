"""The stylize model file: safetensors weights plus one JSON metadata entry that says everything inference needs.

safetensors rather than ``torch.save``: loading it cannot execute code (no pickle), it is memory-mapped and its
header can be read without the weights, which ``stylize models`` uses to list files cheaply.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .alignment import Alignment
from .architectures import build_generator
from .catalogue import (
    APPLIED,
    APPLY_MODES,
    FEATHER,
    FORMAT,
    FORMAT_VERSION,
    MAX_COLOUR_BLUR,
    MAX_FEATHER,
    METADATA_KEY,
    read_metadata,
    resolve_model_path,
)
from .errors import ModelFileError
from .schema import DomainSchema, SchemaError
from .stargan import Discriminator


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
    colour_blur: float = 0.0  # what `stylize` blurs the change's colour over unless asked otherwise (translate.py)
    feather: float = FEATHER  # how far `stylize` fades each face's paste toward its crop's edge unless asked otherwise

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

    def measured_rates(self, request: dict[str, str], figure: str = "per_target") -> dict[str, float]:
        """For each asked ``group=value``, how often `stylize-train eval` judged the edit reached on held-out
        faces (``figure`` "stained": how often it darkened over STAINED of the face), as recorded in the file (absent
        when the file carries no eval or none for that value)."""
        per_target = (self.provenance.get("eval") or {}).get(figure, {})
        keys = (f"{group}={value}" for group, value in request.items())
        return {k: float(per_target[k]) for k in keys if k in per_target}

    @property
    def measured_with(self) -> dict[str, float | str]:
        """The `stylize` options the recorded eval edited with where they were not what `stylize` uses by default
        (`--strength` other than 1, `--colour-blur`, `--feather` or `--apply` other than this file's; an eval that
        does not say used 1, 0, FEATHER and the file's own paste), so its figures are read right."""
        ev = self.provenance.get("eval") or {}
        strength = float(ev.get("strength", 1.0))
        blur, feather = self.paste_settings(float(ev.get("colour_blur", 0.0)), float(ev.get("feather", FEATHER)))
        own_blur, own_feather = self.paste_settings()  # a whole-image model's fade is 0 either way
        applied = next((mode for mode, said in APPLIED.items() if ev.get("applied") in (mode, said)), self.apply)
        return {**({"--strength": strength} if strength != 1.0 else {}),
                **({"--colour-blur": blur} if blur != own_blur else {}),
                **({"--feather": feather} if feather != own_feather else {}),
                **({"--apply": applied} if applied != self.apply else {})}

    def paste_mode(self, apply: str | None = None) -> str:
        """How to paste: ``apply`` if given, else (None) this file's own; "change" adds the model's change to the
        full-resolution face (composite.py), "output" pastes the model-size output itself."""
        mode = self.apply if apply is None else apply
        if mode not in APPLY_MODES:  # anything else would silently paste the output
            raise ValueError(f"apply must be one of {', '.join(APPLY_MODES)}, not {mode!r}")
        return mode

    def paste_settings(self, colour_blur: float | None = None, feather: float | None = None) -> tuple[float, float]:
        """The colour blur and feather to paste with: those asked, else (None) this file's own, checked. A
        whole-image model is not faded (its "face" is the whole frame, which has no crop edge to hide)."""
        colour_blur = self.colour_blur if colour_blur is None else colour_blur
        feather = self.feather if feather is None else feather
        check_paste(colour_blur, feather)
        return float(colour_blur), 0.0 if self.alignment.kind == "none" else float(feather)

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> StyleModel:
        self.generator.to(device=device, dtype=dtype).eval()
        if self.discriminator is not None:
            self.discriminator.to(device=device, dtype=dtype).eval()
        return self

    def metadata(self) -> dict:
        return build_metadata(self.generator, self.discriminator, self.schema, self.image_size, self.alignment,
                              self.provenance, self.mean, self.std, self.apply, self.colour_blur, self.feather)


def build_metadata(generator: nn.Module, discriminator: Discriminator | None, schema: DomainSchema,
                   image_size: int, alignment: Alignment, provenance: dict,
                   mean: tuple[float, ...] = (0.5, 0.5, 0.5), std: tuple[float, ...] = (0.5, 0.5, 0.5),
                   apply: str = "change", colour_blur: float = 0.0, feather: float = FEATHER) -> dict:
    """The file's metadata. ``colour_blur`` and ``feather`` are written only when not the default, so a file without
    them reads (and digests, for the resumable folders' settings key) as it did before the fields existed."""
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
        **({"colour_blur": colour_blur} if colour_blur > 0 else {}),
        **({"feather": feather} if feather != FEATHER else {}),
        "provenance": provenance,
    }


def save_model(path: str | Path, generator: nn.Module, discriminator: Discriminator | None, schema: DomainSchema,
               image_size: int, alignment: Alignment, provenance: dict, dtype: torch.dtype = torch.float16,
               apply: str = "change", colour_blur: float = 0.0) -> Path:
    """Writes a model file atomically (temporary name, then rename). ``dtype`` float16 halves the file; weights
    are widened back to float32 on load."""
    if generator.c_dim != schema.c_dim:
        raise ValueError(f"generator expects c_dim {generator.c_dim} but the schema describes {schema.c_dim}")
    tensors = {f"G.{k}": v for k, v in generator.state_dict().items()}
    if discriminator is not None:
        tensors.update({f"D.{k}": v for k, v in discriminator.state_dict().items()})
    tensors = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in tensors.items()}
    meta = build_metadata(generator, discriminator, schema, image_size, alignment, provenance, apply=apply,
                          colour_blur=colour_blur)
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


def check_paste(colour_blur: float | None = None, feather: float | None = None) -> None:
    """ValueError for a colour blur or feather that the paste does not take (None: not given)."""
    if colour_blur is not None and not 0 <= colour_blur <= MAX_COLOUR_BLUR:
        raise ValueError(f"colour blur must be 0 to {MAX_COLOUR_BLUR:g}% of the crop, not {colour_blur:g}")
    if feather is not None and not 0 <= feather <= MAX_FEATHER:
        raise ValueError(f"feather must be 0 to {MAX_FEATHER:g} of the crop, not {feather:g}")


def update_provenance(path: str | Path, apply: str | None = None, colour_blur: float | None = None,
                      feather: float | None = None, **items) -> None:
    """Adds entries (e.g. eval figures) to a model file's provenance, and optionally sets how `stylize` applies it
    by default (``apply``, ``colour_blur``: 0 removes the field, ``feather``: FEATHER removes it), rewriting the file
    atomically."""
    if apply is not None and apply not in APPLY_MODES:
        raise ValueError(f"apply must be one of {', '.join(APPLY_MODES)}, not {apply!r}")
    check_paste(colour_blur, feather)
    path = Path(path)
    meta = read_metadata(path)
    meta["provenance"] = {**meta.get("provenance", {}), **items}
    if apply is not None:
        meta["apply"] = apply
    if colour_blur is not None:
        meta.pop("colour_blur", None)
        if colour_blur > 0:
            meta["colour_blur"] = colour_blur
    if feather is not None:
        meta.pop("feather", None)
        if feather != FEATHER:
            meta["feather"] = feather
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    _write_file(tensors, meta, path)


def load_for_run(path: str | Path, schema: DomainSchema, image_size: int, option: str,
                 with_discriminator: bool = False) -> StyleModel:
    """A model that can speak for a training run: the same labels and crop size. ValueError naming ``option``
    otherwise, with a one-line reason."""
    try:
        model = load_model(path, "cpu", with_discriminator=with_discriminator)
    except ModelFileError as e:
        raise ValueError(f"{option}: {e}") from None
    if model.schema.to_json() != schema.to_json():
        raise ValueError(f"{option}: {path} has other labels ({model.schema.describe()}) than this run "
                         f"({schema.describe()})")
    if model.image_size != image_size:
        raise ValueError(f"{option}: {path} works at {model.image_size} px, this run at {image_size} px")
    return model


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
                       dict(meta.get("provenance", {})), path.stem, str(meta.get("apply", "change")), str(path),
                       float(meta.get("colour_blur", 0.0)), float(meta.get("feather", FEATHER)))
    return model.to(device)
