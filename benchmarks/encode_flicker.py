"""Flicker the encoder alone adds: each real clip decoded and re-encoded by the tool's own writer, no edit.

Prints per clip and x264 setting the face-region warping-error ratio output/source (stylize/pipeline/flicker.py;
1.00 = nothing added), PSNR against the decoded source, file size and ffmpeg's CPU seconds (encoder and
decoder). It is the floor under every `stylize video` flicker figure: whatever the edit does, the re-encode comes
on top.

    python benchmarks/encode_flicker.py [--params subme=4 ''] [--clip ../shared/footage/talking-head-1.mp4]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import clips
import numpy as np

from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.encode import VideoWriter
from stylize.pipeline.ffmpeg_tools import probe
from stylize.pipeline.flicker import measure_flicker
from stylize.pipeline.options import X264_PARAMS

FOOTAGE = clips.ROOT.parent / "shared" / "footage"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reencode(clip: Path, out: Path, params: str) -> float:
    """Writes ``clip``'s frames to ``out`` (mp4, libx264 at the tool's defaults and ``params``); encoder CPU s."""
    info = probe(clip)
    before = children_cpu()
    with VideoWriter(out, info, clip, x264_params=params) as writer:
        for frame in read_frames(clip, info):
            writer.write(frame.image)
    return children_cpu() - before  # includes the decoder's share, the same for every setting


def psnr(a: Path, b: Path) -> float:
    err = [np.mean((x.image.astype(np.float32) - y.image.astype(np.float32)) ** 2)
           for x, y in zip(read_frames(a, probe(a)), read_frames(b, probe(b)), strict=True)]
    return float(10 * np.log10(255 ** 2 / np.mean(err)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", nargs="*", default=[X264_PARAMS, ""], help="x264 settings to compare")
    ap.add_argument("--clip", type=Path, nargs="*")
    args = ap.parse_args()
    sources = args.clip or sorted(p for p in FOOTAGE.glob("*") if p.suffix in (".mp4", ".mkv", ".mov"))  # .webm: VP9
    if not sources:
        raise SystemExit(f"no clips: pass --clip or put videos in {FOOTAGE}")
    regions = FaceDetector()
    with tempfile.TemporaryDirectory() as tmp:
        for clip in sources:
            for params in args.params:
                out = Path(tmp) / "out.mp4"
                cpu = reencode(clip, out, params)
                flicker = measure_flicker(clip, out, regions)
                print(f"{clip.name}: x264-params {params!r}: flicker {flicker.ratio:.3f} | "
                      f"PSNR {psnr(clip, out):.2f} dB | {out.stat().st_size / 1024:.0f} KiB | {cpu:.2f} CPU s",
                      flush=True)


if __name__ == "__main__":
    main()
