"""The heartbeat page's rules as data: state x form of expected_last_heartbeat -> outcome, and the TTL clamp.

Send work heartbeat (docs.qoder.com/cloud-agents/api/environments/work/heartbeat) answers a starting or active item
with a Work heartbeat object, refuses queued and stopped items (409) and an expected_last_heartbeat that is not the
current lease's (412), and says nothing about stopping. Each cell below is one generated case of
conformance/test_heartbeat.py, next to the requirement it rests on, so a reviewer can hold the table against the
page. Nothing here knows about HTTP clients or fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.tables import UNSPECIFIED, ErrorRow

NO_HEARTBEAT = "NO_HEARTBEAT"

# The forms of expected_last_heartbeat a case can send; what each means for the item it is sent about.
OMITTED = "omitted"  # no expected_last_heartbeat at all: "Omit for an unconditional update"
NO_HEARTBEAT_FORM = "no-heartbeat"  # the literal NO_HEARTBEAT
ECHO = "echo"  # the item's last heartbeat timestamp, exactly as the server wrote it
STALE = "stale"  # a last heartbeat timestamp the server wrote, superseded by a later heartbeat
OTHER = "other"  # a well-formed RFC 3339 time that was never this item's heartbeat
REWRITTEN = "rewritten"  # the item's last heartbeat instant, written another way (Z <-> +00:00)
FORMS = (OMITTED, NO_HEARTBEAT_FORM, ECHO, STALE, OTHER, REWRITTEN)
# OTHER's value: RFC 3339, in UTC, long before any item of a run existed.
OTHER_TIMESTAMP = "2001-02-03T04:05:06Z"

# The heartbeat page's error rows a state or lease decides (the input rows belong to the error tables).
CONFLICT = ErrorRow(409, "invalid_request_error", "Work item is queued or stopped and cannot be heartbeated")
PRECONDITION = ErrorRow(
    412, "precondition_failed_error", "expected_last_heartbeat does not match the current lease owner"
)
ERROR_ROWS = {
    "HEARTBEAT-ERR-CONFLICT": CONFLICT,
    "HEARTBEAT-ERR-PRECONDITION": PRECONDITION,
    "HEARTBEAT-NO-HEARTBEAT-TAKEN": PRECONDITION,
}

# The requirement a 200's state rests on, by the state the item was in.
ACCEPTED_STATE = {"starting": "HEARTBEAT-TR-FIRST", "active": "HEARTBEAT-TR-ACTIVE"}


@dataclass(frozen=True)
class Cell:
    """One heartbeat: an item in `state`, expected_last_heartbeat in `form`; what the docs say comes back."""

    state: str
    form: str
    status: int | None  # 200, 409 or 412; UNSPECIFIED (None): recorded, not asserted
    requirement: str  # the requirement the cell's outcome rests on

    @property
    def name(self) -> str:
        return f"{self.state}-{self.form}"

    @property
    def accepted(self) -> bool:
        return self.status == 200


# Every cell a case is generated for. Omitted: queued/stopped with a form that would also fail the precondition
# (which of 409 and 412 wins is not documented), and forms that need a heartbeat the item cannot have.
CELLS: tuple[Cell, ...] = (
    Cell("queued", OMITTED, 409, "HEARTBEAT-ERR-CONFLICT"),
    Cell("queued", NO_HEARTBEAT_FORM, 409, "HEARTBEAT-ERR-CONFLICT"),
    Cell("starting", OMITTED, 200, "HEARTBEAT-UNCONDITIONAL"),
    Cell("starting", NO_HEARTBEAT_FORM, 200, "HEARTBEAT-NO-HEARTBEAT"),
    Cell("starting", OTHER, 412, "HEARTBEAT-ERR-PRECONDITION"),
    Cell("active", OMITTED, 200, "HEARTBEAT-UNCONDITIONAL"),
    Cell("active", ECHO, 200, "HEARTBEAT-ECHO"),
    Cell("active", STALE, 412, "HEARTBEAT-ERR-PRECONDITION"),
    Cell("active", OTHER, 412, "HEARTBEAT-ERR-PRECONDITION"),
    Cell("active", NO_HEARTBEAT_FORM, 412, "HEARTBEAT-NO-HEARTBEAT-TAKEN"),
    Cell("active", REWRITTEN, UNSPECIFIED, "HEARTBEAT-OPEN-ECHO-FORM"),
    Cell("stopping", OMITTED, UNSPECIFIED, "HEARTBEAT-OPEN-STOPPING"),
    Cell("stopping", ECHO, UNSPECIFIED, "HEARTBEAT-OPEN-STOPPING"),
    Cell("stopped", OMITTED, 409, "HEARTBEAT-ERR-CONFLICT"),
    Cell("stopped", ECHO, 409, "HEARTBEAT-ERR-CONFLICT"),
)


@dataclass(frozen=True)
class TtlCase:
    """desired_ttl_seconds as sent (None: omitted) -> the ttl_seconds the answer must carry."""

    desired: int | None
    effective: int | None  # UNSPECIFIED (None): recorded
    requirement: str

    @property
    def name(self) -> str:
        return "omitted" if self.desired is None else str(self.desired)


MIN_TTL_SECONDS, MAX_TTL_SECONDS = 10, 600  # "clamped to the supported range of 10 to 600 seconds"


def clamped(desired: int) -> int:
    return max(MIN_TTL_SECONDS, min(MAX_TTL_SECONDS, desired))


# The edges of the range, one inside, and far outside; omitted: the page names no default.
TTL_CASES: tuple[TtlCase, ...] = (
    *(TtlCase(desired, clamped(desired), "HEARTBEAT-TTL-CLAMP") for desired in (1, 9, 10, 60, 600, 601, 10000)),
    TtlCase(None, UNSPECIFIED, "HEARTBEAT-OPEN-DEFAULT-TTL"),
)


def rewritten(timestamp: str) -> str | None:
    """The same instant written with the other UTC designator (`Z` <-> `+00:00`), or None when it has neither."""
    if timestamp.endswith(("Z", "z")):
        return timestamp[:-1] + "+00:00"
    if timestamp.endswith("+00:00"):
        return timestamp[: -len("+00:00")] + "Z"
    return None
