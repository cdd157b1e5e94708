"""Throughput of `stylize images` against decoding and encoding the same photos alone, in one run.

    python benchmarks/images.py [--model anime] [--count 200] [--jobs 2]

The folder is real selfies from ../shared (the astronaut portrait when ../shared is absent) nested two levels
deep, with a truncated JPEG, a text file named .jpg and a README mixed in; the second run shows the resume cost.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import clips
import cv2

from stylize.models import load_model
from stylize.pipeline.batch import edit_folder
from stylize.pipeline.photo_io import read_photo, write_photo


def make_folder(root: Path, count: int) -> list[Path]:
    sources = sorted(clips.SELFIES.glob("*.jpg"))[:count] if clips.SELFIES.is_dir() else []
    if not sources:
        astronaut = root.parent / "astronaut.jpg"
        cap = cv2.VideoCapture(str(clips.DEMO))
        cv2.imwrite(str(astronaut), cap.read()[1])
        sources = [astronaut] * count
    photos = []
    for i, src in enumerate(sources):
        dest = root / f"set{i % 3}" / f"day{i % 5}" / f"{i:05d}.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
        photos.append(dest)
    (root / "set0" / "broken.jpg").write_bytes(photos[0].read_bytes()[:2000])
    (root / "set1" / "notes.jpg").write_text("not a picture")
    (root / "README.txt").write_text("holiday photos")
    return photos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="anime")
    ap.add_argument("--domain", default="anime")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    model = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_folder(tmp / "in", args.count)
        start = time.perf_counter()
        for i, p in enumerate(photos):
            photo = read_photo(p)
            write_photo(photo, photo.rgb, tmp / f"copy{i % 4}.jpg")
        io_rate = len(photos) / (time.perf_counter() - start)
        start = time.perf_counter()
        summary = edit_folder(tmp / "in", tmp / "out", model, {"domain": args.domain}, jobs=args.jobs,
                              log=lambda *_: None)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = edit_folder(tmp / "in", tmp / "out", model, {"domain": args.domain}, jobs=args.jobs,
                            log=lambda *_: None)
        second = time.perf_counter() - start
    rate = len(photos) / first
    print(f"{len(photos)} photos (+2 broken, 1 other file), {args.jobs} worker processes, model {args.model}")
    print(f"  decode + encode alone   {io_rate:7.1f} images/s")
    print(f"  stylize images          {rate:7.1f} images/s  ({rate / io_rate:.3f} x decode + encode)")
    print(f"  first run: {summary.processed} written, {summary.no_face} without a face, {summary.failed} failed: "
          + "; ".join(f"{f['file']} ({f['reason']})" for f in summary.failures))
    print(f"  second run: {again.processed} written, {again.done_before} done before, {second:.2f} s")


if __name__ == "__main__":
    main()
