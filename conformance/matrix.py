"""The transition matrix of ack, update metadata and the reads (get, list, stats) as data: endpoint x state.

One `Cell` per (endpoint, state) says what the docs make of that request on an item in that state: the state it
leaves the item in, or the error row it answers with, or UNSPECIFIED where the docs are silent, and the requirement
the cell rests on. conformance/test_matrix.py generates one case per cell (provision a fresh item in the state, send
the one request under test, read the item back). Stop's own table is tables.TRANSITIONS; heartbeat's cells belong
to the heartbeat cases.

Sources: the ack page ("moves it from queued to starting", "safe to retry for items already in starting or active",
"conflicts for stopping or stopped items" with its 409 row), the update-metadata page (merge patch, no state
restriction, no 409 row: every live state merges; stopped is open), the get, list and stats pages (reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.tables import DOCUMENTED_FIELDS, STATES, UNSPECIFIED, ErrorRow

ENDPOINTS = ("ack", "update_metadata", "get", "list", "stats")

# The ack page's 409 row: ack of a stopping or stopped item.
ACK_CONFLICT = ErrorRow(
    409,
    "invalid_request_error",
    "Work item was claimed by another worker, changed state concurrently, or is stopping/stopped",
)


@dataclass(frozen=True)
class Cell:
    """One request on one state: what the docs say it does, and the requirement that says so."""

    endpoint: str
    state: str  # the item's state before the request
    result: str | None  # the state the item is left in; UNSPECIFIED (None) where the docs are silent
    requirement: str  # the requirement the cell rests on (the cell's own verdict)
    error: ErrorRow | None = None  # the documented error answer, when the request is refused

    @property
    def name(self) -> str:
        return f"{self.endpoint}-{self.state}"


def _ack(state: str) -> Cell:
    if state == "queued":
        return Cell("ack", state, "starting", "ACK-TR-QUEUED")
    if state in ("starting", "active"):
        return Cell("ack", state, state, "ACK-RETRY-SAFE")
    return Cell("ack", state, state, "ACK-ERR-CONFLICT", error=ACK_CONFLICT)


def _update(state: str) -> Cell:
    # The page names no state restriction and no 409: every live state merges. Stopped items are not live; whether
    # they still take metadata is not said anywhere (recorded).
    if state == "stopped":
        return Cell("update_metadata", state, UNSPECIFIED, "UPDATE-OPEN-STOPPED")
    return Cell("update_metadata", state, state, "UPDATE-MERGE-UPSERT")


READ_REQUIREMENTS = {"get": "GET-RESP-ITEM", "list": "LIST-READ-ONLY", "stats": "STATS-READ-ONLY"}

MATRIX: tuple[Cell, ...] = (
    *(_ack(state) for state in STATES),
    *(_update(state) for state in STATES),
    *(Cell(endpoint, state, state, needs) for endpoint, needs in READ_REQUIREMENTS.items() for state in STATES),
)


def cells(endpoint: str) -> tuple[Cell, ...]:
    return tuple(cell for cell in MATRIX if cell.endpoint == endpoint)


# What each operation may change; every other documented field must read back as it was.
CHANGED_BY_ACK = ("state", "acknowledged_at")
CHANGED_BY_UPDATE = ("metadata",)
UNCHANGED_BY_ACK = tuple(name for name in DOCUMENTED_FIELDS if name not in CHANGED_BY_ACK)
UNCHANGED_BY_UPDATE = tuple(name for name in DOCUMENTED_FIELDS if name not in CHANGED_BY_UPDATE)

# The metadata patch every update cell sends: one key added, one changed, one deleted (null), one left alone; the
# run's own keys (provisioners.case_metadata) are left alone too.
METADATA_BEFORE = {"matrix_keep": "k0", "matrix_change": "c0", "matrix_drop": "d0"}
METADATA_PATCH: dict[str, str | None] = {"matrix_add": "a1", "matrix_change": "c1", "matrix_drop": None}
UPSERTED = {"matrix_add": "a1", "matrix_change": "c1"}
DELETED = ("matrix_drop",)
ABSENT_KEY = "matrix_never_set"  # deleted with null although the item never had it
