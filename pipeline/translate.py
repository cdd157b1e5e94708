"""Stage 5: run the aligned crops through the generator, batched across frames.

The target vector for a face is what the user asked for plus, for every group the user did not name, the
person's own value estimated by the discriminator's classifier — once per track, from its first crops, so the
target does not flip from frame to frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from stylize.models.modelfile import StyleModel

from .frames import Frame
from .options import PRECISIONS
from .regions import edit_region

ESTIMATE_CROPS = 8  # crops of a track averaged for its attribute estimate
# Changes under one grey level are dropped: an attention mask is never exactly 0, and without this every pixel of
# the crop would move by a fraction of a level; with it, what the model left alone stays the source's exactly.
CHANGE_FLOOR = 1.0
# BT.601 luma and chroma of an RGB triple; of a difference of two, the offsets cancel, so the map is linear
LUMA_CHROMA = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
RGB_OF_LUMA_CHROMA = np.linalg.inv(LUMA_CHROMA).astype(np.float32)


def blur_colour(change: torch.Tensor, sigma: float, floor: float = CHANGE_FLOOR) -> torch.Tensor:
    """``change`` (N×3×H×W, in any units; ``floor`` in the same) with its chroma blurred (Gaussian, ``sigma`` px) and
    its luma, the light and shade, kept exactly. The blur is normalised over where the change acts (at least
    ``floor``), so colour neither spreads onto pixels the model left alone nor fades at an edit's edge. A model's
    speckle and painted patches are a few pixels across at model size, a hair colour or a tan many: this takes out the
    first and keeps most of the second. Differentiable in ``change``: `stylize` and `stylize-train --colour-blur` run
    this same code."""
    to_lc, to_rgb = (torch.from_numpy(m).to(change) for m in (LUMA_CHROMA, RGB_OF_LUMA_CHROMA))
    luma_chroma = torch.einsum("ij,njhw->nihw", to_lc, change)
    acts = (change.detach().abs().amax(1, keepdim=True) >= floor).to(change.dtype)
    # OpenCV's kernel size for a float image (8 sigma + 1, odd), cut to what mirroring inside the crop allows
    radius = min((int(round(8 * sigma + 1)) | 1) // 2, change.shape[2] - 1, change.shape[3] - 1)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1).to(change) / sigma) ** 2)
    taps = taps / taps.sum()

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable, mirrored at the border
        c = t.shape[1]
        t = F.conv2d(F.pad(t, (radius, radius, 0, 0), mode="reflect"), taps.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                     groups=c)
        return F.conv2d(F.pad(t, (0, 0, radius, radius), mode="reflect"), taps.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                        groups=c)

    chroma = blur(luma_chroma[:, 1:] * acts) / blur(acts).clamp_min(1e-6) * acts
    return torch.einsum("ij,njhw->nihw", to_rgb, torch.cat([luma_chroma[:, :1], chroma], 1))


def model_change(generated: np.ndarray, crop: np.ndarray, region: np.ndarray | None = None,
                 strength: float = 1.0, colour_blur: float = 0.0) -> np.ndarray:
    """What an edit adds to an aligned crop (float32, grey levels): the generator's output less the crop, its colour
    blurred over ``colour_blur`` percent of the crop's side (`blur_colour`; 0 for none), scaled by ``strength``
    (kept inside 0–255), weighted by where the edit may act (``region``, regions.py; None for everywhere), changes
    under CHANGE_FLOOR dropped. The one place `stylize` and `stylize-train eval` make it. ``generated`` and ``crop``
    are H×W×3 or a batch of them (N×H×W×3): a batch is blurred in one call, each crop on its own."""
    crop = crop.astype(np.float32)
    change = generated.astype(np.float32) - crop
    if colour_blur > 0:
        side = crop.shape[-3]
        batch = torch.from_numpy(change.reshape(-1, *change.shape[-3:])).permute(0, 3, 1, 2)
        blurred = blur_colour(batch, colour_blur / 100 * side).permute(0, 2, 3, 1).reshape(change.shape)
        change = np.clip(blurred.numpy(), -crop, 255.0 - crop)
    if strength != 1.0:
        change = np.clip(change * strength, -crop, 255.0 - crop)
    if region is not None:
        change *= region
    change[np.abs(change) < CHANGE_FLOOR] = 0.0
    return change


@contextmanager
def generator_threads(other_stages: int = 2) -> Iterator[None]:
    """Torch's CPU threads for the generator while a video streams: the cores less ``other_stages`` (detection and
    compositing run in threads of their own, decoding and encoding in ffmpeg), at least one. Torch's default, one
    thread a core, has its threads spin for cores the other stages hold: on 2 cores the generator then burned up
    to 1.9x the CPU for the same frames (benchmarks/video.py). Restores the caller's setting afterwards."""
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, cores - other_stages))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from .errors import InputError
        raise InputError("--device cuda: CUDA is not available on this machine")
    return torch.device(name)


