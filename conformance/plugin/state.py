"""What a suite-mode run keeps: the run's state (one per process) and each case's, as plain data.

Plain dataclasses, apart from the hooks that fill them (session.py), so self-tests can build a run state directly.
Also the two helpers every part of the plugin uses on text and data that leave the process: `shown` (terminal) and
`redacted` (reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from conformance import checks, evidence
from conformance.client import RateLimiter
from conformance.config import Settings
from conformance.ledger import Ledger

# What end-of-run cleanup did with each item of the ledger. "discarded": the item lived in this process's embedded
# emulator, which ends with the run and takes its items with it, so there was nothing to stop.
CLEANUP_OUTCOMES = ("stopped", "already_stopped", "failed", "discarded")


@dataclass
class CaseState:
    """What the plugin keeps for one case while it runs."""

    nodeid: str
    requirements: list[str]
    checker: checks.Checker
    exchanges: list[evidence.Exchange] = field(default_factory=list)
    verdict: str | None = None
    message: str = ""
    duration_s: float = 0.0

    def record(self, exchange: evidence.Exchange) -> None:
        self.exchanges.append(exchange)  # list.append is atomic: safe from the concurrency cases' threads


@dataclass
class RunState:
    """Per-process state of a suite-mode run."""

    settings: Settings
    controller: bool  # the process that owns the terminal and the reports (xdist controller or sole process)
    runs_cases: bool  # not the xdist controller
    started_at: str
    emulator_config: dict[str, Any] | None = None
    emulator: Any = None
    redactor: evidence.Redactor | None = None
    limiter: RateLimiter | None = None
    ledger: Ledger | None = None
    list_cursors: dict[str, str] = field(default_factory=dict)  # the lifecycle provisioner's, per environment
    seen_work_ids: set[str] = field(default_factory=set)  # work IDs the provisioners accepted in this run
    cleaned: set[tuple[str, str]] = field(default_factory=set)  # (environment, work) already cleaned up
    preflight: dict[str, Any] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    cleanup: dict[str, Any] = field(default_factory=lambda: {outcome: [] for outcome in CLEANUP_OUTCOMES})
    report_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # harness failures of the session, recorded in summary.json
    verbosity: int = 0  # pytest's -v count: below 1 the terminal shows mismatch lines, not exchanges
    stop_reason: str = ""  # why the run was stopped early (preflight, embedded emulator), for the reports
    vetted: Any = None  # reporting.cases.Vetted: the judged run every report and the terminal footer render


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def embedded_secrets(emulator_config: Mapping[str, Any]) -> dict[str, str]:
    """The token variables the embedded emulator will print, known before it starts (we chose its tokens)."""
    primary, other = emulator_config["principal"][0], emulator_config["principal"][1]
    return {
        "QODER_PAT": primary["tokens"][0],
        "QODER_EXPIRED_PAT": primary["expired_tokens"][0],
        "QODER_FORBIDDEN_PAT": other["tokens"][0],
    }


def run_secrets(state: RunState) -> dict[str, str]:
    secrets = dict(state.settings.secrets())
    if state.emulator_config is not None:
        secrets.update(embedded_secrets(state.emulator_config))
    return secrets


def shown(state: RunState, text: str) -> str:
    """Text (of target or hook origin, or an exception's) as it may reach the terminal: redacted and with control
    bytes escaped. Every terminal line of the plugin goes through here."""
    if state.redactor is None:
        return evidence.printable(text)
    return state.redactor.for_terminal(text)


def redacted(state: RunState, data: Any) -> Any:
    return data if state.redactor is None else state.redactor.value(data)
