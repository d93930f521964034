"""Cleanup of the run's own items (those in the ledger): after each case, and what is left at the end of the run.

Only items this run created are touched (the ledger's entries); an embedded emulator's items end with it.
"""

from __future__ import annotations

from typing import Any

from conformance.client import SuiteClient
from conformance.ledger import cleanup
from conformance.plugin.state import RunState


def clean_up(state: RunState, entries: list[dict[str, Any]], *, final: bool) -> None:
    """Force-stop the live items among `entries` (the suite's own). An item that cannot be cleaned after its case
    is tried again at the end of the run, and only that last attempt reports it as failed."""
    assert state.redactor is not None
    client = SuiteClient(state.settings, lambda exchange: None, state.redactor, state.limiter)
    outcome = cleanup(entries, client)
    failed = {failure["work_id"] for failure in outcome["failed"]}
    state.cleaned.update((e["environment_id"], e["work_id"]) for e in entries if e["work_id"] not in failed)
    for key in ("stopped", "already_stopped") + (("failed",) if final else ()):
        state.cleanup[key] += outcome[key]


def clean_up_what_is_left(state: RunState) -> None:
    if state.ledger is None or not state.ledger.entries or state.redactor is None:
        return
    if state.settings.embedded:
        state.cleanup["discarded"] += [entry["work_id"] for entry in state.ledger.entries]
        return
    left = [e for e in state.ledger.entries if (e["environment_id"], e["work_id"]) not in state.cleaned]
    if left:
        clean_up(state, left, final=True)
