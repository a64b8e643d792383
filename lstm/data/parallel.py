"""Run a function over items on all cores, with a progress bar, yielding results as they finish."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_unordered(fn: Callable, items: Iterable, workers: int | None = None, desc: str = "") -> Iterator:
    items = list(items)
    workers = max(1, min(workers or default_workers(), len(items) or 1))
    bar = tqdm(total=len(items), desc=desc, unit="file", disable=None)
    try:
        if workers == 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(fn, item) for item in items]
            for fut in as_completed(futures):
                yield fut.result()
                bar.update()
    finally:
        bar.close()
