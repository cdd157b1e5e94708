"""Import of checkpoints written by the original StarGAN code (``200000-G.ckpt`` and ``200000-D.ckpt``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .alignment import CELEBA_TEMPLATE, Alignment
from .modelfile import ModelFileError, save_model
from .schema import RAFD_EXPRESSIONS, DomainSchema, LabelSet, schema_from_attrs
from .stargan import Discriminator, Generator, discriminator_sizes, generator_sizes


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """An original checkpoint is a bare state dict saved by ``torch.save``; read it with ``weights_only=True``
    so a malicious file cannot run code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise ModelFileError(f"{path} is not a readable PyTorch checkpoint ({str(e).splitlines()[0]})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or "main.0.weight" not in state:
        raise ModelFileError(f"{path} does not hold an original StarGAN state dict (no 'main.0.weight')")
    return state


def schema_for_attrs(attrs: list[str], c_dim: int) -> DomainSchema:
    """CelebA names, RaFD expressions, or both (the joint model: labels then a 2-slot mask vector)."""
    rafd = [a for a in attrs if a.lower() in RAFD_EXPRESSIONS]
    celeba = [a for a in attrs if a.lower() not in RAFD_EXPRESSIONS]
    if rafd and celeba:
        schema = DomainSchema((LabelSet("celeba", tuple(schema_from_attrs(celeba))),
                               LabelSet("rafd", tuple(schema_from_attrs(rafd)))))
    else:
        schema = DomainSchema.single("rafd" if rafd else "celeba", schema_from_attrs(attrs))
    if schema.c_dim != c_dim:
        raise ModelFileError(f"the checkpoint takes {c_dim} labels but --attrs describe {schema.c_dim} "
                             f"({', '.join(attrs)})")
    return schema


def import_stargan(g_path: Path, out: Path, attrs: list[str], image_size: int | None = None,
                   d_path: Path | None = None, alignment: Alignment | None = None) -> Path:
    """Converts an original G (and optionally D) checkpoint into a stylize model file."""
    g_state = read_state_dict(g_path)
    g_cfg = generator_sizes(g_state)
    generator = Generator(**g_cfg)
    try:
        generator.load_state_dict(g_state, strict=True)
    except RuntimeError as e:
        raise ModelFileError(f"{g_path}: not a StarGAN generator ({str(e).splitlines()[0]})") from None
    schema = schema_for_attrs(attrs, g_cfg["c_dim"])
    discriminator = None
    if d_path is not None:
        d_state = read_state_dict(d_path)
        d_cfg = discriminator_sizes(d_state)
        if image_size is not None and image_size != d_cfg["image_size"]:
            raise ModelFileError(f"{d_path} was trained at {d_cfg['image_size']} px, not --image-size {image_size}")
        if d_cfg["c_dim"] != schema.cls_dim:
            raise ModelFileError(f"{d_path} predicts {d_cfg['c_dim']} labels, expected {schema.cls_dim}")
        image_size = d_cfg["image_size"]
        discriminator = Discriminator(**d_cfg)
        try:
            discriminator.load_state_dict(d_state, strict=True)
        except RuntimeError as e:
            raise ModelFileError(f"{d_path}: not a StarGAN discriminator ({str(e).splitlines()[0]})") from None
    if image_size is None:
        raise ModelFileError("give --image-size (or --discriminator, which carries it)")
    provenance = {"imported_from": {"generator": Path(g_path).name,
                                    "discriminator": None if d_path is None else Path(d_path).name},
                  "attrs": attrs, "trainer": "original StarGAN (yunjey/stargan)"}
    return save_model(out, generator, discriminator, schema, image_size,
                      alignment or Alignment("face", CELEBA_TEMPLATE), provenance, dtype=torch.float32)
