"""``edit_videos``: many videos (a folder, or a text file listing them), one after another here or one Ray task
each on a cluster; resumable, with a summary report per video (JSON and CSV in the output folder)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from stylize.models.modelfile import StyleModel

from .atomic import atomic_output
from .batch import read_jsonl, redone_note, unfinished
from .errors import InputError
from .options import EditOptions
from .video import VIDEO_SUFFIXES, edit_video

MANIFEST = ".stylize-videos.jsonl"
REPORT = "stylize-videos"  # .json and .csv
FIELDS = ("video", "output", "status", "frames", "faces", "tracks", "fps", "seconds", "error", "warning")


@dataclass(frozen=True)
class VideoJob:
    source: Path
    output: Path
    name: str  # the output's path relative to the output folder: the report's key


def find_videos(source: Path, out_dir: Path) -> list[VideoJob]:
    """A folder's videos (recursive, sorted; the tree is mirrored) or the files a text list names (one per line,
    relative to the list's folder; ``#`` starts a comment)."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
                       and out_dir.resolve() not in p.resolve().parents)
        jobs = [VideoJob(p, out_dir / p.relative_to(source), p.relative_to(source).as_posix()) for p in files]
    elif source.is_file():
        lines = [line.split("#", 1)[0].strip() for line in source.read_text(errors="replace").splitlines()]
        files = [(source.parent / line) for line in lines if line]
        jobs = [VideoJob(p, out_dir / p.name, p.name) for p in files]
        seen: set[str] = set()
        for j in jobs:
            if j.name in seen:
                raise InputError(f"{source}: two videos named {j.name}; their outputs would collide")
            seen.add(j.name)
    else:
        raise InputError(f"{source}: no such folder or list file")
    if not jobs:
        raise InputError(f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)})")
    return jobs


def edit_one(job: VideoJob, model: StyleModel, request: dict[str, str], options: EditOptions) -> dict:
    """One video edited; its row of the report, with the error instead of raising for a bad video."""
    row = {"video": str(job.source), "output": str(job.output), "status": "done", "frames": 0, "faces": 0,
           "tracks": 0, "fps": 0.0, "seconds": 0.0, "error": "", "warning": ""}
    start = time.perf_counter()
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        report = edit_video(job.source, job.output, model, request, options)
        row.update(frames=report.stats.frames, faces=report.stats.faces, tracks=report.stats.tracks,
                   fps=round(report.fps, 2), warning=report.short)
    except (InputError, OSError) as e:
        row.update(status="failed", error=str(e).splitlines()[0] if str(e) else type(e).__name__)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def run_shipped(data: bytes, job: VideoJob, request: dict[str, str], options: EditOptions) -> dict:
    """The Ray task: loads the model from the driver's bytes, then as ``edit_one``."""
    import torch

    from .cluster import load_shipped_model

    torch.set_num_threads(1)  # one CPU per task: Ray runs as many tasks as the node has CPUs
    return edit_one(job, load_shipped_model(data, "cpu"), request, options)


def ray_rows(todo: list[VideoJob], model: StyleModel, request: dict[str, str], options: EditOptions,
             address: str) -> Iterator[dict]:
    """Rows as the cluster finishes videos: one task per video, retried if its worker dies."""
    import ray

    from .cluster import connect, model_bytes, placement

    started = connect(address)
    try:
        per, options, _ = placement(options)
        task = ray.remote(max_retries=3, **per)(run_shipped)
        shipped = ray.put(model_bytes(model))
        pending = [task.remote(shipped, job, request, options) for job in todo]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield ray.get(ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()


def edit_videos(source: Path, out_dir: Path, model: StyleModel, request: dict[str, str],
                options: EditOptions | None = None, ray: str | None = None, retry_failed: bool = False,
                log=print) -> list[dict]:
    """Edits every video of ``source`` into ``out_dir``; returns the report's rows (this run's and earlier
    runs'). A re-run skips videos whose output exists and whose row says done with these settings (model,
    request, options: ``EditOptions.settings_key``); those done with others are edited again."""
    options = options or EditOptions()
    show, options = options.progress, replace(options, progress=False)
    model.schema.validate(request)  # before any work
    jobs = find_videos(source, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = read_jsonl(out_dir / MANIFEST, "name")
    settings = options.settings_key(model, request)

    def finished(job: VideoJob, row: dict) -> bool:
        return row["status"] == "done" and job.output.exists() or row["status"] == "failed" and not retry_failed

    todo, redone = unfinished(jobs, before, lambda j: j.name, settings, finished)
    if redone:
        log(redone_note(redone, "video", out_dir))
    rows = ray_rows(todo, model, request, options, ray) if ray else (edit_one(j, model, request, options)
                                                                      for j in todo)
    names = {str(j.source): j.name for j in todo}
    bar = tqdm(total=len(todo), unit="video", desc="videos", dynamic_ncols=True, disable=not show)
    try:
        with open(out_dir / MANIFEST, "a", encoding="utf-8") as manifest:
            for row in rows:
                row["name"], row["settings"] = names[row["video"]], settings
                before[row["name"]] = row
                manifest.write(json.dumps(row) + "\n")
                manifest.flush()
                bar.update(1)
    finally:
        bar.close()
        rows.close()
        write_report(out_dir, [before[j.name] for j in jobs if j.name in before])
    return [before[j.name] for j in jobs if j.name in before]


def write_report(out_dir: Path, rows: list[dict]) -> None:
    with atomic_output(out_dir / f"{REPORT}.json") as tmp:
        tmp.write_text(json.dumps(rows, indent=2))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(out_dir / f"{REPORT}.csv") as tmp:
        tmp.write_text(text.getvalue())
