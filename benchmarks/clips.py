"""Clips the benchmarks run on: the shipped demo, longer loops of it, and a multi-person clip with scene cuts
made from real selfies in ``../shared`` (when present)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from stylize.pipeline.ffmpeg_tools import ffmpeg_exe

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "samples" / "astronaut.mp4"
SELFIES = ROOT.parent / "shared" / "data" / "selfie2anime" / "selfie"


def looped(seconds: float, out: Path, source: Path = DEMO) -> Path:
    """``source`` looped (video and sound) to ``seconds``, re-encoded so every frame is a real frame."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
                    "-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-c:a", "aac", str(out)], check=True)
    return out


def collage(out: Path, selfies: Path = SELFIES, shots: int = 3, seconds_per_shot: float = 2.0, fps: str = "25",
            size: tuple[int, int] = (640, 360)) -> Path:
    """Two real selfies side by side per shot (photos in front of a wall), drifting and pushing in slowly (a
    hand-held two-shot), with a hard cut to two other people every ``seconds_per_shot``; a tone for sound."""
    w, h = size
    files = sorted(selfies.glob("*.jpg"))[: 2 * shots]
    if len(files) < 2 * shots:
        raise SystemExit(f"need {2 * shots} selfies in {selfies}")
    n = round(seconds_per_shot * Fraction(fps))
    tone = f"sine=frequency=330:duration={float(shots * n / Fraction(fps)):.3f}"
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-framerate", fps, "-i", "pipe:", "-f", "lavfi", "-i", tone,
           "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for shot in range(shots):
        people = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files[2 * shot: 2 * shot + 2]]
        canvas = np.tile(np.linspace(60, 160, w // 2, dtype=np.uint8)[:, None, None], (1, w, 3))  # a wall
        side = int(w // 2 * 0.7)
        for k, person in enumerate(people):
            x, y = k * w // 2 + (w // 2 - side) // 2, w // 2 - side
            canvas[y:y + side, x:x + side] = cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA)
        for i in range(n):
            t = i / n
            m = cv2.getRotationMatrix2D((w / 2, w / 4), 1.5 * np.sin(2 * np.pi * t + shot), 1.15 * (1 + 0.08 * t))
            m[:, 2] += (12 * np.sin(2 * np.pi * t), h / 2 - w / 4 + 8 * t)
            frame = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait():
        raise SystemExit("ffmpeg failed")
    return out
