"""``edit_image``: one photo through the same chain as a video frame (no tracking: it is a single frame)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stylize.models.modelfile import StyleModel

from .atomic import atomic_output, check_output_path
from .detect import FaceDetector
from .edit import EditStats, edit_frames
from .errors import InputError
from .frames import Frame
from .options import EditOptions
from .photo_io import FORMAT_BY_SUFFIX, PHOTO_SUFFIXES, read_photo, write_photo
from .translate import Translator


@dataclass
class ImageResult:
    faces: int
    output: Path
    side: int  # the photo's longest side in pixels, upright


def edit_photo(source: Path, output: Path, translator: Translator, detector: FaceDetector | None,
               options: EditOptions) -> ImageResult:
    """Edits one photo with an already loaded model and detector (the batch command reuses them)."""
    photo = read_photo(source)
    stats = EditStats()
    [(frame, edited)] = list(edit_frames([Frame(0, photo.rgb)], translator, detector, options, stats, video=False))
    with atomic_output(output) as tmp:
        write_photo(photo, edited, tmp, FORMAT_BY_SUFFIX.get(output.suffix.lower()))
    return ImageResult(len(frame.faces), output, max(photo.rgb.shape[:2]))


def edit_image(source: Path, output: Path, model: StyleModel, request: dict[str, str],
               options: EditOptions | None = None) -> ImageResult:
    options = options or EditOptions.for_photos()
    if output.suffix.lower() not in PHOTO_SUFFIXES:
        raise InputError(f"{output}: unsupported output type (use one of {', '.join(PHOTO_SUFFIXES)})")
    check_output_path(output)
    translator = options.make_translator(model, request)
    detector = options.make_detector() if model.alignment.kind == "face" else None
    return edit_photo(source, output, translator, detector, options)
