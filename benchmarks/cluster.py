"""Photos/s and video frames/s on Ray with 1 and 2 workers, against `--jobs` and the single-process run, all on
this machine in one run (a local Ray instance limited to N CPUs stands for N workers).

    python benchmarks/cluster.py [--model celeba] [--target hair=blond] [--photos 60] [--videos 4]

Photos: real selfies from ../shared when present (else portraits rendered from the demo's public-domain photo);
videos: loops of samples/astronaut.mp4 (4 s each); the long video: a 20 s loop of it, edited whole by one process
and in keyframe-aligned chunks on Ray, with how far the chunked output is from the whole one at the joins.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import clips
import cv2

from stylize.models import bundled_for, load_model
from stylize.pipeline.batch import edit_folder
from stylize.pipeline.chunks import edit_video_chunked, seam_difference
from stylize.pipeline.options import EditOptions
from stylize.pipeline.video import edit_video
from stylize.pipeline.videos import edit_videos


def photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    files = sorted(clips.SELFIES.glob("*.jpg"))[:n]
    for i, f in enumerate(files):
        shutil.copy(f, folder / f"{i:04d}{f.suffix}")
    if not files:  # no ../shared: the demo's portrait, shifted a little per copy
        sys.path.insert(0, str(clips.ROOT / "samples"))
        import make_demo

        face = cv2.cvtColor(make_demo.portrait(), cv2.COLOR_RGB2BGR)
        for i in range(n):
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), cv2.resize(face[i % 9:400 + i % 9, 56:456], (256, 256)))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--target", default="hair=blond")
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--long", type=float, default=20.0, help="seconds of the long video edited in chunks")
    args = ap.parse_args()
    import ray

    request = dict([args.target.split("=", 1)])
    model = load_model(args.model or bundled_for(request))
    options = EditOptions.for_photos(progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = photos(tmp / "photos", args.photos)
        n = len(list(src.iterdir()))
        vids = tmp / "videos"
        vids.mkdir()
        for i in range(args.videos):
            clips.looped(4, vids / f"clip{i}.mp4")
        frames = args.videos * 100  # 4 s at 25 fps
        print(f"model {model.name}; {n} photos ({cv2.imread(str(next(src.iterdir()))).shape[1]} px wide), "
              f"{args.videos} videos of 100 frames")
        long = clips.looped(args.long, tmp / "long.mp4")
        long_frames = round(args.long * 25)
        runs = {"single process": dict(jobs=1, ray=None), "--jobs 2": dict(jobs=2, ray=None),
                "Ray, 1 worker": dict(jobs=1, ray=1), "Ray, 2 workers": dict(jobs=1, ray=2)}
        for label, how in runs.items():
            if how["ray"]:
                ray.init(num_cpus=how["ray"], include_dashboard=False, log_to_driver=False, configure_logging=False)
            address = "local" if how["ray"] else None
            start = time.perf_counter()
            edit_folder(src, tmp / f"out-{label}", model, request, options, how["jobs"], ray=address,
                        log=lambda *_: None)
            t_photos = time.perf_counter() - start
            t_videos = float("nan")
            if how["jobs"] == 1:
                start = time.perf_counter()
                edit_videos(vids, tmp / f"v-{label}", model, request, EditOptions(progress=False), address)
                t_videos = time.perf_counter() - start
            t_long, seam = float("nan"), ""
            if how["jobs"] == 1:
                start = time.perf_counter()
                out = tmp / f"long-{how['ray']}.mp4"
                if how["ray"]:
                    r = edit_video_chunked(long, out, model, request, EditOptions(progress=False), address)
                    near, far = seam_difference(tmp / "long-None.mp4", out, r["joins"])
                    seam = f"   ({r['chunks']} chunks; |chunked - single| {near:.2f} at joins, {far:.2f} elsewhere)"
                else:
                    edit_video(long, out, model, request, EditOptions(progress=False))
                t_long = time.perf_counter() - start
            if how["ray"]:
                ray.shutdown()
            print(f"  {label:16} {n / t_photos:6.1f} photos/s   {frames / t_videos:6.1f} video frames/s (videos)   "
                  f"{long_frames / t_long:6.1f} frames/s (one {args.long:.0f} s video){seam}", flush=True)


if __name__ == "__main__":
    main()
