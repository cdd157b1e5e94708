"""One long video over many workers: split at keyframes, edit the pieces in parallel, join them.

Each chunk is edited with a lead-in and a tail of ``overlap`` frames that are decoded, tracked, smoothed and then
dropped, so a track crossing a boundary has its history and its look-ahead on both sides and does not jump at the
join. Pieces are encoded as MPEG-TS (no audio) and joined by stream copy; the source's audio is muxed in last with
the video started as late after it as in the source, exactly as the single-machine path does.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from stylize.models.modelfile import StyleModel

from .atomic import atomic_output, check_output_path
from .decode import read_frames
from .edit import EditStats, edit_frames
from .errors import InputError
from .ffmpeg_tools import ffmpeg_exe, probe
from .frames import Frame, VideoInfo
from .options import EditOptions

OVERLAP = 12  # frames decoded and dropped on each side of a chunk: more than the tracker's look-ahead
MIN_CHUNK = 60  # frames; shorter pieces cost more in start-up than they save


@dataclass(frozen=True)
class Chunk:
    """Frames [start, end) are kept; [first, last) are decoded (the overlap on each side)."""

    index: int
    start: int
    end: int
    first: int
    last: int


def keyframes(path: Path, info: VideoInfo) -> list[int]:
    """Indices of the video's keyframes, read by demuxing alone (no decoding)."""
    out, n = [], 0
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size == 0:
                continue
            if packet.is_keyframe:
                out.append(n)
            n += 1
    return out or [0]


