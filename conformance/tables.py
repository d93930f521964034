"""The Stop page's tables as data: the transition table, the ways of sending each force value, the error table.

These mirror the page row by row (see conformance/spec/stop-work-item.txt, "State transitions" and "Errors"), so a
reviewer can hold them side by side. Test modules generate their cases from here; nothing here knows about HTTP
clients or fixtures.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STATES = ("queued", "starting", "active", "stopping", "stopped")
LIVE_STATES = ("queued", "starting", "active", "stopping")

# Sentinel for "the docs leave this open": the case records what happened and asserts nothing.
UNSPECIFIED = None


@dataclass(frozen=True)
class Transition:
    """One row of the stop transition table, expanded to a single current state."""

    force: bool
    current: str
    result: str | None  # the documented resulting state; UNSPECIFIED (None) where the table has no row
    requirement: str  # the requirement the row belongs to
    unchanged: bool = False  # "Returns the existing stopped item": the response equals the item as it was


# "force | Current state | Result", one entry per state the row covers.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(False, "queued", "stopped", "STOP-TR-QUEUED"),
    Transition(False, "starting", "stopping", "STOP-TR-LIVE-GRACEFUL"),
    Transition(False, "active", "stopping", "STOP-TR-LIVE-GRACEFUL"),
    Transition(False, "stopping", "stopped", "STOP-TR-STOPPING-CONFIRM"),
    Transition(False, "stopped", "stopped", "STOP-TR-STOPPED-IDEMPOTENT", unchanged=True),
    Transition(True, "queued", "stopped", "STOP-TR-FORCE"),
    Transition(True, "starting", "stopped", "STOP-TR-FORCE"),
    Transition(True, "active", "stopped", "STOP-TR-FORCE"),
    Transition(True, "stopping", "stopped", "STOP-TR-FORCE"),
    Transition(True, "stopped", UNSPECIFIED, "STOP-OPEN-FORCE-ON-STOPPED"),
)


def transition(force: bool, current: str) -> Transition:
    for row in TRANSITIONS:
        if row.force is force and row.current == current:
            return row
    raise LookupError(f"no transition row for force={force} current={current}")


@dataclass(frozen=True)
class BodyForm:
    """One way of sending a stop request, exactly as it goes on the wire."""

    name: str  # stable, used in case IDs
    force: bool  # which force value the page says this form means
    content: bytes | None  # None: no body at all
    headers: dict[str, str] = field(default_factory=dict)
    requirement: str = ""  # the requirement that says this form means `force`


# "force=false means an empty body, {}, or {"force": false}. force=true means {"force": true}."
BODY_FORMS: tuple[BodyForm, ...] = (
    BodyForm("no-body", False, None, {}, "STOP-BODY-OPTIONAL"),
    BodyForm("empty-body-json", False, b"", {"Content-Type": "application/json"}, "STOP-BODY-OPTIONAL"),
    BodyForm("empty-object", False, b"{}", {"Content-Type": "application/json"}, "STOP-BODY-GRACEFUL"),
    BodyForm("force-false", False, b'{"force": false}', {"Content-Type": "application/json"}, "STOP-BODY-GRACEFUL"),
    BodyForm("force-true", True, b'{"force": true}', {"Content-Type": "application/json"}, "STOP-BODY-FORCE"),
)

# Fields a stop never changes (the stop changes state, stop_requested_at and stopped_at only).
UNCHANGED_BY_STOP = (
    "id",
    "type",
    "environment_id",
    "data",
    "created_at",
    "acknowledged_at",
    "started_at",
    "metadata",
)
# Every field the docs define for a Work item (api-reference.md §3.1).
DOCUMENTED_FIELDS = (
    *UNCHANGED_BY_STOP,
    "state",
    "latest_heartbeat_at",
    "stop_requested_at",
    "stopped_at",
)
TIMESTAMP_FIELDS = (
    "created_at",
    "acknowledged_at",
    "started_at",
    "latest_heartbeat_at",
    "stop_requested_at",
    "stopped_at",
)


@dataclass(frozen=True)
class ErrorRow:
    """One row of the Stop page's error table."""

    status: int
    type: str
    trigger: str


ERRORS: dict[str, ErrorRow] = {
    "STOP-ERR-INVALID-JSON": ErrorRow(400, "invalid_request_error", "Request body is not valid JSON"),
    "STOP-ERR-NOT-SELF-HOSTED": ErrorRow(400, "invalid_request_error", "The Environment is not self_hosted"),
    "STOP-ERR-UNAUTHENTICATED": ErrorRow(401, "authentication_error", "PAT invalid or expired"),
    "STOP-ERR-X-API-KEY": ErrorRow(401, "authentication_error", "Requests using x-api-key return 401"),
    "STOP-ERR-EXPIRED-PAT": ErrorRow(401, "authentication_error", "PAT invalid or expired"),
    "STOP-ERR-FORBIDDEN": ErrorRow(403, "permission_error", "Not authorized for this operation"),
    "STOP-ERR-NOT-FOUND-ENV": ErrorRow(404, "not_found_error", "Environment or work item not found"),
    "STOP-ERR-NOT-FOUND-WORK": ErrorRow(404, "not_found_error", "Environment or work item not found"),
    "STOP-ERR-NOT-FOUND-CROSS-ENV": ErrorRow(404, "not_found_error", "Environment or work item not found"),
}

# Bodies that are not valid JSON (sent with Content-Type: application/json): "Request body is not valid JSON".
INVALID_JSON_BODIES: dict[str, bytes] = {
    "truncated-object": b'{"force": true',
    "bare-word": b"force",
    "trailing-comma": b'{"force": false,}',
    "single-quotes": b"{'force': false}",
    "invalid-utf8": b'{"force": "\xff\xfe"}',
    "missing-value": b'{"force": }',
    "unclosed-string": b'{"force": "tru}',
}


# How a request can be unauthenticated, the 401 row's "PAT invalid" on every page: name -> the headers it sends,
# given the configured PAT (a Secret; only the non-Bearer scheme reveals it, to present it the wrong way).
UNAUTHENTICATED: dict[str, Callable[[Any], dict[str, str]]] = {
    "no-authorization": lambda pat: {},
    "non-bearer-scheme": lambda pat: {"Authorization": f"Token {pat.reveal()}"},
    "unknown-token": lambda pat: {"Authorization": "Bearer pt-conformance-" + secrets.token_hex(12)},
    "empty-bearer": lambda pat: {"Authorization": "Bearer "},
}


def unknown_id(prefix: str) -> str:
    """An ID of the documented shape that no server has issued (random, so it cannot collide)."""
    return prefix + secrets.token_hex(16)
