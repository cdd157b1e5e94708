"""The whole `stylize video` path on a 10 s, 640x360, 29.97 fps h264 + AAC clip with several people and scene
cuts: what goes in and what comes out (frames, size, rate, duration, audio), how much the faces changed and how
much the rest of the picture did (x264 re-encoding alone moves it by a level or two).

    python benchmarks/footage.py [--model anime] [--domain anime] [--clip PATH] [--keep out.mp4]

Without --clip it renders the clip from real selfies in ../shared (five shots of two people; benchmarks/clips.py).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import clips
import numpy as np

from stylize.models import load_model
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.ffmpeg_tools import probe
from stylize.pipeline.flicker import face_region
from stylize.pipeline.video import edit_video


def changes(source: Path, output: Path) -> tuple[int, float, float]:
    """Frames compared, mean |output − source| inside the face regions and outside them (0..255)."""
    detector = FaceDetector()
    inside, outside, n = [], [], 0
    for a, b in zip(read_frames(source, probe(source)), read_frames(output, probe(output)), strict=True):
        region = face_region(a.image, detector)
        diff = np.abs(a.image.astype(np.int16) - b.image).mean(axis=2)
        if region.any():
            inside.append(diff[region].mean())
        if not region.all():
            outside.append(diff[~region].mean())
        n += 1
    return n, float(np.mean(inside)) if inside else 0.0, float(np.mean(outside))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="anime")
    ap.add_argument("--domain", default="anime")
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--keep", type=Path, help="also keep the rendered output here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = args.clip or clips.collage(tmp / "people.mp4", shots=5, fps="30000/1001")
        out = tmp / "out.mp4"
        report = edit_video(clip, out, load_model(args.model), {"domain": args.domain})
        for name, path in (("input", clip), ("output", out)):
            i = probe(path)
            frames = sum(1 for _ in read_frames(path, i))
            print(f"{name:7} {frames} frames, {i.width}x{i.height}, {float(i.fps):.3f} fps ({i.fps}), "
                  f"{i.duration:.2f} s, video {i.codec}, audio {i.audio_codec if i.has_audio else 'none'}")
        n, inside, outside = changes(clip, out)
        print(f"{report.stats.tracks} tracks, {report.stats.faces} faces in {report.stats.frames_with_faces} frames; "
              f"mean change inside faces {inside:.1f}, elsewhere {outside:.2f} (0..255), over {n} frames; "
              f"{report.fps:.1f} fps")
        if args.keep:
            shutil.copy(out, args.keep)


if __name__ == "__main__":
    main()
