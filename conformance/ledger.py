"""The ledger: every item the suite created, written the moment the suite has proved it owns it.

`reports/ledger.jsonl` gets one JSON line per created item, appended with O_APPEND in a single write (lines from
several xdist workers never interleave). Each line carries its run's ID, and the lines of one run are what its
cleanup works on: at session end each process force-stops its own items; after a killed run
`qoder-conformance cleanup --ledger PATH` takes the latest run's lines (or `--run-id RUN`, or `--all`).

Only IDs the provisioners accepted (conformance/paths.py's form, ownership proved) are ever recorded. The file is
still read as hostile input: a line that is not a well-formed entry is reported and skipped, never crashes the
cleanup, and an entry recorded for another target is reported and skipped: cleanup sends the PAT only to the
configured target. Cleanup only ever touches items in the ledger.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import evidence
from conformance.config import Settings
from conformance.errors import HarnessError, RateLimited, TargetUnreachable
from conformance.paths import is_environment_id, is_work_id, public_url, same_target, work_path

LEDGER_NAME = "ledger.jsonl"
MAX_LINE_BYTES = 4096  # an entry is ~300 bytes; a longer line is not one of ours (and is not parsed)
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SHOWN = 80


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
        if not is_environment_id(environment_id) or not is_work_id(work_id):
            raise HarnessError("refused to record an ID that is not of the accepted form in the ledger")
        entry = {
            "base_url": self.settings.base_url,
            "environment_id": environment_id,
            "work_id": work_id,
            "created_by": created_by,
            "at": now_rfc3339(),
            "run": self.settings.run_id,
            "embedded": self.settings.embedded,
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


@dataclass
class LedgerFile:
    """A ledger file as read: its well-formed entries in file order, and one problem per line that is not one."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # {"line": n, "reason": ...}

    def runs(self) -> list[str]:
        """The runs of the entries, in order of first appearance (the last is the latest run)."""
        return list(dict.fromkeys(entry["run"] for entry in self.entries))


