"""Do large faces stay sharp? Face-region sharpness of `stylize video` output against its source.

Sharpness is the variance of the Laplacian inside each detected face box (source detections), averaged over
frames; the figure is output/source (1.0 = as sharp as the source). Printed for the two ways of pasting an edit:
``--apply change`` (the model's change, up-sampled onto the face at its own resolution; the default) and
``--apply output`` (the model-size output, resized), with the face size and the edit's strength (mean |output −
source| in the face boxes, 0..255) so that a sharp result cannot come from an edit that did nothing.

    python benchmarks/sharpness.py [--model celeba] [--target hair=blond] [--seconds 2]

Clips: a 1080p render of the public-domain astronaut portrait with a ~330 px face box (always), and, when ../shared is
present, the real clips of ../shared/footage whose faces are large (phone portrait, talking heads).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import clips
import cv2
import numpy as np

sys.path.insert(0, str(clips.ROOT / "samples"))
import make_demo  # noqa: E402  (the demo's portrait loader, beside the clip it renders)

from stylize.models import bundled_for, load_model
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.ffmpeg_tools import ffmpeg_exe, probe
from stylize.pipeline.options import EditOptions
from stylize.pipeline.video import edit_video

FOOTAGE = clips.ROOT.parent / "shared" / "footage"
LARGE_FACES = ("portrait-phone.mp4", "talking-head-1.mp4", "talking-head-glasses.mp4")


def sharpness(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def large_face_clip(out: Path, seconds: float) -> Path:
    """The astronaut's head and shoulders filling a 1920x1080 frame (dlib's face box ≈ 330 px), panning slowly."""
    portrait = cv2.resize(make_demo.portrait()[0:360, 76:436], (1080, 1080), interpolation=cv2.INTER_CUBIC)
    n = int(25 * seconds)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1920x1080",
           "-framerate", "25", "-i", "pipe:", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(n):
        canvas = np.full((1080, 1920, 3), 90, np.uint8)
        x = 300 + 4 * i
        canvas[:, x:x + 1080] = portrait
        proc.stdin.write(canvas.tobytes())
    proc.stdin.close()
    proc.wait()
    return out


def trimmed(source: Path, out: Path, seconds: float) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-t", str(seconds), "-c:v", "libx264",
                    "-crf", "14", "-an", str(out)], check=True)
    return out


def measure(source: Path, output: Path, detector: FaceDetector) -> tuple[float, float, float]:
    """(sharpness output/source, mean face width px, edit strength) over the face boxes of every 3rd frame."""
    ratios, widths, strength = [], [], []
    pairs = zip(read_frames(source, probe(source)), read_frames(output, probe(output)), strict=True)
    for i, (a, b) in enumerate(pairs):
        if i % 3:
            continue
        for face in detector.detect(a.image):
            x0, y0, x1, y1 = (int(round(v)) for v in face.box)
            x0, y0 = max(x0, 0), max(y0, 0)
            src, out = a.image[y0:y1, x0:x1], b.image[y0:y1, x0:x1]
            if src.size == 0:
                continue
            s = sharpness(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY))
            if s > 0:
                ratios.append(sharpness(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)) / s)
                widths.append(x1 - x0)
                strength.append(float(np.abs(out.astype(np.float32) - src).mean()))
    return float(np.mean(ratios)), float(np.mean(widths)), float(np.mean(strength))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model file or bundled name (default: the one for --target)")
    ap.add_argument("--target", default="hair=blond", help="group=value")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    request = dict([args.target.split("=", 1)])
    model = load_model(args.model or bundled_for(request))
    detector = FaceDetector(max_side=None)
    print(f"model {model.name}: {model.image_size} px; target {args.target}")
    print(f"{'clip':28} {'face px':>8} {'apply':>7} {'sharpness out/src':>18} {'edit /255':>10} {'fps':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = [("astronaut 1080p (render)", large_face_clip(tmp / "large.mp4", args.seconds))]
        sources += [(name, trimmed(FOOTAGE / name, tmp / name, args.seconds)) for name in LARGE_FACES
                    if (FOOTAGE / name).exists()]
        for name, source in sources:
            for apply in ("change", "output"):
                out = tmp / f"out-{apply}-{source.name}"
                t = time.perf_counter()
                report = edit_video(source, out, model, request, EditOptions(progress=False, apply=apply))
                fps = report.stats.frames / (time.perf_counter() - t)
                ratio, width, strength = measure(source, out, detector)
                print(f"{name:28} {width:8.0f} {apply:>7} {ratio:18.3f} {strength:10.1f} {fps:6.1f}", flush=True)


if __name__ == "__main__":
    main()