def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), where the translate stage takes 1.8x less
    CPU in it (README *Speed*) and a training iteration 1.5x less (README *bfloat16 on a CPU*); elsewhere bfloat16 is
    emulated, not measured faster."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume not
        return False


class Translator:
    """Holds the model on its device (fp16 and channels_last on CUDA) and the per-track target vectors. ``precision``
    "auto" runs the generator in fp16 on CUDA and in bfloat16 on CPUs that have it natively (the crops, D's estimate
    of the person's own labels and the change stay float32: the output moves by 0.06 grey levels on average, README
    *Speed*); "fp32" runs it in float32 everywhere."""

    def __init__(self, model: StyleModel, request: dict[str, str], device: str = "auto",
                 apply: str | None = None, region: str = "auto", strength: float = 1.0,
                 colour_blur: float | None = None, precision: str = "auto", feather: float | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if not strength > 0:
            raise ValueError(f"strength must be above 0, not {strength:g}")
        colour_blur, feather = model.paste_settings(colour_blur, feather)  # None: the model file's own
        self.feather = feather  # how far each face's paste fades toward its crop's edge (composite.py)
        self.device = pick_device(device)
        self.strength = strength  # the change scaled: above 1 a faint edit shows more, and so do its flaws
        self.colour_blur = colour_blur  # the change's colour blurred (model_change): speckle and painted patches out
        self.keep_detail = model.paste_mode(apply) == "change"  # see composite.py
        # where the change may act (regions.py): "auto" keeps hair edits out of the inner face
        self.region = edit_region(model.alignment, model.image_size, request, region)
        self.half = self.device.type == "cuda" and precision == "auto"
        self.bfloat16 = self.device.type == "cpu" and precision == "auto" and cpu_has_fast_bfloat16()
        self.model = model.to(self.device, torch.float16 if self.half else torch.float32)
        if self.half:
            self.model.generator.to(memory_format=torch.channels_last)
        self.request = request
        schema = model.schema
        set_index = schema.validate(request)  # before any frame is decoded
        own = [g.name for g in schema.label_sets[set_index].groups if g.name not in request]
        self.needs_estimate = bool(own) and model.discriminator is not None
        self.fixed = None if self.needs_estimate else model.target_vector(request, None)
        self.targets: dict[int, np.ndarray] = {}

    def to_tensor(self, crops: list[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(crops)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).to(torch.float16 if self.half else torch.float32).div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=torch.channels_last) if self.half else x

    def targets_for(self, x: torch.Tensor, track_ids: np.ndarray) -> np.ndarray:
        """One target per crop: fixed when nothing is estimated, else per track (cached from the track's first
        batch) or per face for untracked faces (id < 0, photos)."""
        if self.fixed is not None:
            return np.repeat(self.fixed[None], len(track_ids), 0)
        out = []
        for i, t in enumerate(track_ids):
            if t >= 0 and t in self.targets:
                out.append(self.targets[t])
                continue
            same = torch.from_numpy(np.flatnonzero(track_ids == t)) if t >= 0 else torch.tensor([i])
            target = self.model.target_vector(self.request, self.model.estimate_source(x[same[:ESTIMATE_CROPS]]))
            if t >= 0:
                self.targets[int(t)] = target
            out.append(target)
        return np.stack(out)

    @torch.inference_mode()
    def __call__(self, crops: list[np.ndarray], track_ids: list[int]) -> list[np.ndarray]:
        """Generated crops (float32 RGB in 0–255, unrounded) for aligned crops (uint8 RGB), one G call for the
        whole batch."""
        if not crops:
            return []
        x = self.to_tensor(crops)
        c_t = torch.from_numpy(self.targets_for(x, np.asarray(track_ids))).to(self.device, x.dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            y = self.model.generator(x, c_t)
        y = y.float().add_(1.0).mul_(127.5).clamp_(0, 255)
        return list(y.permute(0, 2, 3, 1).cpu().numpy())


def translate_frames(frames: Iterable[Frame], translator: Translator, batch_size: int = 16,
                     max_frames: int = 16) -> Iterator[Frame]:
    """Collects frames until ``batch_size`` faces (or ``max_frames`` frames) are waiting, translates them in one
    batch and yields the frames in order. Holds at most ``max_frames`` frames."""
    pending: list[Frame] = []

    def flush() -> Iterator[Frame]:
        faces = [f for fr in pending for f in fr.faces]
        if faces:  # one model_change for the flush: the colour blur's convolutions run once, not once a face
            crops = [f.crop for f in faces]
            changes = model_change(np.stack(translator(crops, [f.track_id for f in faces])), np.stack(crops),
                                   translator.region, translator.strength, translator.colour_blur)
            for face, change in zip(faces, changes, strict=True):
                face.change = change
                face.keep_detail = translator.keep_detail
                face.feather = translator.feather
        yield from pending
        pending.clear()

    waiting = 0
    for frame in frames:
        pending.append(frame)
        waiting += len(frame.faces)
        if waiting >= batch_size or len(pending) >= max_frames:
            yield from flush()
            waiting = 0
    yield from flush()
