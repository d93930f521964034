"""Plausible wrong implementations, each registered as a named fault (see faults.py).

Every function here is what a developer could really have written at that seam: it must look like an honest
implementation with one mistake, so that a conformance suite run against it fails for the right reason.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from datetime import datetime

from qoder_emulator import machine
from qoder_emulator.faults import fault
from qoder_emulator.machine import ACTIVE, QUEUED, STARTING, STOPPED, STOPPING, WorkItem


@fault("graceful-active-stops", "force=false on starting/active goes straight to stopped", seam="machine.stop")
def stop_without_drain(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Reads "stop" as "make it stopped" and forgets the drain phase of a graceful stop."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if item.state in (QUEUED, STARTING, ACTIVE, STOPPING):
        return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=item.stop_requested_at or now)
    raise AssertionError(item.state)


@fault("stop-not-persisted", "stop answers the new state but does not store it", seam="store.commit_stop")
def commit_stop_forgotten(items: MutableMapping[str, WorkItem], new_item: WorkItem) -> None:
    """Builds the response from the new item but never writes it back (a missing save() call)."""
    return None


@fault("force-false-as-force", '{"force": false} is treated as a force stop', seam="app.stop_force")
def force_if_key_present(body: Mapping[str, object], dialect: object) -> bool:
    """Checks whether the key is present instead of reading its value."""
    return "force" in body


@fault("x-api-key-accepted", "a PAT in x-api-key is accepted like a Bearer token", seam="app.bearer_token")
def bearer_or_api_key(headers: Mapping[str, str]) -> str | None:
    """Copied from an SDK for the sibling API, where x-api-key is a valid credential."""
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@fault(
    "cross-environment-lookup",
    "an item is found through any environment's path (no environment check)",
    seam="store.find_item",
)
def find_item_by_id_only(items: Mapping[str, WorkItem], environment_id: str, work_id: str) -> WorkItem | None:
    """Work IDs are globally unique, so the environment in the path "need not" be checked."""
    return items.get(work_id)
