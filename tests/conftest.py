"""Fixtures made from what the dependencies ship: the public-domain NASA portrait of Eileen Collins bundled with
scikit-image (``skimage/data/astronaut.png``), rendered into short clips with motion, cuts and a tone."""

from __future__ import annotations

import importlib.util
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stylize.models import Alignment, Discriminator, DomainSchema, Generator, Group, save_model
from stylize.models.alignment import CELEBA_TEMPLATE
from stylize.pipeline.ffmpeg_tools import ffmpeg_exe

SHARED = Path(__file__).resolve().parents[2] / "shared"


def astronaut() -> np.ndarray:
    """512x512 RGB portrait, read from scikit-image's data folder without importing scikit-image."""
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.origin, "scikit-image (a test dependency) is not installed"
    bgr = cv2.imread(str(Path(spec.origin).parent / "data" / "astronaut.png"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def background(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=3)
    yy, xx = np.mgrid[0:h, 0:w]
    img = base[None, None, :] + 40 * np.sin(xx[..., None] / (17 + 5 * seed) + np.arange(3)) * np.cos(yy[..., None] / 23)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_frames(n: int, size: tuple[int, int] = (320, 240), faces: int = 1, cut_at: int | None = None,
                  face_px: int = 200, wrap: bool = True) -> list[np.ndarray]:
    """Frames with ``faces`` astronaut heads drifting slowly over a textured background; after ``cut_at`` the
    background and the faces' places change (a scene cut). The drift jumps back every 15 frames unless ``wrap``
    is off (then it is one smooth pan, as a camera moves)."""
    w, h = size
    face = cv2.resize(astronaut()[25:225, 125:325], (face_px, face_px), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        shot = 1 if cut_at is not None and i >= cut_at else 0
        img = background(h, w, shot)
        for k in range(faces):
            x = int(5 + k * (w // max(faces, 1)) + ((2 * i) % 30 if wrap else i) + shot * 25)
            y = int(h / 2 - face_px / 2 + 6 * np.sin(i / 6) - shot * 15)
            x, y = min(max(x, 0), w - face_px), min(max(y, 0), h - face_px)
            img[y:y + face_px, x:x + face_px] = face
        frames.append(img)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(30000, 1001), audio: bool = True,
               extra: tuple[str, ...] = ()) -> Path:
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-framerate", str(fps), "-i", "pipe:"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={len(frames) / float(fps):.3f}"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv444p" if w % 2 or h % 2 else "yuv420p", "-crf", "12"]
    cmd += (["-c:a", "aac"] if audio else []) + list(extra) + [str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def read_all_frames(path: Path) -> list[np.ndarray]:
    from stylize.pipeline.decode import read_frames
    from stylize.pipeline.ffmpeg_tools import probe

    return [f.image for f in read_frames(path, probe(path))]


def tiny_model(path: Path, image_size: int = 32, with_d: bool = True, seed: int = 0) -> Path:
    """A random-weight face model (hair black/blond + gender) small enough for the CPU in milliseconds. Its
    output is noise-like, so 'the face changed' is easy to see and 'the background did not' is exact."""
    torch.manual_seed(seed)
    schema = DomainSchema.single("celeba", [Group("hair", ("black", "blond"), "onehot", ("Black_Hair", "Blond_Hair")),
                                            Group("gender", ("female", "male"), "binary", ("Male",))])
    g = Generator(conv_dim=8, c_dim=schema.c_dim, repeat_num=1)
    d = Discriminator(image_size, conv_dim=8, c_dim=schema.cls_dim, repeat_num=3) if with_d else None
    return save_model(path, g, d, schema, image_size, Alignment("face", CELEBA_TEMPLATE), {"trainer": "test"})


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """45 frames (1.5 s) at 29.97 fps, 320x240, one moving face, AAC tone."""
    return write_clip(tmp_path_factory.mktemp("clip") / "face.mp4", render_frames(45))
