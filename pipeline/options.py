"""What a user can tune about an edit, with the defaults they get without flags: one dataclass that the CLI reads
its option defaults from and every command hands to the pipeline. Imports no stage, so reading it is cheap."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stylize.models.modelfile import StyleModel

    from .detect import FaceDetector
    from .encode import VideoWriter
    from .frames import VideoInfo
    from .track import SmoothingConfig
    from .translate import Translator

# Fields that do not change what an edit looks like (where and how fast it runs); every other field does.
# (precision moves the output by 0.06 grey levels on average, as CUDA's fp16 does: README *Speed*)
NOT_IN_RESULT = frozenset({"device", "precision", "batch_size", "progress"})

# Applied over the preset. veryfast refines motion vectors to sub-pixel precision only coarsely (subme 2); at 4 the
# re-encoded face regions shimmer less from frame to frame (README, "The encoder's share";
# benchmarks/encode_flicker.py) for about a quarter more encoder time, in ffmpeg's process beside the other stages;
# at the same CRF it also keeps a little less of the finest texture (README: sharpness 0.947 -> 0.914 on one clip).
X264_PARAMS = "subme=4"
PRECISIONS = ("auto", "fp32")  # --precision: the generator's arithmetic (translate.Translator)


def default_smoothing() -> SmoothingConfig:
    from .track import SmoothingConfig

    return SmoothingConfig()


@dataclass(frozen=True)
class EditOptions:
    """Everything the CLI can tune; defaults are what a user should get without flags (for videos; see
    :meth:`for_photos`)."""

    device: str = "auto"
    precision: str = "auto"  # the generator's arithmetic: fp16 on CUDA, bfloat16 on CPUs that have it (Translator)
    batch_size: int = 16
    detector: str = "hog"
    upsample: int = 0
    detect_max_side: int = 640
    detect_every: int = 3  # full detection every N video frames, landmark refits between (see detect_frames)
    min_face: int = 36  # faces smaller than this (pixels, about 2.5× the eye distance) are left alone
    smoothing: SmoothingConfig | None = field(default_factory=default_smoothing)  # None: --no-smooth
    smooth_output: float = 0.9  # blend strength of --smooth-output (0 is off); benchmarks/flicker.py measures it
    apply: str | None = None  # "change" or "output"; None: what the model file says (see composite.py)
    region: str = "auto"  # where the change may act: "auto" keeps hair edits out of the inner face (regions.py)
    strength: float = 1.0  # the model's change scaled (translate.model_change); 1 is as trained
    # the change's colour blurred over this % of the crop (translate.blur_colour); 0 is off; None: the model file's
    colour_blur: float | None = None
    # share of the crop over which each face's paste fades toward its edge (composite.py); None: the model file's
    feather: float | None = None
    crf: int = 18
    preset: str = "veryfast"
    x264_params: str = X264_PARAMS  # over the preset; "" for the preset's own settings
    progress: bool = True

    @classmethod
    def for_photos(cls, **changes) -> EditOptions:
        """The defaults for photos, with ``changes``: a photo is one frame, often large, with faces of any size and
        no frame rate to keep up with, so dlib searches a larger copy (1600 px) at upsample 1, which finds faces of
        half the size (about 40 px)."""
        return cls(**{"upsample": 1, "detect_max_side": 1600, **changes})

    def settings_key(self, model: StyleModel, request: dict[str, str], **more) -> str:
        """A short digest of everything that decides the result: the model (weights and how to feed them), the
        request, the options that shape the output and ``more`` (a command's own, e.g. ``only_faces``). Resumable
        batches record it with each finished item, so a re-run with another model, target or option redoes the
        item instead of mixing old and new edits in one folder."""
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in NOT_IN_RESULT}
        settings["colour_blur"], settings["feather"] = model.paste_settings(self.colour_blur, self.feather)
        if settings["smoothing"] is not None:
            settings["smoothing"] = asdict(settings["smoothing"])
        described = {k: v for k, v in model.metadata().items() if k != "provenance"}  # an eval added: same model
        digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
        nets = [model.generator] + ([model.discriminator] if model.discriminator is not None else [])
        for net in nets:  # the weights themselves, wherever the model came from; float32 whether the Translator
            for name, tensor in net.state_dict().items():  # has halved them or not (the file stores float16)
                tensor = tensor.detach().cpu()
                digest.update(name.encode())
                digest.update((tensor.float() if tensor.is_floating_point() else tensor).contiguous().numpy()
                              .tobytes())
        digest.update(json.dumps([sorted(request.items()), settings, sorted(more.items())], sort_keys=True,
                                 default=str).encode())
        return digest.hexdigest()[:16]

    def make_translator(self, model: StyleModel, request: dict[str, str]) -> Translator:
        from .translate import Translator

        return Translator(model, request, self.device, self.apply, self.region, self.strength, self.colour_blur,
                          self.precision, self.feather)

    def make_detector(self) -> FaceDetector:
        from .detect import FaceDetector

        return FaceDetector(self.detector, self.upsample, self.detect_max_side, self.min_face)

    def make_writer(self, path: Path, info: VideoInfo, source: Path) -> VideoWriter:
        from .encode import VideoWriter

        return VideoWriter(path, info, source, self.crf, self.preset, self.x264_params)


VIDEO, PHOTO = EditOptions(), EditOptions.for_photos()  # frozen: the defaults the CLI shows
