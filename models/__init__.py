"""StarGAN networks and the self-describing model file (``load_model``, ``save_model``, ``import_stargan``)."""

from .alignment import NO_ALIGNMENT, Alignment
from .importer import import_stargan
from .modelfile import (
    ModelFileError,
    StyleModel,
    bundled_for,
    bundled_models,
    load_model,
    read_metadata,
    resolve_model_path,
    save_model,
)
from .schema import DomainSchema, Group, LabelSet, SchemaError
from .stargan import Discriminator, Generator

__all__ = [
    "NO_ALIGNMENT", "Alignment", "Discriminator", "DomainSchema", "Generator", "Group", "LabelSet",
    "ModelFileError", "SchemaError", "StyleModel", "bundled_for", "bundled_models", "import_stargan", "load_model",
    "read_metadata", "resolve_model_path", "save_model",
]
