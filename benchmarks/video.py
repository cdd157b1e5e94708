"""Throughput of `stylize video`: each stage on its own, end to end, against a plain ffmpeg transcode, and the
peak memory for a short and a long clip, all in one run on the same clip.

    python benchmarks/video.py [--model celeba] [--target hair=blond] [--clip samples/astronaut.mp4] [--rss]

Stages are timed on the clip's frames held in memory, one stage at a time, single-threaded as the pipeline runs
them; "end to end" is `edit_video` with its stages overlapped in threads. Its CPU time (ffmpeg's included) spread
over the cores this process may use is the most any overlap could reach, so end to end is also given as a share of
that bound. "start-up" is the wall time of the CLI, in a fresh process, on the clip's first frame alone: importing,
loading the model and dlib's models, and that one frame. --rss also runs the CLI on 10 s and 60 s loops of the clip
in child processes and prints each one's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import clips

from stylize.models import bundled_for, load_model
from stylize.pipeline.align import align_frames
from stylize.pipeline.composite import composite
from stylize.pipeline.decode import read_frames
from stylize.pipeline.detect import detect_frames
from stylize.pipeline.encode import VideoWriter
from stylize.pipeline.ffmpeg_tools import ffmpeg_exe, probe
from stylize.pipeline.options import PRECISIONS, EditOptions
from stylize.pipeline.smooth import smooth_changes
from stylize.pipeline.track import FaceTracker, SmoothingConfig
from stylize.pipeline.translate import generator_threads, translate_frames
from stylize.pipeline.video import edit_video


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the ffmpeg decoder and encoder), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def timed(label: str, run, n: int, results: dict[str, float], cpu: dict[str, float]):
    """Runs ``run()`` once and records ``n`` frames over its wall time as ``results[label]`` and its CPU
    milliseconds a frame as ``cpu[label]``."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    out = run()
    results[label] = rate(n, time.perf_counter() - start)
    cpu[label] = 1000 * (cpu_seconds() - start_cpu) / n
    return out


def stage_rates(clip: Path, model_name: str, request: dict[str, str], every: int, tmp: Path, precision: str
                ) -> tuple[dict[str, float], dict[str, float]]:
    info = probe(clip)
    model = load_model(model_name)
    options = EditOptions(progress=False, detect_every=every, precision=precision)
    r: dict[str, float] = {}
    cpu: dict[str, float] = {}
    n = info.frame_estimate
    frames = timed("decode", lambda: list(read_frames(clip, info)), n, r, cpu)
    detector = options.make_detector()
    timed("detect (every frame)", lambda: list(detect_frames(frames, detector, 1)), n, r, cpu)
    if every > 1:
        timed(f"detect (full every {every})", lambda: list(detect_frames(frames, detector, every)), n, r, cpu)
    tracked = timed("track + align", lambda: list(align_frames(FaceTracker(SmoothingConfig())(frames),
                                                                  model.alignment, model.image_size)), n, r, cpu)
    translator = options.make_translator(model, request)
    with generator_threads():  # as edit_video runs it
        translated = timed("translate", lambda: list(translate_frames(tracked, translator, options.batch_size)), n,
                           r, cpu)
    timed("smooth", lambda: list(smooth_changes(translated, options.smooth_output)), n, r, cpu)

    def encode():
        with VideoWriter(tmp / "enc.mp4", info, clip) as writer:
            for f in tracked:
                writer.write(composite(f))

    timed("composite + encode", encode, n, r, cpu)
    return r, cpu


def transcode_rate(clip: Path, n: int, tmp: Path) -> float:
    start = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "18", "-c:a", "copy", str(tmp / "t.mp4")], check=True)
    return rate(n, time.perf_counter() - start)


def cli_args(clip: Path, model_name: str, request: dict[str, str], out: Path) -> list[str]:
    return ["video", str(clip), "-m", model_name, *[a for k, v in request.items() for a in (f"--{k}", v)],
            "-o", str(out), "--no-progress"]


def startup_seconds(clip: Path, model_name: str, request: dict[str, str], tmp: Path) -> float:
    """Wall time of `stylize video` in a new process on the clip's first frame only."""
    one = tmp / f"one{clip.suffix}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-frames:v", "1", "-c:v", "libx264",
                    "-an", str(one)], check=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stylize.cli.main", *cli_args(one, model_name, request, tmp / "o.mp4")],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def peak_rss_mb(clip: Path, model_name: str, request: dict[str, str], tmp: Path) -> float:
    """Runs the CLI in a child process and returns that child's peak resident memory."""
    # VmHWM, not getrusage: Linux carries ru_maxrss over from the parent across fork + exec.
    code = ("import sys; from stylize.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code, *cli_args(clip, model_name, request, tmp / "rss.mp4")],
                         check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model file or bundled name (default: the one for --target)")
    ap.add_argument("--target", default="hair=blond", help="group=value")
    ap.add_argument("--clip", type=Path, default=clips.DEMO)
    ap.add_argument("--every", type=int, default=3, help="also time detection with full detection every N frames")
    ap.add_argument("--rss", action="store_true", help="peak memory of a 10 s and a 60 s clip")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help="as `stylize --precision`")
    args = ap.parse_args()
    info = probe(args.clip)
    request = dict([args.target.split("=", 1)])
    args.model = args.model or bundled_for(request)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"start-up (new process, import to the first frame written): "
              f"{startup_seconds(args.clip, args.model, request, tmp):.2f} s", flush=True)
        stages, stage_cpu = stage_rates(args.clip, args.model, request, args.every, tmp, args.precision)
        n = info.frame_estimate
        print(f"clip {args.clip.name}: {info.width}x{info.height}, {n} frames; model {args.model}, --precision "
              f"{args.precision}")
        for label, fps in stages.items():
            print(f"  {label:28} {fps:8.1f} fps {stage_cpu[label]:6.1f} CPU ms a frame")
        transcode = transcode_rate(args.clip, n, tmp)
        print(f"  {'ffmpeg x264 transcode':28} {transcode:8.1f} fps")
        model = load_model(args.model)
        cores = len(os.sched_getaffinity(0))
        for every in sorted({1, args.every}):
            before = cpu_seconds()
            report = edit_video(args.clip, tmp / "e2e.mp4", model, request,
                                EditOptions(progress=False, detect_every=every, precision=args.precision))
            cpu = cpu_seconds() - before
            used = {k: v for k, v in stages.items() if "detect" not in k or (every > 1) == ("full" in k)}
            slowest = min(used, key=used.get)
            bound = rate(cores * report.stats.frames, cpu)
            print(f"end to end, --detect-every {every}: {report.fps:.1f} fps = {report.fps / used[slowest]:.2f} x "
                  f"the slowest stage ({slowest}), {report.fps / transcode:.2f} x a plain transcode; "
                  f"{1000 * cpu / report.stats.frames:.1f} CPU ms a frame (ffmpeg included), so {cores} cores "
                  f"allow at most {bound:.1f} fps: {report.fps / bound:.2f} x that bound")
        if args.rss:
            for seconds in (10, 60):
                clip = clips.looped(seconds, tmp / f"loop{seconds}.mp4", args.clip)
                print(f"peak RSS, {seconds:2d} s clip: {peak_rss_mb(clip, args.model, request, tmp):.0f} MB",
                      flush=True)
    print(f"(this process's peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
