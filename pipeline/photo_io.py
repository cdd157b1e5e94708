"""Reading and writing photos so that nothing a user cares about is lost: EXIF orientation applied, alpha,
grayscale, palette, CMYK and 16-bit images converted for the model and back, metadata (EXIF, ICC) kept where the
format allows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

FORMAT_BY_SUFFIX = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                    ".tif": "TIFF", ".tiff": "TIFF"}
PHOTO_SUFFIXES = tuple(FORMAT_BY_SUFFIX)
MAX_PIXELS = 100_000_000  # larger images are refused rather than risking the machine's memory


@dataclass
class Photo:
    """RGB uint8 pixels for the pipeline, plus what is needed to write the result back like the original."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mode: str
    info: dict = field(default_factory=dict)


def read_photo(path: Path) -> Photo:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{path}: image too large ({im.width}x{im.height})")
                im.load()
                fmt, mode = im.format or "PNG", im.mode
                info = {"exif": im.getexif(), "icc_profile": im.info.get("icc_profile")}
                im = ImageOps.exif_transpose(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{path}: not a readable image ({type(e).__name__})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: cannot read image ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                         ) from None
    alpha = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.uint32)
        gray = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            alpha = np.asarray(im)[..., 3].copy()
        rgb = np.asarray(im.convert("RGB")).copy()
    info["exif"].pop(0x0112, None)  # orientation is now applied to the pixels
    return Photo(rgb, alpha, fmt, mode, info)


def write_photo(photo: Photo, rgb: np.ndarray, path: Path, fmt: str | None = None) -> None:
    """Writes ``rgb`` in ``fmt`` (default: the original's format) and the original's mode family (grey stays
    grey, alpha stays where the format has it, 16-bit grey PNG stays 16-bit); the caller provides a temporary
    path and renames it."""
    fmt = fmt or ("JPEG" if photo.format == "MPO" else photo.format)
    im = Image.fromarray(rgb)
    if photo.mode in ("L", "LA", "1") or photo.mode.startswith("I"):
        im = im.convert("L")
    if photo.mode.startswith("I") and fmt == "PNG":
        im = Image.fromarray((np.asarray(im, dtype=np.uint16) * 257).astype(np.uint16))
    if photo.alpha is not None:
        im = im.convert("RGBA" if im.mode == "RGB" else "LA")
        im.putalpha(Image.fromarray(photo.alpha))
    kwargs: dict = {}
    if photo.info.get("icc_profile") and im.mode in ("RGB", "RGBA") and photo.mode not in ("CMYK",):
        kwargs["icc_profile"] = photo.info["icc_profile"]
    if fmt in ("JPEG", "BMP") and im.mode in ("RGBA", "LA"):
        im = im.convert("RGB" if im.mode == "RGBA" else "L")
    if fmt == "JPEG":
        kwargs.update(quality=95, subsampling=0)
    if fmt == "WEBP":
        kwargs["quality"] = 95
    if fmt in ("JPEG", "WEBP", "PNG", "TIFF") and len(photo.info["exif"]):
        kwargs["exif"] = photo.info["exif"].tobytes()
    im.save(path, format=fmt, **kwargs)
