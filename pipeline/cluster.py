"""Past one machine: photo folders and video lists spread over a Ray cluster (``pip install "stylize[ray]"``).

Ray does the scheduling, placement and fault tolerance; this module only says what a unit of work is:

- photos: an actor pool, one actor per GPU (or per CPU when the cluster has no GPU), each loading the model and
  dlib's models once and editing a few photos per call, so faces of several photos share one generator call.
  Actors restart when their process dies and Ray retries the call that was in flight, so a worker lost mid-file
  loses nothing; the driver writes the manifest as results come back, so an interrupted job resumes.
- videos: one Ray task per video (retried on failure), returning its figures for the summary report.

The model travels through Ray's object store (the bytes of the model file), so nodes need no copy of it; the
photos and videos themselves must be where every node can read and write them (a shared or network filesystem,
as for any batch job on a cluster).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from stylize.models.modelfile import StyleModel, load_model

from .batch import Job, Outcome, edit_prepared, prepare_photo
from .errors import InputError
from .options import EditOptions

PHOTOS_PER_CALL = 8
CRASH_ONCE = "STYLIZE_RAY_CRASH_ONCE"  # tests: a path; the first worker call to find it absent creates it and dies


def connect(address: str) -> bool:
    """Joins the cluster at ``address`` (``auto``: the one this machine belongs to) or, for ``local``, starts a
    Ray instance on this machine; reuses a connection already made. True if this call made the connection."""
    try:
        import ray
    except ImportError:
        raise InputError('--ray needs Ray: pip install "stylize[ray]"') from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except ConnectionError as e:
        raise InputError(f"--ray {address}: cannot connect ({str(e).splitlines()[0]})") from None
    return True


def placement(options: EditOptions) -> tuple[dict, EditOptions, int]:
    """Ray resources for one unit of work (a GPU each when the cluster has GPUs, else a CPU), the options it runs
    with there, and how many such units the cluster holds."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    slots = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
    return ({"num_gpus": 1} if gpus else {"num_cpus": 1}), replace(options, device="cuda" if gpus else "cpu",
                                                                   progress=False), slots


def model_bytes(model: StyleModel) -> bytes:
    if not model.path:
        raise InputError("--ray needs a model loaded from a file")
    return Path(model.path).read_bytes()


def load_shipped_model(data: bytes, device: str) -> StyleModel:
    """A model from the file bytes the driver put in the object store."""
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(data)
        f.flush()
        return load_model(f.name, device)


class PhotoWorker:
    """One Ray actor: the model and the dlib models, loaded once; edits a few photos per call."""

    def __init__(self, data: bytes, request: dict[str, str], options: EditOptions, only_faces: bool) -> None:
        import torch

        torch.set_num_threads(1)
        model = load_shipped_model(data, "cpu")
        self.translator = options.make_translator(model, request)
        self.detector = options.make_detector() if model.alignment.kind == "face" else None
        self.alignment, self.size = model.alignment, model.image_size
        self.batch_size, self.only_faces = options.batch_size, only_faces

    def edit(self, jobs: list[Job]) -> list[tuple[Job, Outcome]]:
        marker = os.environ.get(CRASH_ONCE)
        if marker and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)  # a worker dying mid-call, as a lost node would
        prepared = (prepare_photo(j, self.detector, self.alignment, self.size) for j in jobs)
        return list(edit_prepared(prepared, self.translator, self.batch_size, self.only_faces))


def ray_photo_outcomes(todo: list[Job], model: StyleModel, request: dict[str, str], options: EditOptions,
                       only_faces: bool, address: str) -> Iterator[tuple[Job, Outcome]]:
    """Outcomes of ``todo`` as the cluster finishes them (in any order)."""
    import ray
    from ray.util import ActorPool

    started = connect(address)
    actors = []
    try:
        per, options, slots = placement(options)
        chunks = [todo[i:i + PHOTOS_PER_CALL] for i in range(0, len(todo), PHOTOS_PER_CALL)]
        worker = ray.remote(max_restarts=-1, max_task_retries=-1, **per)(PhotoWorker)
        shipped = ray.put(model_bytes(model))
        actors = [worker.remote(shipped, request, options, only_faces) for _ in range(min(slots, len(chunks)))]
        if actors:
            for results in ActorPool(actors).map_unordered(lambda a, chunk: a.edit.remote(chunk), chunks):
                yield from results
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()
