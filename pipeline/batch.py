"""``edit_folder``: a folder tree of photos, resumable, losing nothing.

Workers (``jobs`` processes) read, detect and align photos; the main process batches faces of several photos
into one generator call, pastes them back and writes each result atomically. A manifest (one JSON line per
finished photo, appended as it happens) makes a re-run skip what is done; a report lists every failure with its
reason.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from stylize.models.modelfile import StyleModel

from .align import align_frames
from .atomic import atomic_output
from .composite import composite
from .detect import detect_frames
from .errors import InputError
from .frames import Frame
from .options import EditOptions
from .photo_io import PHOTO_SUFFIXES, Photo, read_photo, write_photo
from .translate import Translator, translate_frames

T = TypeVar("T")
MANIFEST = ".stylize-manifest.jsonl"
REPORT = "stylize-report.json"


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    rel: str
    size: int
    mtime: float


@dataclass
class Prepared:
    """A photo read, detected and aligned by a worker, ready for the generator; or the reason it failed."""

    job: Job
    photo: Photo | None = None
    frame: Frame | None = None
    error: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of one photo: ``done``, ``no_face`` (copied unchanged), ``skipped`` (``--only-faces``) or
    ``failed`` with the reason."""

    status: str
    faces: int = 0
    reason: str = ""


@dataclass
class BatchSummary:
    processed: int = 0
    done_before: int = 0
    no_face: int = 0
    failed: int = 0
    failed_before: int = 0
    redone: int = 0  # finished by an earlier run with other settings, edited again
    ignored: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"processed": self.processed, "skipped_done_before": self.done_before, "no_face": self.no_face,
                "failed": self.failed, "failed_in_earlier_runs": self.failed_before,
                "redone_other_settings": self.redone, "not_images": self.ignored,
                "seconds": round(self.seconds, 2), "failures": self.failures}


def find_jobs(in_dir: Path, out_dir: Path) -> tuple[list[Job], int]:
    """Every photo under ``in_dir`` (by suffix, sorted, recursive), mirrored under ``out_dir``; and how many
    other files were passed over. The output folder is skipped if it lies inside the input folder."""
    jobs, ignored = [], 0
    out_resolved = out_dir.resolve()
    for root, dirs, files in os.walk(in_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if (root_path / d).resolve() != out_resolved and not d.startswith("."))
        for name in sorted(files):
            src = root_path / name
            if name.startswith("."):
                continue
            if src.suffix.lower() not in PHOTO_SUFFIXES:
                ignored += 1
                continue
            st = src.stat()
            rel = src.relative_to(in_dir).as_posix()
            jobs.append(Job(src, out_dir / rel, rel, st.st_size, st.st_mtime))
    return jobs, ignored


def read_manifest(out_dir: Path) -> dict[str, dict]:
    """Finished photos by relative path."""
    return read_jsonl(out_dir / MANIFEST, "file")


