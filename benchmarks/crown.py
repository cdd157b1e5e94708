"""Streaks over edited crowns on real footage (docs/celeba-experiments.md, *What the critic saw of the crown*).

CelebA's loose crops leave most of each aligned crop's top outside the image, filled by reflection, and edits of
hair have drawn bright vertical streaks over real crowns. For each clip in ../shared/footage (or --clip), --frames
frames spread evenly over it are edited as `stylize images` edits photos (no temporal smoothing), by each model and
for each --target; in the 128 px crop of the largest face, aligned on the model's template, the crown band (rows
0-23, columns 32-95, 12% of the crop) is read over the pixels inside the frame (frames with under a quarter of the
band inside are skipped):

- moved: the mean |change| of luminance there (grey levels), how much of the crown the edit recoloured;
- stripes: the change's mean |step| across (between neighbouring columns) over its mean |step| down (rows): about 1
  or below for a smooth recolour of hair that falls downward, well above 1 for vertical streaks;
- striped: the share of frames whose crown moved past 8 levels with stripes above 1.5.

    python benchmarks/crown.py MODEL [MODEL ...] [--target hair=blond ...] [--frames 8] [--clip PATH ...]
        [--colour-blur 5] [--feather 0.06] [--per-clip]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import clips
import cv2
import numpy as np

from stylize.models import load_model
from stylize.pipeline.align import face_transform, inside_mask, warp_to_crop
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.edit import EditStats, edit_frames
from stylize.pipeline.ffmpeg_tools import probe
from stylize.pipeline.frames import Frame
from stylize.pipeline.options import EditOptions

FOOTAGE = clips.ROOT.parent / "shared" / "footage"
SIZE, BAND_ROWS, BAND_COLS = 128, slice(0, 24), slice(32, 96)
MOVED, STRIPED = 8.0, 1.5


def spread_frames(path: Path, count: int) -> list:
    """``count`` frames at the middles of equal parts of the clip (decoding all of it: the clips are short)."""
    frames = list(read_frames(path, probe(path)))
    return [frames[int((i + 0.5) * len(frames) / count)] for i in range(count)]


def crown_band(source: np.ndarray, edited: np.ndarray, transform: np.ndarray) -> tuple[float, float] | None:
    """(moved, stripes) of one edited frame, or None when under a quarter of the band lies inside the frame."""
    inside = inside_mask(source.shape[:2], transform, SIZE)[BAND_ROWS, BAND_COLS] > 0.99 * 255
    if inside.mean() < 0.25:
        return None
    lum = [cv2.cvtColor(warp_to_crop(im, transform, SIZE), cv2.COLOR_RGB2GRAY).astype(np.float32)
           for im in (source, edited)]
    d = np.where(inside, (lum[1] - lum[0])[BAND_ROWS, BAND_COLS], np.nan)  # the frame's own pixels only
    across, down = np.nanmean(np.abs(np.diff(d, axis=1))), np.nanmean(np.abs(np.diff(d, axis=0)))
    return float(np.nanmean(np.abs(d))), float(across / max(down, 1e-6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model files or bundled names")
    ap.add_argument("--target", nargs="+", default=["hair=blond"], help="group=value, one edit each")
    ap.add_argument("--frames", type=int, default=8, help="frames a clip")
    ap.add_argument("--clip", type=Path, nargs="*")
    ap.add_argument("--colour-blur", type=float, default=None, help="as `stylize --colour-blur` (default: the file's)")
    ap.add_argument("--feather", type=float, default=None, help="as `stylize --feather` (default: the file's)")
    ap.add_argument("--per-clip", action="store_true", help="also each clip's means")
    args = ap.parse_args()
    sources = args.clip or sorted(p for p in FOOTAGE.glob("*") if p.suffix in (".mp4", ".mkv", ".webm", ".mov"))
    if not sources:
        raise SystemExit(f"Error: no clips (give --clip, or put ../shared/footage at {FOOTAGE})")
    frames = [f for clip in sources for f in spread_frames(clip, args.frames)]
    clip_of = [clip.stem for clip in sources for _ in range(args.frames)]
    finder = FaceDetector("hog", 1, 1600)  # as `stylize images` finds faces
    options = EditOptions.for_photos(colour_blur=args.colour_blur, feather=args.feather, progress=False)
    for name in args.models:
        model = load_model(name)
        crowns = []  # each frame's largest face on this model's template, None when none is found
        for f in frames:
            faces = finder.detect(f.image)
            crowns.append(face_transform(faces[0].points5, model.alignment, SIZE) if faces else None)
        for target in args.target:
            translator = options.make_translator(model, dict([target.split("=", 1)]))
            edited = edit_frames([Frame(f.index, f.image) for f in frames], translator,
                                 options.make_detector(), options, EditStats(), video=False)
            read = [(c, crown_band(f.image, out, t))
                    for f, (_, out), t, c in zip(frames, edited, crowns, clip_of, strict=True) if t is not None]
            read = [(c, r) for c, r in read if r is not None]
            v = np.array([r for _, r in read])
            striped = (v[:, 0] > MOVED) & (v[:, 1] > STRIPED)
            print(f"{name} {target}: {len(v)} of {len(frames)} frames; crown moved {v[:, 0].mean():.1f}, stripes "
                  f"{v[:, 1].mean():.2f} (median {np.median(v[:, 1]):.2f}); striped {striped.sum()} "
                  f"({100 * striped.mean():.0f}%)", flush=True)
            if args.per_clip:
                for clip in dict.fromkeys(c for c, _ in read):
                    w = np.array([r for c, r in read if c == clip])
                    print(f"  {clip}: {len(w)} frames, moved {w[:, 0].mean():.1f}, stripes {w[:, 1].mean():.2f}")


if __name__ == "__main__":
    main()
