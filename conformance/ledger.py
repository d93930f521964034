"""The ledger: every item the suite created, written the moment it exists, so nothing is left live unnoticed.

`reports/ledger.jsonl` gets one JSON line per created item, appended with O_APPEND in a single write (lines from
several xdist workers never interleave). At session end each process force-stops its own items; after a killed run
`qoder-conformance cleanup --ledger PATH` does the same from the file. Cleanup only ever touches items in the ledger.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import evidence
from conformance.config import Settings
from conformance.errors import HarnessError

LEDGER_NAME = "ledger.jsonl"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ledger:
    """This process's view of the ledger file: appends lines and remembers what it appended."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = Path(path)
        self.settings = settings
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, environment_id: str, work_id: str, created_by: str) -> dict[str, Any]:
        entry = {
            "base_url": self.settings.base_url,
            "environment_id": environment_id,
            "work_id": work_id,
            "created_by": created_by,
            "at": now_rfc3339(),
            "run": self.settings.run_id,
        }
        line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)  # one write of one line: atomic with O_APPEND on local files
                if not self.settings.embedded:  # an embedded emulator's items end with the run: nothing to recover
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            self.entries.append(entry)
        return entry


def read_entries(path: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """The ledger's entries (of one run when `run_id` is given); a torn last line of a killed run is skipped."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("work_id") and (run_id is None or entry.get("run") == run_id):
            entries.append(entry)
    return entries


def cleanup(entries: Iterable[dict[str, Any]], client: Any) -> dict[str, Any]:
    """Force-stop every live item among `entries` (a SuiteClient for their target); nothing else is touched."""
    outcome: dict[str, Any] = {"stopped": [], "already_stopped": [], "failed": []}
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry["environment_id"], entry["work_id"])
        if key in seen:
            continue
        seen.add(key)
        work_id = entry["work_id"]
        try:
            reason = _stop_if_live(client, *key)
        except HarnessError as error:
            outcome["failed"].append({"work_id": work_id, "reason": str(error)})
            continue
        if reason in ("stopped", "already_stopped"):
            outcome[reason].append(work_id)
        else:
            outcome["failed"].append({"work_id": work_id, "reason": reason})
    return outcome


def _stop_if_live(client: Any, environment_id: str, work_id: str) -> str:
    path = f"/environments/{environment_id}/work/{work_id}"
    current = client.request("GET", path, role=evidence.CLEANUP)
    if current.status_code == 404:
        return "already_stopped"  # gone counts as stopped: nothing is left running
    if current.status_code != 200:
        return f"GET answered {current.status_code}"
    if _state(current) == "stopped":
        return "already_stopped"
    answer = client.request(
        "POST",
        path + "/stop",
        role=evidence.CLEANUP,
        content=b'{"force": true}',
        headers={"Content-Type": "application/json"},
    )
    if answer.status_code == 200 and _state(answer) == "stopped":
        return "stopped"
    return f"force stop answered {answer.status_code} with state {_state(answer)!r}"


def _state(response: Any) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("state") if isinstance(body, dict) else None


def cleanup_from_ledger(path: Path, settings: Settings) -> dict[str, Any]:
    """After a killed run: force-stop every live item of the ledger, per target, with the configured PAT.

    Entries of the embedded emulator cannot be cleaned (it died with the run) and are reported as such when their
    base URL no longer answers.
    """
    from dataclasses import replace

    from conformance.client import RateLimiter, SuiteClient
    from conformance.evidence import Redactor

    entries = read_entries(Path(path))
    by_target: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_target.setdefault(entry.get("base_url") or "", []).append(entry)
    outcome: dict[str, Any] = {"stopped": [], "already_stopped": [], "failed": []}
    for base_url, its_entries in by_target.items():
        if not base_url or not settings.pat:
            reason = "no base_url in the ledger entry" if not base_url else "QODER_PAT is not set"
            outcome["failed"] += [{"work_id": e["work_id"], "reason": reason} for e in its_entries]
            continue
        target = replace(settings, base_url=base_url)
        client = SuiteClient(
            target, lambda exchange: None, Redactor(target.secrets()), RateLimiter(target.write_rate, target.read_rate)
        )
        result = cleanup(its_entries, client)
        for key in outcome:
            outcome[key] += result[key]
    return outcome
