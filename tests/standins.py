"""Stand-in datasets laid out exactly as the published ones, made from the bundled public-domain portrait, so
that the real CelebA / RaFD / CK+ drop in unchanged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .conftest import astronaut

CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
                "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
                "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
                "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie "
                "Young").split()


def face(i: int, size: tuple[int, int], tint: int = -1, gray: bool = False) -> np.ndarray:
    """The portrait's head, slightly shifted per ``i``, resized to ``size`` (w, h); ``tint`` boosts a channel so
    labels are learnable; BGR for cv2.imwrite."""
    img = astronaut()[15 + i % 5: 235 + i % 5, 115 + i % 7: 335 + i % 7].astype(np.int16)
    if tint >= 0:
        img[..., tint] += 60
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr


def make_folder(root: Path, n: int = 8) -> Path:
    for d, tint in (("red", 0), ("blue", 2)):
        (root / d).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / d / f"{i:03d}.png"), face(i, (96, 96), tint))
    return root


def make_anime(root: Path, n: int = 12) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(root / f"{i:04d}.jpg"), face(i, (96, 96), i % 3))
    return root


def make_celeba(root: Path, n: int = 24) -> Path:
    (root / "img_align_celeba").mkdir(parents=True)
    lines = [str(n), " ".join(CELEBA_ATTRS)]
    hair = ("Black_Hair", "Blond_Hair", "Brown_Hair")
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        canvas = np.full((218, 178, 3), 128, np.uint8)
        canvas[19:199] = cv2.resize(face(i, (178, 178), i % 3), (178, 180))
        cv2.imwrite(str(root / "img_align_celeba" / name), canvas)
        on = {hair[i % 3], "Male" if i % 2 else "", "Young" if i % 4 < 2 else ""}
        lines.append(name + " " + " ".join("1" if a in on else "-1" for a in CELEBA_ATTRS))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def make_rafd(root: Path, subjects: int = 10) -> Path:
    root.mkdir(parents=True)
    expressions = ("angry", "happy", "sad", "neutral")
    for s in range(1, subjects + 1):
        for k, e in enumerate(expressions):
            name = f"Rafd090_{s:02d}_Caucasian_female_{e}_frontal.jpg"
            cv2.imwrite(str(root / name), face(s + k, (200, 200), k % 3))
    (root / "Rafd000_01_Caucasian_female_happy_frontal.jpg").write_bytes(b"profile, left out by angle")
    return root


def make_ckplus_folders(root: Path, subjects: int = 8) -> Path:
    """The one-folder-per-expression layout of CK+48: 48 px gray tight face crops, subject first in the name."""
    for e, folder in enumerate(("anger", "happy", "surprise")):
        (root / folder).mkdir(parents=True)
        for s in range(1, subjects + 1):
            tight = astronaut()[60 + s % 3:170 + s % 3, 165 + s % 5:275 + s % 5]  # eyes to chin
            gray = cv2.cvtColor(cv2.resize(tight, (48, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            cv2.imwrite(str(root / folder / f"S{s:03d}_00{e + 1}_{12 + e:08d}.png"), np.clip(gray + 20 * e, 0, 255))
    (root / "happy" / "notes.png").write_bytes(cv2.imencode(".png", np.zeros((48, 48), np.uint8))[1].tobytes())
    return root


def make_ckplus(root: Path, subjects: int = 10) -> Path:
    for s in range(1, subjects + 1):
        subject, seq = f"S{s:03d}", "001"
        frames = root / "cohn-kanade-images" / subject / seq
        frames.mkdir(parents=True)
        for f in range(1, 4):
            cv2.imwrite(str(frames / f"{subject}_{seq}_{f:08d}.png"), face(s + f, (160, 128), gray=True))
        emotion = root / "Emotion" / subject / seq
        emotion.mkdir(parents=True)
        (emotion / f"{subject}_{seq}_00000003_emotion.txt").write_text(f"   {1 + s % 7}.0000000e+00\n")
    return root
