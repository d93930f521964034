"""The work item state machine: pure functions from (item, inputs, now) to a new item or a domain error.

Nothing here does I/O, reads a clock or knows about HTTP, so every rule of api-reference §4 can be unit-tested
as a table; the Stop table itself is data (stop_matrix), so a deliberate fault (faults.py) replaces one cell
instead of copying the operation. Choices the docs leave open arrive as explicit keyword arguments (see dialects.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

QUEUED = "queued"
STARTING = "starting"
ACTIVE = "active"
STOPPING = "stopping"
STOPPED = "stopped"
STATES = (QUEUED, STARTING, ACTIVE, STOPPING, STOPPED)
LIVE_STATES = (QUEUED, STARTING, ACTIVE, STOPPING)

NO_HEARTBEAT = "NO_HEARTBEAT"
MIN_TTL_SECONDS = 10
MAX_TTL_SECONDS = 600
# Undocumented: the TTL applied when desired_ttl_seconds is omitted (the docs' heartbeat example shows 60).
DEFAULT_TTL_SECONDS = 60

# The graceful-stop row of the Stop page's table: current state -> resulting state.
GRACEFUL_STOP = MappingProxyType(
    {QUEUED: STOPPED, STARTING: STOPPING, ACTIVE: STOPPING, STOPPING: STOPPED, STOPPED: STOPPED}
)


class DomainError(Exception):
    """A request that is well-formed but not allowed in the item's current state."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Conflict(DomainError):
    """The operation conflicts with the item's state or owner (the work pages map this to 409)."""


class PreconditionFailed(DomainError):
    """expected_last_heartbeat does not match the current lease (the heartbeat page maps this to 412)."""


