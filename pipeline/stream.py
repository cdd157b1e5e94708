"""Overlapping stages: run an iterator in a background thread with a bounded queue.

ffmpeg pipes, dlib, OpenCV and torch all release the GIL in their heavy loops, so threads give real overlap;
the bounded queue keeps memory flat when a downstream stage is slower.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], maxsize: int = 8, name: str = "stage") -> Iterator[T]:
    """Yields ``items`` as produced by a worker thread at most ``maxsize`` ahead. An exception in the worker is
    raised in the consumer; closing the consumer (error, Ctrl-C) stops the worker and closes its source."""
    q: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            put(e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
