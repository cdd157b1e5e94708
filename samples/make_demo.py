"""Renders ``samples/astronaut.mp4``, the demo clip the README edits.

The picture is NASA's public-domain portrait of astronaut Eileen Collins as bundled with scikit-image
(``skimage/data/astronaut.png``), so the clip may ship with the project. A slow push-in, pan and tilt give the
tracker and the temporal smoothing real work; a soft two-note tone checks that the sound survives.

    python samples/make_demo.py            # needs scikit-image (in the ``test`` extra) and imageio-ffmpeg
    python samples/make_demo.py --figure astronaut-blond.mp4   # the README's before/after picture from an edit of it
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 25, 5
FIGURE_FRAMES, FIGURE_WIDTH = (0, 62, 124), 360  # the README's picture: these frames, their middle 360 px
CLIP = Path(__file__).with_name("astronaut.mp4")


def portrait() -> np.ndarray:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.origin:
        sys.exit("make_demo.py needs scikit-image for its public-domain portrait: pip install scikit-image")
    return cv2.cvtColor(cv2.imread(str(Path(spec.origin).parent / "data" / "astronaut.png")), cv2.COLOR_BGR2RGB)


def camera(t: float) -> np.ndarray:
    """The 2x3 affine from the 512x512 portrait to the frame at time ``t`` in [0, 1]: push in from 1.25x to 1.4x,
    drift down the face and right, tilt by up to 3 degrees."""
    ease = 0.5 - 0.5 * np.cos(np.pi * t)
    zoom = 1.25 + 0.15 * ease
    centre = (235 + 20 * ease, 150 + 5 * ease)  # a point between the eyes and the mouth, in portrait pixels
    m = cv2.getRotationMatrix2D(centre, 3.0 * np.sin(2 * np.pi * t), zoom)
    m[:, 2] += (WIDTH / 2 - centre[0], HEIGHT / 2 - centre[1])
    return m


def main(out: Path) -> None:
    img = portrait()
    n = FPS * SECONDS
    tone = f"aevalsrc=0.15*sin(2*PI*220*t)+0.1*sin(2*PI*330*t):s=48000:d={SECONDS}"
    cmd = [get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
           "-framerate", str(FPS), "-i", "pipe:", "-f", "lavfi", "-i", tone, "-c:v", "libx264", "-crf", "18",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(n):
        frame = cv2.warpAffine(img, camera(i / (n - 1)), (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait():
        sys.exit(f"ffmpeg failed ({proc.returncode})")
    print(f"{out}: {n} frames, {WIDTH}x{HEIGHT} at {FPS} fps, {SECONDS} s with sound")


def figure(edited: Path, out: Path, source: Path = CLIP) -> None:
    """The README's before/after picture: FIGURE_FRAMES of ``source`` (top row) and of ``edited``, its output through
    `stylize video` (bottom), each cut to its middle FIGURE_WIDTH pixels, as a JPEG."""
    from stylize.pipeline.decode import read_frames
    from stylize.pipeline.ffmpeg_tools import probe

    def row(path: Path) -> np.ndarray:
        frames = {i: f.image for i, f in enumerate(read_frames(path, probe(path))) if i in FIGURE_FRAMES}
        if len(frames) < len(FIGURE_FRAMES):
            sys.exit(f"{path}: fewer than {FIGURE_FRAMES[-1] + 1} frames")
        left = (frames[0].shape[1] - FIGURE_WIDTH) // 2
        return np.concatenate([frames[i][:, left:left + FIGURE_WIDTH] for i in FIGURE_FRAMES], 1)

    picture = np.concatenate([row(source), row(edited)], 0)
    cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{out}: frames {', '.join(map(str, FIGURE_FRAMES))} of {source.name} over the same of {edited.name}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figure", type=Path, metavar="EDITED",
                    help="instead of rendering the clip, make the README's before/after picture from EDITED, the "
                         "clip as `stylize video` edited it")
    ap.add_argument("out", nargs="?", type=Path,
                    help="the clip to write (default: samples/astronaut.mp4), or with --figure the picture "
                         "(default: samples/readme/demo.jpg)")
    args = ap.parse_args()
    if args.figure is None:
        main(args.out or CLIP)
    elif not args.figure.is_file():
        ap.error(f"{args.figure}: no such file")
    else:
        figure(args.figure, args.out or Path(__file__).with_name("readme") / "demo.jpg")