def _frozen(metadata: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True)
class WorkItem:
    """One work item as the server knows it. Immutable: every operation returns a new one."""

    id: str
    environment_id: str
    session_id: str
    state: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    started_at: datetime | None = None
    latest_heartbeat_at: datetime | None = None
    stop_requested_at: datetime | None = None
    stopped_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ttl_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}")
        if not isinstance(self.metadata, MappingProxyType):
            object.__setattr__(self, "metadata", _frozen(self.metadata))

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class HeartbeatOutcome:
    """What the heartbeat endpoint reports besides the stored item."""

    last_heartbeat: datetime
    lease_extended: bool
    state: str
    ttl_seconds: int


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with `Z`; fractional seconds only when there are some.

    The same function renders every response and the heartbeat echo comparison, so an exact echo always matches.
    """
    moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def clamp_ttl(
    desired_ttl_seconds: int | None,
    *,
    default: int = DEFAULT_TTL_SECONDS,
    bounds: tuple[int, int] = (MIN_TTL_SECONDS, MAX_TTL_SECONDS),
) -> int:
    """The heartbeat page: "accepted values are clamped to the supported range of 10 to 600 seconds"."""
    if desired_ttl_seconds is None:
        return default
    low, high = bounds
    return max(low, min(high, desired_ttl_seconds))


# ---------------------------------------------------------------------------------------------------- operations


def get(item: WorkItem) -> WorkItem:
    """Reading never changes anything; kept as an operation so the table of operations is complete."""
    return item


@dataclass(frozen=True)
class AckOutcome:
    """One cell of the ack page's rule: what an ack does to an item in one state.

    Data rather than branches (like StopOutcome), so that a fault (faults.py) is one replaced cell.
    """

    state: str | None  # the resulting state; None: the state is kept ("safe to retry")
    acknowledged_at: str = "keep"  # "keep" | "now"
    clear: tuple[str, ...] = ()  # fields set back to empty: null, {} for metadata (no conforming cell clears any)
    conflict: bool = False  # refused with Conflict (409) instead

    def apply(self, item: WorkItem, now: datetime) -> WorkItem:
        if self.conflict:
            raise Conflict(f"Work item is {item.state} and cannot be acknowledged")
        changes: dict[str, object] = {name: {} if name == "metadata" else None for name in self.clear}
        if self.state is not None:
            changes["state"] = self.state
        if self.acknowledged_at == "now":
            changes["acknowledged_at"] = now
        return replace(item, **changes) if changes else item  # type: ignore[arg-type]


def ack_matrix(*, retry_acknowledged_at: str = "keep") -> dict[str, AckOutcome]:
    """The ack page's rule, every state: queued -> starting (acknowledged_at = now); "safe to retry" on starting
    and active; "conflicts for stopping or stopped items".

    retry_acknowledged_at (the open choice of a retried ack, api-reference §12 item 19): "keep" | "rewrite".
    """
    retry = AckOutcome(None, acknowledged_at="now" if retry_acknowledged_at == "rewrite" else "keep")
    refused = AckOutcome(None, conflict=True)
    queued = AckOutcome(STARTING, acknowledged_at="now")
    return {QUEUED: queued, STARTING: retry, ACTIVE: retry, STOPPING: refused, STOPPED: refused}


def ack(
    item: WorkItem,
    *,
    now: datetime,
    worker_id: str | None = None,
    delivered_to: str | None = None,
    retry_acknowledged_at: str = "keep",
    cells: Mapping[str, AckOutcome] = MappingProxyType({}),
) -> WorkItem:
    """The ack page's rule (ack_matrix), with `cells` replacing some of its cells (faults only).

    The Worker-ID rule applies only when both the delivering poll and this ack carried one (poll page).
    """
    outcome = cells.get(item.state) or ack_matrix(retry_acknowledged_at=retry_acknowledged_at)[item.state]
    if outcome.conflict:
        return outcome.apply(item, now)
    if worker_id is not None and delivered_to is not None and worker_id != delivered_to:
        raise Conflict("Work item was claimed by another worker")
    return outcome.apply(item, now)


@dataclass(frozen=True)
class HeartbeatCell:
    """What an accepted heartbeat does to an item in one state (one row of heartbeat_matrix).

    Data rather than branches, so that a fault (faults.py) is one replaced cell, not a second copy of heartbeat().
    """

    conflict: bool = False  # refused with Conflict (409): "queued or stopped and cannot be heartbeated"
    state: str | None = None  # the resulting state; None: unchanged
    stamp_started_at: bool = False  # started_at = now ("Time when the first heartbeat moved the item to active")
    beat: bool = True  # latest_heartbeat_at = now
    extend: bool = True  # the lease is renewed with the requested TTL (lease_extended true)


HEARTBEAT_CONFLICT = HeartbeatCell(conflict=True)


def heartbeat_matrix(*, on_stopping: str = "accept") -> dict[str, HeartbeatCell]:
    """The heartbeat page's rules, every state: 409 on queued and stopped, the first heartbeat moves starting to
    active and stamps started_at, later ones renew the lease. on_stopping (undocumented, §12.18): "accept" (the
    beat is recorded, the lease not renewed, state stays stopping) | "conflict" (409)."""
    return {
        QUEUED: HEARTBEAT_CONFLICT,
        STARTING: HeartbeatCell(state=ACTIVE, stamp_started_at=True),
        ACTIVE: HeartbeatCell(),
        STOPPING: HEARTBEAT_CONFLICT if on_stopping == "conflict" else HeartbeatCell(extend=False),
        STOPPED: HEARTBEAT_CONFLICT,
    }


# expected_last_heartbeat against the item's lease -> whether the heartbeat may go on (False: 412).
OMITTED = "omitted"  # "Omit for an unconditional update"
UNCLAIMED = "no-heartbeat-unclaimed"  # NO_HEARTBEAT, and the item has no heartbeat yet
CLAIMED = "no-heartbeat-claimed"  # NO_HEARTBEAT, but a heartbeat exists: another worker holds the lease
MATCH = "echo"  # the last heartbeat timestamp, as the server wrote it
MISMATCH = "mismatch"  # any other timestamp: "does not match the current lease owner"
LEASE_CHECKS: Mapping[str, bool] = MappingProxyType(
    {OMITTED: True, UNCLAIMED: True, CLAIMED: False, MATCH: True, MISMATCH: False}
)
TtlRange = tuple[int, int]


def lease_case(
    item: WorkItem, expected: str | None, *, render: Callable[[datetime], str], compare: str = "exact"
) -> str:
    """Which LEASE_CHECKS case `expected` is for `item`. compare (undocumented): "exact" (the echo is the string
    the server wrote, as `render` writes it) | "instant" (any RFC 3339 rendering of the same instant)."""
    if expected is None:
        return OMITTED
    if expected == NO_HEARTBEAT:
        return UNCLAIMED if item.latest_heartbeat_at is None else CLAIMED
    if item.latest_heartbeat_at is None:
        return MISMATCH
    if compare == "instant":
        return MATCH if _instant(expected) == item.latest_heartbeat_at else MISMATCH
    return MATCH if render(item.latest_heartbeat_at) == expected else MISMATCH


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def heartbeat(
    item: WorkItem,
    *,
    now: datetime,
    expected_last_heartbeat: str | None = None,
    desired_ttl_seconds: int | None = None,
    on_stopping: str = "accept",
    default_ttl: int = DEFAULT_TTL_SECONDS,
    compare: str = "exact",
    render: Callable[[datetime], str] = format_timestamp,
    cells: Mapping[str, HeartbeatCell] = MappingProxyType({}),
    lease_checks: Mapping[str, bool] = LEASE_CHECKS,
    ttl_range: TtlRange = (MIN_TTL_SECONDS, MAX_TTL_SECONDS),
) -> tuple[WorkItem, HeartbeatOutcome]:
    """Extend the lease; the first heartbeat moves starting -> active (heartbeat_matrix, with `cells` replacing
    some of its cells, `lease_checks` some lease cases and `ttl_range` the clamp: faults only).

    The state is checked before the lease: a queued or stopped item is 409 whatever expected_last_heartbeat says.
    """
    cell = cells.get(item.state) or heartbeat_matrix(on_stopping=on_stopping)[item.state]
    if cell.conflict:
        raise Conflict(f"Work item is {item.state} and cannot be heartbeated")
    if not lease_checks[lease_case(item, expected_last_heartbeat, render=render, compare=compare)]:
        raise PreconditionFailed("expected_last_heartbeat does not match the current lease owner")
    ttl = clamp_ttl(desired_ttl_seconds, default=default_ttl, bounds=ttl_range)
    if not cell.extend:  # the beat is recorded but the lease is not renewed
        ttl = item.ttl_seconds if item.ttl_seconds is not None else ttl
    new = replace(
        item,
        state=cell.state or item.state,
        started_at=now if cell.stamp_started_at else item.started_at,
        latest_heartbeat_at=now if cell.beat else item.latest_heartbeat_at,
        ttl_seconds=ttl,
    )
    return new, HeartbeatOutcome(now, cell.extend, new.state, ttl)


@dataclass(frozen=True)
class StopOutcome:
    """One cell of the Stop page's table: what a stop does to an item in one state, graceful or forced.

    Data rather than branches, so that a fault (faults.py) is one replaced cell, not a second copy of stop().
    """

    state: str | None  # the resulting state; None: the item is answered unchanged
    stamp_stopped_at: bool = False  # stopped_at = now
    requested: str = "keep"  # stop_requested_at: "keep" | "now" | "if-unset" (now unless already set) | "clear"
    conflict: bool = False  # refused with Conflict (409) instead

    def apply(self, item: WorkItem, now: datetime) -> WorkItem:
        if self.conflict:
            raise Conflict("Work item is already stopped")
        if self.state is None:
            return item  # "Returns the existing stopped item"
        requested = {
            "keep": item.stop_requested_at,
            "now": now,
            "if-unset": item.stop_requested_at or now,
            "clear": None,
        }[self.requested]
        stopped_at = now if self.stamp_stopped_at else item.stopped_at
        return replace(item, state=self.state, stopped_at=stopped_at, stop_requested_at=requested)


UNCHANGED = StopOutcome(None)
CONFLICT = StopOutcome(None, conflict=True)
StopCell = tuple[str, bool]  # (current state, force)


def stop_matrix(
    *, force_on_stopped: str = "return", stop_requested_at: str = "graceful-only"
) -> dict[StopCell, StopOutcome]:
    """The Stop page's transition table, every (state, force) cell, under the dialect's two open choices.

    force_on_stopped: "return" (200, item unchanged) | "conflict" (Conflict).
    stop_requested_at: "graceful-only" (set whenever a graceful stop is requested, including queued -> stopped;
    force leaves it) | "never-direct" (set only on the move to stopping) | "always" (also set by force, if unset).
    """
    direct = "keep" if stop_requested_at == "never-direct" else "if-unset"
    forced = "if-unset" if stop_requested_at == "always" else "keep"
    matrix: dict[StopCell, StopOutcome] = {}
    for state in LIVE_STATES:
        matrix[(state, True)] = StopOutcome(STOPPED, stamp_stopped_at=True, requested=forced)
        if GRACEFUL_STOP[state] == STOPPING:
            matrix[(state, False)] = StopOutcome(STOPPING, requested="now")
        else:  # into stopped: either the queued short-cut or the worker's confirmation of a drain
            matrix[(state, False)] = StopOutcome(STOPPED, stamp_stopped_at=True, requested=direct)
    matrix[(STOPPED, False)] = UNCHANGED
    matrix[(STOPPED, True)] = CONFLICT if force_on_stopped == "conflict" else UNCHANGED
    return matrix


def stop(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
    cells: Mapping[StopCell, StopOutcome] = MappingProxyType({}),
) -> WorkItem:
    """The Stop page's transition table (stop_matrix), with `cells` replacing some of its cells (faults only)."""
    cell = (item.state, force)
    outcome = (
        cells.get(cell) or stop_matrix(force_on_stopped=force_on_stopped, stop_requested_at=stop_requested_at)[cell]
    )
    return outcome.apply(item, now)


