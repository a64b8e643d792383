"""Step 2 of a sweep: the prepared data set in the artifact store, once per content key, so a worker that
shares no folder with the sweep fetches it (flows/trial/data.py): nothing shared but the servers.

The data set's own MLflow run (tag `maestro.role=data`, `maestro.data_key=KEY`) holds the prepared directory
(`data/`: arrays, vocabulary, manifest, baselines), the MIDI files of its test split (`data/midi/`: a trial's
music takes its prompt's rhythm from them) and the sha256 of every file (`checksums.json`), which a download
is checked against. It is marked complete only once everything is up: a half-published set is published again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from lstm.data.manifest import SOURCES, load_manifest

from .. import tracking
from ..names import CHECKSUMS, DATA_COMPLETE, DATA_DIR, DATA_KEY, DATA_ROLE, ROLE


def checksums(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path → sha256)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with path.open("rb") as fh:
            out[path.relative_to(root).as_posix()] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


def published_run(experiment: str, key: str) -> str | None:
    c = tracking.client()
    found = c.search_runs([tracking.experiment_id(experiment)],
                          f"tags.`{ROLE}` = '{DATA_ROLE}' and tags.`{DATA_KEY}` = '{key}' and "
                          f"tags.`{DATA_COMPLETE}` = 'true'", max_results=1)
    return found[0].info.run_id if found else None


def publish(prepared: Path, experiment: str) -> str:
    """The run holding `prepared` (named by its content key), published now unless it was before."""
    key = prepared.name
    if run_id := published_run(experiment, key):
        return run_id
    c = tracking.client()
    run_id = c.create_run(tracking.experiment_id(experiment), run_name=f"data-{key}",
                          tags={ROLE: DATA_ROLE, DATA_KEY: key}).info.run_id
    manifest = load_manifest(prepared)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / DATA_DIR
        shutil.copytree(prepared, bundle)
        for name in manifest.splits["test"].file_names:  # the prompts' MIDI, for their rhythm
            source = Path(manifest.data_dir) / name
            if source.is_file():
                (bundle / SOURCES / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, bundle / SOURCES / name)
        c.log_artifacts(run_id, str(bundle), DATA_DIR)
        c.log_text(run_id, json.dumps(checksums(bundle), indent=1), CHECKSUMS)
    c.set_tag(run_id, DATA_COMPLETE, "true")
    c.set_terminated(run_id, "FINISHED")
    return run_id
