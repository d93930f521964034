"""The run's manifest: which files in the reports folder a run wrote, so it deletes and scans only those.

Why: the reports folder may be shared with anything (`--reports-dir=.` is the user's project folder, holding their
`qoder-conformance.toml`, `.env`, CI secret files). A run must never delete or rewrite what it did not write, so
every removal (stale repro scripts, the secret canary's) is limited to files a manifest lists:

- `begin_run` (at session start, before any item is created) replaces the previous run's summary.json with an
  "in progress" marker that `qoder-conformance verify` refuses: a run killed afterwards can never leave a
  certifiable summary beside its own ledger. The new manifest lists that marker and inherits the earlier runs'
  files (`earlier`), so their stale repro scripts can still be removed once this run writes its own.
- `finish_run` (after the reports are written) records exactly the files this run wrote.

The manifest is itself a file in a shared folder, so reading it is defensive: bounded size, and only relative
paths that stay inside the reports folder are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from conformance.reporting.files import write_atomic

MANIFEST_NAME = ".qoder-manifest.json"
SUMMARY_NAME = "summary.json"
IN_PROGRESS = "in_progress"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_ENTRIES = 10_000


@dataclass
class Manifest:
    run_id: str = ""
    complete: bool = False
    files: list[str] = field(default_factory=list)  # written by the run `run_id` (relative to the reports folder)
    earlier: list[str] = field(default_factory=list)  # written by earlier runs and not yet removed or rewritten

    def to_json(self) -> str:
        document = {"run_id": self.run_id, "complete": self.complete, "files": self.files, "earlier": self.earlier}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def read(reports_dir: Path) -> Manifest:
    """The manifest in `reports_dir`, or an empty one when there is none or it cannot be trusted."""
    path = Path(reports_dir) / MANIFEST_NAME
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError:
        return Manifest()
    if len(data) > MAX_MANIFEST_BYTES:
        return Manifest()
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return Manifest()
    if not isinstance(document, dict):
        return Manifest()
    run_id = document.get("run_id")
    return Manifest(
        run_id=run_id if isinstance(run_id, str) else "",
        complete=document.get("complete") is True,
        files=_safe_paths(document.get("files")),
        earlier=_safe_paths(document.get("earlier")),
    )


def _safe_paths(value: Any) -> list[str]:
    """Relative paths inside the folder only: a manifest entry can never make a run touch a file elsewhere."""
    if not isinstance(value, list):
        return []
    kept: list[str] = []
    for entry in value[:MAX_ENTRIES]:
        if not isinstance(entry, str) or not entry or "\\" in entry or "\0" in entry:
            continue
        path = PurePosixPath(entry)
        if path.is_absolute() or any(part in ("..", "") for part in path.parts) or entry != str(path):
            continue
        if entry not in kept:
            kept.append(entry)
    return kept


def write(reports_dir: Path, manifest: Manifest) -> None:
    write_atomic(Path(reports_dir) / MANIFEST_NAME, manifest.to_json())


def in_progress_summary(run_id: str, started_at: str) -> str:
    """What summary.json says while a run is under way (and forever, if it is killed)."""
    document = {
        "status": IN_PROGRESS,
        "run_id": run_id,
        "started_at": started_at,
        "note": "a run started at this time has not finished (or was killed): this file certifies nothing",
    }
    return json.dumps(document, indent=2) + "\n"


def begin_run(reports_dir: Path, run_id: str, started_at: str) -> Manifest:
    """Invalidate the previous summary.json and start this run's manifest (see the module docstring)."""
    reports_dir = Path(reports_dir)
    previous = read(reports_dir)
    earlier = [name for name in previous.files + previous.earlier if name != SUMMARY_NAME]
    write_atomic(reports_dir / SUMMARY_NAME, in_progress_summary(run_id, started_at))
    manifest = Manifest(run_id=run_id, files=[SUMMARY_NAME], earlier=list(dict.fromkeys(earlier)))
    write(reports_dir, manifest)
    return manifest


def earlier_files(reports_dir: Path, run_id: str) -> list[str]:
    """Files of earlier runs that this run may remove: from this run's manifest if `begin_run` wrote one, else
    (reports written without a session start, e.g. by a tool) everything the previous manifest lists."""
    current = read(reports_dir)
    if run_id and current.run_id == run_id:
        return current.earlier
    return list(dict.fromkeys(current.files + current.earlier))


def finish_run(reports_dir: Path, run_id: str, written: list[str], earlier: list[str]) -> None:
    """Record what this run wrote; earlier runs' files that still exist and were not rewritten stay listed."""
    reports_dir = Path(reports_dir)
    still = [name for name in earlier if name not in written and (reports_dir / name).is_file()]
    write(reports_dir, Manifest(run_id=run_id, complete=True, files=list(dict.fromkeys(written)), earlier=still))