@dataclass(frozen=True)
class MetadataMerge:
    """How update metadata applies its patch, one field per clause of the page's sentence ("String values upsert
    keys; null deletes keys. Omit to return the current item unchanged"), so a fault replaces one clause."""

    string: str = "upsert"  # "upsert" | "insert-only" (an existing key keeps its value)
    null: str = "delete"  # "delete" | "ignore"
    unnamed: str = "keep"  # keys the patch does not name: "keep" | "drop" (the patch replaces the map)
    omitted: str = "unchanged"  # no metadata in the body: "unchanged" | "clear"


MERGE_PATCH = MetadataMerge()


def update_metadata(
    item: WorkItem,
    patch: Mapping[str, str | None] | None,
    *,
    merge: MetadataMerge = MERGE_PATCH,
    on_stopped: str = "merge",
) -> WorkItem:
    """Merge patch: string values upsert keys, None deletes them, an omitted patch changes nothing.

    on_stopped (the docs name no state restriction; a stopped item is not live): "merge" | "conflict".
    """
    if item.state == STOPPED and on_stopped == "conflict":
        raise Conflict("Work item is stopped and its metadata can no longer be updated")
    if patch is None:
        return item if merge.omitted == "unchanged" else replace(item, metadata={})
    merged = dict(item.metadata) if merge.unnamed == "keep" else {}
    for key, value in patch.items():
        if value is None:
            if merge.null == "delete":
                merged.pop(key, None)
            elif key in item.metadata:
                merged[key] = item.metadata[key]
        elif isinstance(value, str):
            if merge.string == "upsert" or key not in item.metadata:
                merged[key] = value
            else:
                merged[key] = item.metadata[key]
        else:
            raise TypeError(f"metadata value for {key!r} is neither string nor null")
    return replace(item, metadata=merged)