def read_ledger(path: Path) -> LedgerFile:
    """Every line of the file checked as hostile input; never raises on content (only on an unreadable file)."""
    ledger = LedgerFile()
    for number, raw in enumerate(Path(path).read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        reason = _line_problem(raw)
        if isinstance(reason, str):
            ledger.problems.append({"line": number, "reason": reason})
        else:
            ledger.entries.append(reason)
    return ledger


def _line_problem(raw: bytes) -> dict[str, Any] | str:
    """The entry of one line, or why the line is not one (no content of the line is quoted)."""
    if len(raw) > MAX_LINE_BYTES:
        return f"longer than {MAX_LINE_BYTES} bytes: not a ledger entry"
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "not a JSON line (a torn last line of a killed run, or not a ledger at all)"
    if not isinstance(entry, dict):
        return "not a JSON object"
    if not is_work_id(entry.get("work_id")):
        return "work_id is missing or not of the accepted form"
    if not is_environment_id(entry.get("environment_id")):
        return "environment_id is missing or not of the accepted form"
    if not isinstance(entry.get("run"), str) or not RUN_ID.fullmatch(entry["run"]):
        return "run is missing or not a run ID"
    if entry.get("base_url") is not None and not isinstance(entry.get("base_url"), str):
        return "base_url is not a string"
    return entry


def read_entries(path: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """The ledger's well-formed entries (of one run when `run_id` is given); malformed lines are left out."""
    return [entry for entry in read_ledger(path).entries if run_id is None or entry["run"] == run_id]


def cleanup(entries: Iterable[dict[str, Any]], client: Any) -> dict[str, Any]:
    """Force-stop every live item among `entries` (a SuiteClient for their target); nothing else is touched.

    An entry whose IDs are not of the accepted form, or that was recorded for another target than the client's, is
    skipped without a request. Whatever the target answers, an entry ends in an outcome: nothing raises out.
    """
    outcome: dict[str, Any] = {"stopped": [], "already_stopped": [], "failed": [], "skipped": []}
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        work_id, environment_id = entry.get("work_id"), entry.get("environment_id")
        if not is_work_id(work_id) or not is_environment_id(environment_id):
            outcome["skipped"].append({"work_id": _shown(work_id), "reason": "IDs not of the accepted form"})
            continue
        base_url = entry.get("base_url")
        if base_url is not None and not same_target(base_url, client.settings.base_url):
            outcome["skipped"].append({"work_id": work_id, "reason": _other_target(base_url)})
            continue
        key = (environment_id, work_id)
        if key in seen:
            continue
        seen.add(key)
        try:
            reason = _stop_if_live(client, *key)
        except HarnessError as error:
            outcome["failed"].append({"work_id": work_id, "reason": _shown(client.redact(str(error)), 300)})
            continue
        except Exception as error:  # a hostile answer must end in a reported outcome, never a crash
            reason = f"{type(error).__name__}: {_shown(client.redact(str(error)), 200)}"
        if reason in ("stopped", "already_stopped"):
            outcome[reason].append(work_id)
        else:
            outcome["failed"].append({"work_id": work_id, "reason": reason})
    return outcome


def _other_target(base_url: Any) -> str:
    return (
        f"recorded for another target ({public_url(base_url)}), not the configured QODER_BASE_URL: not contacted "
        "(the PAT is sent only to the configured target)"
    )


def _shown(value: Any, limit: int = SHOWN) -> str:
    """A value from the file or the target for a report line: control characters escaped, bounded."""
    text = evidence.printable(str(value), one_line=True)
    return text if len(text) <= limit else text[:limit] + "..."


def _stop_if_live(client: Any, environment_id: str, work_id: str) -> str:
    path = work_path(environment_id, work_id)
    try:
        current = client.request("GET", path, role=evidence.CLEANUP)
    except (TargetUnreachable, RateLimited):
        raise
    except HarnessError:  # an answer that cannot be read (too deep, too large): the item is ours, stop it anyway
        current = None
    if current is not None:
        if current.status_code == 404:
            return "already_stopped"  # gone counts as stopped: nothing is left running
        if current.status_code != 200:
            return f"GET answered {current.status_code}"
        if _state(current) == "stopped":
            return "already_stopped"
    answer = client.request(
        "POST",
        work_path(environment_id, work_id, "/stop"),
        role=evidence.CLEANUP,
        content=b'{"force": true}',
        headers={"Content-Type": "application/json"},
    )
    if answer.status_code == 200 and _state(answer) == "stopped":
        return "stopped"
    return f"force stop answered {answer.status_code} with state {_shown(repr(_state(answer)), 40)}"


def _state(response: Any) -> Any:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    state = body.get("state") if isinstance(body, dict) else None
    return state if isinstance(state, str) else None


def cleanup_from_ledger(
    path: Path, settings: Settings, *, run_id: str | None = None, all_runs: bool = False
) -> dict[str, Any]:
    """After a killed run: force-stop the live items of one run of the ledger (the latest unless `run_id` names one;
    every run with `all_runs`), on the configured target with the configured PAT.

    An entry recorded for another target is skipped, never sent the PAT; an entry of the embedded emulator is
    "discarded" (the emulator and its items ended with the run); a malformed line is reported under "skipped" with
    its line number. Raises HarnessError when `run_id` is not in the file.
    """
    from conformance.client import RateLimiter, SuiteClient
    from conformance.evidence import Redactor

    ledger = read_ledger(Path(path))
    runs = ledger.runs()
    if run_id is not None and run_id not in runs:
        raise HarnessError(f"run {_shown(run_id)} has no entry in {path} (runs there: {', '.join(runs) or 'none'})")
    chosen = None if all_runs else (run_id or (runs[-1] if runs else None))
    selected = [entry for entry in ledger.entries if chosen is None or entry["run"] == chosen]
    outcome: dict[str, Any] = {
        "run": "all" if all_runs else chosen,
        "stopped": [],
        "already_stopped": [],
        "failed": [],
        "skipped": [dict(problem) for problem in ledger.problems],
        "discarded": [],
        "other_runs": {run: sum(e["run"] == run for e in ledger.entries) for run in runs if chosen not in (None, run)},
    }
    live = []
    for entry in selected:
        if entry.get("embedded") is True:
            outcome["discarded"].append(entry["work_id"])
        elif not settings.base_url:
            outcome["skipped"].append({"work_id": entry["work_id"], "reason": "QODER_BASE_URL is not set"})
        elif not same_target(entry.get("base_url"), settings.base_url):
            outcome["skipped"].append({"work_id": entry["work_id"], "reason": _other_target(entry.get("base_url"))})
        elif not settings.pat:
            outcome["failed"].append({"work_id": entry["work_id"], "reason": "QODER_PAT is not set"})
        else:
            live.append(entry)
    if live:
        client = SuiteClient(
            settings, lambda exchange: None, Redactor(settings.secrets()), RateLimiter(settings.write_rate,
                                                                                       settings.read_rate)
        )  # fmt: skip
        result = cleanup(live, client)
        for key in ("stopped", "already_stopped", "failed", "skipped"):
            outcome[key] += result[key]
    return outcome
