"""Are video faces framed like the faces the model was trained on? Mean landmark positions, found afresh by dlib
inside the 128 px crops, of (a) training crops: real selfies from ../shared aligned as `stylize-train` aligns
them, (b) inference crops: the demo clip's faces as `stylize video` aligns them, and (c) the anime crops (the
other domain, used whole), in crop pixels.

    python benchmarks/alignment.py [--count 200] [--template selfie|celeba]
"""

from __future__ import annotations

import argparse

import clips
import cv2
import numpy as np

from stylize.models.alignment import CELEBA_TEMPLATE, POINT_NAMES, SELFIE_TEMPLATE, Alignment
from stylize.pipeline.align import align_face
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.ffmpeg_tools import probe

SIZE = 128


def crop_points(crops, detector: FaceDetector) -> np.ndarray:
    """Mean 5 points found in the crops (those where dlib finds a face), and how many that was."""
    found = [f[0].points5 for f in (detector.detect(c, upsample=1) for c in crops) if f]
    return np.mean(found, axis=0), len(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--template", choices=["selfie", "celeba"], default="selfie")
    args = ap.parse_args()
    if not clips.SELFIES.is_dir():
        raise SystemExit(f"needs the selfies in {clips.SELFIES}")
    alignment = Alignment("face", SELFIE_TEMPLATE if args.template == "selfie" else CELEBA_TEMPLATE)
    detector = FaceDetector(max_side=None)

    def aligned(images):
        for rgb in images:
            faces = detector.detect(rgb) or detector.detect(rgb, upsample=1)
            if faces:
                yield align_face(rgb, faces[0].points5, alignment, SIZE)[0]

    def read(paths):
        return (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths)

    selfies = sorted(clips.SELFIES.glob("*.jpg"))[: args.count]
    anime = sorted((clips.SELFIES.parent / "anime").glob("*.jpg"))[: args.count]
    rows = {
        "training crops (selfies)": crop_points(aligned(read(selfies)), detector),
        "inference crops (demo clip)": crop_points(aligned(f.image for f in read_frames(clips.DEMO, probe(clips.DEMO))),
                                                   detector),
        "anime crops (whole image)": crop_points((cv2.resize(a, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                                                  for a in read(anime)), detector),
    }
    print(f"template {args.template}; mean landmark (x, y) in {SIZE} px crops, found by dlib in the crops")
    print(f"{'':30}" + "".join(f"{n:>16}" for n in POINT_NAMES) + "   faces")
    for name, (pts, n) in rows.items():
        print(f"{name:30}" + "".join(f"  ({x:5.1f},{y:5.1f})" for x, y in pts) + f"   {n}")
    train, video = rows["training crops (selfies)"][0], rows["inference crops (demo clip)"][0]
    print(f"largest gap training vs inference: {np.abs(train - video).max():.1f} px "
          f"(eye distance {np.linalg.norm(train[1] - train[0]):.1f} px)")


if __name__ == "__main__":
    main()