def read_jsonl(path: Path, key: str) -> dict[str, dict]:
    """A manifest's entries by ``key``, the last one winning. A line cut short by a crash is ignored (that item
    is redone)."""
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                done[entry[key]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def unfinished(jobs: list[T], entries: dict[str, dict], key: Callable[[T], str], settings: str,
               finished: Callable[[T, dict], bool]) -> tuple[list[T], int]:
    """The jobs an earlier run did not finish with these ``settings`` (``EditOptions.settings_key``), and how many of
    them it finished with other settings: those are edited again rather than mixed with this run's edits.
    ``finished(job, entry)`` judges a manifest entry on everything but its settings."""
    todo, redone = [], 0
    for job in jobs:
        entry = entries.get(key(job))
        if entry is not None and finished(job, entry):
            if entry.get("settings") == settings:
                continue
            redone += 1
        todo.append(job)
    return todo, redone


def redone_note(count: int, noun: str, out_dir: Path) -> str:
    """What a resumed folder run says about the ``count`` files it edits again for new settings (`unfinished`)."""
    return (f"{count} {noun}(s) in {out_dir} were edited with another model, target or options: editing them again "
            "with these")


def is_done(job: Job, entry: dict, retry_failed: bool) -> bool:
    """Whether an earlier run's ``entry`` finished ``job`` from this very source file."""
    if entry.get("size") != job.size or entry.get("mtime") != job.mtime:
        return False
    if entry["status"] == "failed":
        return not retry_failed
    return entry["status"] == "skipped" or job.output.exists()


# --- worker side: read, detect, align ------------------------------------------------------------------------
_worker: dict = {}


def init_worker(options: EditOptions, alignment, size: int) -> None:
    """Each worker process loads its own dlib models once."""
    import torch

    torch.set_num_threads(1)
    _worker["detector"] = options.make_detector() if alignment.kind == "face" else None
    _worker["alignment"], _worker["size"] = alignment, size


def prepare(job: Job) -> Prepared:
    return prepare_photo(job, _worker["detector"], _worker["alignment"], _worker["size"])


def prepare_photo(job: Job, detector, alignment, size: int) -> Prepared:
    """Reads, detects and aligns one photo; a photo that cannot be read comes back with its reason."""
    try:
        photo = read_photo(job.source)
        frames = [Frame(0, photo.rgb)]
        if detector is not None:
            frames = detect_frames(frames, detector)
        [frame] = list(align_frames(frames, alignment, size))
        return Prepared(job, photo, frame)
    except InputError as e:
        return Prepared(job, error=str(e).split(": ", 1)[-1])
    except MemoryError:
        return Prepared(job, error="out of memory reading the image")


def prepared_stream(jobs: list[Job], options: EditOptions, model: StyleModel, workers: int) -> Iterator[Prepared]:
    """Prepared photos in job order, with at most a few per worker in flight, so memory stays bounded."""
    init_args = (options, model.alignment, model.image_size)
    if workers <= 1:
        init_worker(*init_args)
        yield from (prepare(j) for j in jobs)
        return
    window = 4 * workers
    with ProcessPoolExecutor(workers, initializer=init_worker, initargs=init_args) as pool:
        pending: deque[Future] = deque()
        it = iter(jobs)
        try:
            for job in it:
                pending.append(pool.submit(prepare, job))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


# --- main side ------------------------------------------------------------------------------------------------
def write_result(job: Job, photo: Photo, frame: Frame, only_faces: bool) -> Outcome:
    """Writes one edited photo atomically (or copies a faceless one unchanged) and says what became of it."""
    try:
        if not frame.faces:
            if only_faces:
                return Outcome("skipped")
            copy_unchanged(job)
            return Outcome("no_face")
        job.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(job.output) as tmp:
            write_photo(photo, composite(frame), tmp)
        return Outcome("done", len(frame.faces))
    except (OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return Outcome("failed", reason=f"cannot write output ({reason})")


def edit_prepared(prepared: Iterable[Prepared], translator: Translator, batch_size: int, only_faces: bool
                  ) -> Iterator[tuple[Job, Outcome]]:
    """Translates the faces of several photos in one generator call and writes each result; photos that failed
    to prepare pass through as failures."""
    def frames() -> Iterator[Frame]:
        for p in prepared:
            if p.error:
                failed.append(p)
                continue
            p.frame.tag = p
            yield p.frame

    def drain() -> Iterator[tuple[Job, Outcome]]:
        while failed:
            p = failed.pop(0)
            yield p.job, Outcome("failed", reason=p.error)

    failed: list[Prepared] = []
    stream = translate_frames(frames(), translator, batch_size, max_frames=batch_size)
    try:
        for frame in stream:
            yield from drain()
            p = frame.tag
            yield p.job, write_result(p.job, p.photo, frame, only_faces)
        yield from drain()
    finally:
        stream.close()


def local_outcomes(todo: list[Job], model: StyleModel, translator: Translator, options: EditOptions, workers: int,
                   only_faces: bool) -> Iterator[tuple[Job, Outcome]]:
    """This machine: ``workers`` processes prepare photos, this process translates and writes them."""
    prepared = prepared_stream(todo, options, model, workers)
    try:
        yield from edit_prepared(prepared, translator, options.batch_size, only_faces)
    finally:
        prepared.close()


class Manifest:
    """Appends one line per finished photo and flushes it, so a crash loses at most the photo in hand."""

    def __init__(self, out_dir: Path, settings: str) -> None:
        self._f = open(out_dir / MANIFEST, "a", encoding="utf-8")
        self.settings = settings

    def record(self, job: Job, status: str, faces: int = 0, reason: str = "") -> None:
        entry = {"file": job.rel, "status": status, "faces": faces, "size": job.size, "mtime": job.mtime,
                 "settings": self.settings}
        if reason:
            entry["reason"] = reason
        self._f.write(json.dumps(entry) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def copy_unchanged(job: Job) -> None:
    job.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(job.output) as tmp:
        shutil.copy2(job.source, tmp)


def edit_folder(in_dir: Path, out_dir: Path, model: StyleModel, request: dict[str, str],
                options: EditOptions | None = None, jobs: int = 1, only_faces: bool = False,
                retry_failed: bool = False, dry_run: bool = False, log=print, ray: str | None = None) -> BatchSummary:
    """Edits every photo under ``in_dir`` into the mirrored tree under ``out_dir``. ``jobs`` worker processes
    prepare photos on this machine; with ``ray`` (``local``: start a Ray instance here, ``auto`` or an address:
    join that cluster) the photos are spread over the cluster's workers instead (``pipeline/cluster.py``)."""
    options = options or EditOptions.for_photos()
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: not a folder")
    if out_dir.resolve() == in_dir.resolve():
        raise InputError(f"{out_dir}: output folder must differ from the input folder")
    model.schema.validate(request)  # before any work
    all_jobs, ignored = find_jobs(in_dir, out_dir)
    if not all_jobs:  # as `stylize videos` does: a wrong folder is an error, not an empty report
        raise InputError(f"{in_dir}: no photos ({', '.join(PHOTO_SUFFIXES)})"
                         + (f"; {ignored} non-image file(s) passed over" if ignored else ""))
    settings = options.settings_key(model, request, only_faces=only_faces)
    translator = options.make_translator(model, request) if ray is None else None
    done = read_manifest(out_dir) if out_dir.exists() else {}
    todo, redone = unfinished(all_jobs, done, lambda j: j.rel, settings, lambda j, e: is_done(j, e, retry_failed))
    summary = BatchSummary(done_before=len(all_jobs) - len(todo), redone=redone, ignored=ignored)
    if summary.redone:
        log(redone_note(summary.redone, "photo", out_dir))
    todo_set = {j.rel for j in todo}
    for j in all_jobs:
        entry = done.get(j.rel)
        if j.rel not in todo_set and entry and entry["status"] == "failed":
            summary.failed_before += 1
            summary.failures.append({"file": j.rel, "reason": entry.get("reason", ""), "run": "earlier"})
    if dry_run:
        for j in todo:
            log(f"would edit {j.rel} -> {j.output}")
        log(f"{len(todo)} to do, {summary.done_before} done before, {ignored} non-image files passed over")
        return summary
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir, settings)
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="img", desc="photos", disable=not options.progress, dynamic_ncols=True)

    if translator is not None:
        outcomes = local_outcomes(todo, model, translator, options, jobs, only_faces)
    else:
        from .cluster import ray_photo_outcomes
        outcomes = ray_photo_outcomes(todo, model, request, options, only_faces, ray)
    try:
        for job, outcome in outcomes:
            if outcome.status == "failed":
                summary.failed += 1
                summary.failures.append({"file": job.rel, "reason": outcome.reason})
            elif outcome.status in ("no_face", "skipped"):
                summary.no_face += 1
            else:
                summary.processed += 1
            manifest.record(job, outcome.status, outcome.faces, outcome.reason)
            bar.update(1)
    finally:
        outcomes.close()  # stops the workers now, also on Ctrl-C
        bar.close()
        manifest.close()
        summary.seconds = time.perf_counter() - start
        report = out_dir / REPORT
        with atomic_output(report) as tmp:
            tmp.write_text(json.dumps(summary.to_json(), indent=2))
    return summary