def plan_chunks(frames: int, pieces: int, keys: list[int], overlap: int = OVERLAP) -> list[Chunk]:
    """About ``pieces`` chunks of at least MIN_CHUNK frames, each boundary moved to the nearest keyframe when one is
    near (seeking there decodes least). (Pass
    ``pieces`` 1 for a variable-frame-rate video: chunks are found by seeking to frame index / rate, which only a
    constant rate makes exact.)"""
    pieces = max(1, min(pieces, frames // MIN_CHUNK))
    cuts = {0, frames}
    for k in range(1, pieces):
        target = round(k * frames / pieces)
        cut = min(keys, key=lambda f: abs(f - target)) if keys else target
        if abs(cut - target) > frames / pieces / 4:  # keyframes too sparse: an accurate seek can start anywhere
            cut = target
        if MIN_CHUNK // 2 <= cut <= frames - MIN_CHUNK // 2:
            cuts.add(cut)
    bounds = sorted(cuts)
    return [Chunk(i, a, b, max(0, a - overlap), min(frames, b + overlap))
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]


def read_range(path: Path, info: VideoInfo, first: int, last: int) -> Iterator[Frame]:
    """Frames [first, last) of the video, by an accurate seek to just before ``first``."""
    if first == 0:
        frames = read_frames(path, info)
    else:
        seek = info.start + (first - 0.5) / float(info.fps)
        frames = read_frames(path, info, seek=seek)
    try:
        for i, frame in enumerate(frames, start=first):
            if i >= last:
                break
            frame.index = i
            yield frame
    finally:
        frames.close()


def edit_chunk(source: Path, info: VideoInfo, chunk: Chunk, piece: Path, model: StyleModel,
               request: dict[str, str], options: EditOptions) -> dict:
    """Edits one chunk into ``piece`` (MPEG-TS, video only); returns its frame and face counts."""
    stats = EditStats()
    translator = options.make_translator(model, request)
    detector = options.make_detector() if model.alignment.kind == "face" else None
    silent = replace(info, has_audio=False, start=0.0)
    kept = faces = 0
    with options.make_writer(piece, silent, source) as writer:
        edited = edit_frames(read_range(source, info, chunk.first, chunk.last), translator, detector, options,
                             stats, video=True)
        try:
            for frame, image in edited:
                if chunk.start <= frame.index < chunk.end:
                    writer.write(image)
                    kept += 1
                    faces += len(frame.faces)
        finally:
            edited.close()
    return {"chunk": chunk.index, "frames": kept, "faces": faces, "tracks": stats.tracks}


def join(pieces: list[Path], source: Path, info: VideoInfo, output: Path) -> None:
    """Concatenates the pieces by stream copy and muxes the source's audio with the source's timing."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("".join(f"file '{p.resolve()}'\n" for p in pieces))
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0",
           "-itsoffset", f"{info.start:.6f}", "-i", listing.name]
    if info.has_audio:
        cmd += ["-i", str(source), "-map", "0:v:0", "-map", "1:a:0"]
    cmd += ["-c", "copy", str(output)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        Path(listing.name).unlink()
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        raise InputError(f"{output}: joining the pieces failed ({lines[-1] if lines else 'ffmpeg failed'})")


def edit_video_chunked(source: Path, output: Path, model: StyleModel, request: dict[str, str],
                       options: EditOptions, address: str | None, pieces: int | None = None) -> dict:
    """The single-machine ``edit_video``'s result, made by editing chunks in parallel on Ray (``address``) or,
    with ``address`` None, one after another here. Returns frames, faces, tracks and chunk count."""
    check_output_path(output)
    info = probe(source)
    model.schema.validate(request)  # before any work
    # the pieces go beside the output (every node reaches it), under a hidden name that says what they are
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.partial-pieces-") as tmp:
        keys = keyframes(source, info)
        if address is None:
            plan = plan_chunks(info.frame_estimate, 1 if info.variable_fps else pieces or 2, keys)
            results = [edit_chunk(source, info, c, Path(tmp) / f"{c.index:04d}.ts", model, request, options)
                       for c in plan]
        else:
            plan, results = ray_chunks(source, info, keys, Path(tmp), model, request, options, address, pieces)
        with atomic_output(output) as out:
            join([Path(tmp) / f"{c.index:04d}.ts" for c in plan], source, info, out)
    return {"frames": sum(r["frames"] for r in results), "faces": sum(r["faces"] for r in results),
            "tracks": sum(r["tracks"] for r in results), "chunks": len(plan),
            "joins": [c.start for c in plan[1:]]}


def ray_chunks(source: Path, info: VideoInfo, keys: list[int], tmp: Path, model: StyleModel,
               request: dict[str, str], options: EditOptions, address: str, pieces: int | None
               ) -> tuple[list[Chunk], list[dict]]:
    import ray

    from .cluster import connect, load_shipped_model, model_bytes, placement

    started = connect(address)
    try:
        per, opts, slots = placement(options)
        plan = plan_chunks(info.frame_estimate, 1 if info.variable_fps else pieces or slots, keys)

        def run(data: bytes, chunk: Chunk, opts: EditOptions) -> dict:
            import torch
            torch.set_num_threads(1)
            return edit_chunk(source, info, chunk, tmp / f"{chunk.index:04d}.ts", load_shipped_model(data, "cpu"),
                              request, opts)

        task = ray.remote(max_retries=3, **per)(run)
        shipped = ray.put(model_bytes(model))
        pending = [task.remote(shipped, c, opts) for c in plan]
        results = []
        with tqdm(total=info.frame_estimate, unit="frame", desc=source.name, disable=not options.progress) as bar:
            while pending:  # one bar for the whole video: frames finished across the cluster
                ready, pending = ray.wait(pending, num_returns=1)
                results.append(ray.get(ready[0]))
                bar.update(results[-1]["frames"])
        return plan, sorted(results, key=lambda r: r["chunk"])
    finally:
        if started:
            ray.shutdown()


def seam_difference(a: Path, b: Path, joins: list[int], reach: int = 3) -> tuple[float, float]:
    """Mean |a − b| (0..255) over the frames within ``reach`` of a join, and over all others: how much a chunked
    edit differs from the single-machine one where the pieces meet, against elsewhere."""
    near, far = [], []
    for i, (x, y) in enumerate(zip(read_frames(a, probe(a)), read_frames(b, probe(b)), strict=True)):
        d = float(np.abs(x.image.astype(np.int16) - y.image).mean())
        (near if any(abs(i - j) < reach for j in joins) else far).append(d)
    return float(np.mean(near)) if near else 0.0, float(np.mean(far)) if far else 0.0
