"""Face-region flicker of `stylize video`, with and without temporal smoothing.

Prints, per clip and setting, the warping-error ratio output/source (1.0 = no flicker added; see
stylize/pipeline/flicker.py), the edit's strength (mean |output − source| in the face regions, 0..255) so a
"no flicker" figure cannot come from an edit that did nothing, and the rate.

    python benchmarks/flicker.py [--model anime] [--domain anime | --target GROUP=VALUE] [--colour-blur PERCENT]
        [--feather SHARE] [--setting NAME ...]

Clips: samples/astronaut.mp4 (one face, camera motion) and, when ../shared is present, a two-person clip with two
scene cuts made from real selfies (benchmarks/clips.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import clips

from stylize.models import load_model
from stylize.pipeline.flicker import measure_flicker
from stylize.pipeline.options import EditOptions
from stylize.pipeline.video import edit_video

SETTINGS = {
    "--no-smooth": EditOptions(smoothing=None, smooth_output=0.0, progress=False),
    "--smooth-output 0": EditOptions(smooth_output=0.0, progress=False),
    "--smooth-output 0.5": EditOptions(smooth_output=0.5, progress=False),
    "default (0.9)": EditOptions(progress=False),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="anime")
    ap.add_argument("--domain", default="anime")
    ap.add_argument("--target", metavar="GROUP=VALUE", help="what to ask instead of --domain, e.g. hair=blond")
    ap.add_argument("--colour-blur", type=float, default=None,
                    help="as `stylize --colour-blur`, in every setting (default: the model file's)")
    ap.add_argument("--feather", type=float, default=None,
                    help="as `stylize --feather`, in every setting (default: the model file's)")
    ap.add_argument("--setting", action="append", choices=list(SETTINGS), help="only these settings (default: all)")
    args = ap.parse_args()
    model = load_model(args.model)
    request = dict([args.target.split("=", 1)]) if args.target else {"domain": args.domain}
    settings = {k: dataclasses.replace(v, colour_blur=args.colour_blur, feather=args.feather)
                for k, v in SETTINGS.items() if not args.setting or k in args.setting}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"astronaut (1 face)": clips.DEMO}
        if clips.SELFIES.is_dir():
            sources["selfies (2 faces, 2 cuts)"] = clips.collage(tmp / "collage.mp4")
        asked = " ".join(f"--{k} {v}" for k, v in request.items())
        blur, feather = model.paste_settings(args.colour_blur, args.feather)
        print(f"model {args.model} ({asked}, --colour-blur {blur:g}, --feather {feather:g})")
        print(f"{'clip':28} {'setting':22} {'flicker ratio':>13} {'edit strength':>13} {'fps':>6}")
        for name, src in sources.items():
            for setting, options in settings.items():
                out = tmp / "out.mp4"
                report = edit_video(src, out, model, request, options)
                flicker = measure_flicker(src, out)
                print(f"{name:28} {setting:22} {flicker.ratio:13.2f} {flicker.edit_strength:13.1f} "
                      f"{report.fps:6.1f}", flush=True)


if __name__ == "__main__":
    main()