# ---------------------------------------------------------------------------------------------------- builders


def build_item(
    state: str,
    *,
    work_id: str,
    environment_id: str,
    session_id: str,
    now: datetime,
    metadata: Mapping[str, str] | None = None,
    step: timedelta = timedelta(seconds=1),
) -> WorkItem:
    """An item already in `state`, with the timestamps a real history would have left.

    Deliberately built field by field rather than by replaying ack/heartbeat/stop: provisioning must keep working
    when one of those operations is swapped for a faulty variant.
    """
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    history = {QUEUED: 0, STARTING: 1, ACTIVE: 2, STOPPING: 3, STOPPED: 3}[state]
    created = now - step * history
    fields: dict[str, object] = {}
    if history >= 1:
        fields["acknowledged_at"] = created + step
    if history >= 2:
        fields["started_at"] = created + 2 * step
        fields["latest_heartbeat_at"] = created + 2 * step
        fields["ttl_seconds"] = DEFAULT_TTL_SECONDS
    if state == STOPPING:
        fields["stop_requested_at"] = now
    if state == STOPPED:  # as the lifecycle provisioner makes it: active, then force-stopped
        fields["stopped_at"] = now
    return WorkItem(
        id=work_id,
        environment_id=environment_id,
        session_id=session_id,
        state=state,
        created_at=created,
        metadata=dict(metadata or {}),
        **fields,  # type: ignore[arg-type]
    )


def to_json(item: WorkItem, *, timestamp: Callable[[datetime], str] = format_timestamp) -> dict[str, object]:
    """The Work item object, fields in the docs' order; `timestamp` writes each time (a fault may change it)."""

    def ts(moment: datetime | None) -> str | None:
        return None if moment is None else timestamp(moment)

    return {
        "id": item.id,
        "type": "work",
        "environment_id": item.environment_id,
        "data": {"type": "session", "id": item.session_id},
        "state": item.state,
        "created_at": ts(item.created_at),
        "acknowledged_at": ts(item.acknowledged_at),
        "started_at": ts(item.started_at),
        "latest_heartbeat_at": ts(item.latest_heartbeat_at),
        "stop_requested_at": ts(item.stop_requested_at),
        "stopped_at": ts(item.stopped_at),
        "metadata": dict(item.metadata),
    }


def heartbeat_to_json(
    outcome: HeartbeatOutcome, *, timestamp: Callable[[datetime], str] = format_timestamp
) -> dict[str, object]:
    """The Work heartbeat object; `timestamp` writes last_heartbeat (the same writer as the items', see to_json)."""
    return {
        "type": "work_heartbeat",
        "last_heartbeat": timestamp(outcome.last_heartbeat),
        "lease_extended": outcome.lease_extended,
        "state": outcome.state,
        "ttl_seconds": outcome.ttl_seconds,
    }
