"""The whole `stylize video` path on real footage: what goes in and what comes out, per clip.

For each clip: frames, size, rate, duration and audio of input and output, the video's start after the audio
(lip sync) in both, faces and tracks found, the flicker ratio (face-region warping error output/source,
``pipeline/flicker.py``; 1.00 = no flicker added) with the default smoothing and with ``--no-smooth`` (so the
model's share and the pipeline's share can be told apart), the edit's strength (mean |output − source| in the
face regions, 0..255) and the rate end to end.

    python benchmarks/footage.py [--model celeba] [--target hair=blond] [--clip PATH ...] [--no-compare]
        [--precision auto|fp32]

Without --clip it runs every clip in ../shared/footage, or, when that folder is absent, a 10 s 29.97 fps clip of
five shots of two people rendered from real selfies (benchmarks/clips.py).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import clips

from stylize.models import bundled_for, load_model
from stylize.models.catalogue import APPLY_MODES
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import FaceDetector
from stylize.pipeline.ffmpeg_tools import probe
from stylize.pipeline.flicker import measure_flicker
from stylize.pipeline.options import PRECISIONS, EditOptions
from stylize.pipeline.video import edit_video

FOOTAGE = clips.ROOT.parent / "shared" / "footage"


def facts(path: Path) -> str:
    i = probe(path)
    frames = sum(1 for _ in read_frames(path, i))
    return (f"{frames} fr {i.width}x{i.height} {float(i.fps):.3f} fps {i.duration:.2f} s "
            f"audio {i.audio_codec or 'none'} video@{i.start:+.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model file or bundled name (default: the one for --target)")
    ap.add_argument("--target", default="hair=blond", help="group=value")
    ap.add_argument("--clip", type=Path, nargs="*")
    ap.add_argument("--no-compare", action="store_true", help="skip the --no-smooth run")
    ap.add_argument("--detect-size", type=int, default=640, help="as `stylize video --detect-size`")
    ap.add_argument("--apply", choices=APPLY_MODES, default=None,
                    help="as `stylize video --apply` (default: what the model file says)")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help="as `stylize video --precision`")
    args = ap.parse_args()
    request = dict([args.target.split("=", 1)])
    model = load_model(args.model or bundled_for(request))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = args.clip or sorted(p for p in FOOTAGE.glob("*") if p.suffix in (".mp4", ".mkv", ".webm", ".mov"))
        if not sources:
            sources = [clips.collage(tmp / "people.mp4", shots=5, fps="30000/1001")]
        print(f"model {model.name} ({model.image_size} px), target {args.target}, applied as its "
              f"{args.apply or model.apply}, --precision {args.precision}")
        regions = FaceDetector(max_side=args.detect_size)  # the flicker measure finds faces as the edit did
        for clip in sources:
            out = tmp / f"out{clip.suffix}"
            options = EditOptions(progress=False, detect_max_side=args.detect_size, apply=args.apply,
                                  precision=args.precision)
            report = edit_video(clip, out, model, request, options)
            flicker = measure_flicker(clip, out, regions)
            line = (f"{clip.name}: in {facts(clip)} | out {facts(out)} | {report.stats.faces} faces in "
                    f"{report.stats.frames_with_faces} frames, {report.stats.tracks} tracks | flicker "
                    f"{flicker.ratio:.2f}")
            if not args.no_compare:
                raw = tmp / f"raw{clip.suffix}"
                edit_video(clip, raw, model, request, replace(options, smoothing=None, smooth_output=0))
                line += f" (--no-smooth {measure_flicker(clip, raw, regions).ratio:.2f})"
            print(f"{line} | edit {flicker.edit_strength:.1f}/255 | {report.fps:.1f} fps", flush=True)


if __name__ == "__main__":
    main()
