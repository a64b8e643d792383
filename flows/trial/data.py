"""The prepared data set on this worker: the sweep's own directory where this machine shares it (the local
stack, an NFS mount), else this machine's copy of the published one (flows/sweep/publish.py), downloaded once.

A download goes to a temporary directory beside the cache, is checked file by file against the published
checksums and only then renamed into place, so a partial download is never used. A file lock makes two
trials on one machine download it once: the second waits and then finds it there.
"""

from __future__ import annotations

import fcntl
import json
import tempfile
from pathlib import Path

from .. import tracking
from ..names import CHECKSUMS, DATA_DIR
from ..settings import state_dir
from ..sweep.publish import checksums

READY = "manifest.json"  # lstm prepare writes it last; a downloaded copy has it once renamed into place


def local_data(prepared: str, data_run: str) -> Path:
    shared = Path(prepared)
    if (shared / READY).is_file() or not data_run:
        return shared
    cached = state_dir() / "data" / shared.name  # named by the data set's content key
    if (cached / READY).is_file():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    with open(cached.parent / f"{shared.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (cached / READY).is_file():
            _download(data_run, cached)
    return cached


def _download(data_run: str, cached: Path) -> None:
    c = tracking.client()
    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=f".{cached.name}-") as tmp:
        expected = json.loads(Path(c.download_artifacts(data_run, CHECKSUMS, tmp)).read_text())
        got = Path(c.download_artifacts(data_run, DATA_DIR, tmp))
        if (found := checksums(got)) != expected:
            bad = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
            raise ValueError(f"the data set downloaded from run {data_run} differs from its checksums: "
                             f"{', '.join(bad[:5])}")
        got.rename(cached)
