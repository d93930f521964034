"""The documented model of one work item under every operation the suite generates: pure functions, no HTTP.

Stop outcomes come from `tables.transition` (the Stop page's table, never retyped here); ack and heartbeat outcomes
are the rules of api-reference.md §4.2 ("ack: queued -> starting, safe to retry on starting/active, conflicts for
stopping or stopped"; "heartbeat: the first successful heartbeat moves starting to active; queued or stopped cannot
be heartbeated"); update metadata is a merge patch that leaves the state alone (the update-metadata page names no
state restriction; a stopped item's update is open). Each outcome names the requirement it rests on. Where the docs
are silent the model says so (`Outcome.unspecified`, `generable() is False`) instead of guessing, so a generator
never produces such a step and a checker never judges one.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance import tables

GRACEFUL = "graceful"  # a stop with force=false, whatever body form carried it
FORCE = "force"  # a stop with {"force": true}
ACK = "ack"
HEARTBEAT = "heartbeat"
GET = "get"
UPDATE = "update_metadata"
STOPS = (GRACEFUL, FORCE)
OPERATIONS = (GRACEFUL, FORCE, ACK, HEARTBEAT, GET, UPDATE)

# The requirement a 200 answer's status rests on, per operation (heartbeat's depends on its precondition form).
OK_REQUIREMENT = {
    GRACEFUL: "STOP-RESP-OK",
    FORCE: "STOP-RESP-OK",
    ACK: "ACK-RESP-OK",
    GET: "GET-RESP-OK",
    UPDATE: "UPDATE-RESP-OK",
}
# Heartbeat's expected_last_heartbeat forms a generator sends, each one the current lease's (never a 412), and the
# requirement that says the heartbeat page accepts it.
NO_HEARTBEAT = "NO_HEARTBEAT"
HEARTBEAT_FORMS = {
    "no-heartbeat": "HEARTBEAT-NO-HEARTBEAT",  # NO_HEARTBEAT on an item with no heartbeat yet
    "echo": "HEARTBEAT-ECHO",  # the last heartbeat's last_heartbeat exactly as answered
    "unconditional": "HEARTBEAT-UNCONDITIONAL",  # expected_last_heartbeat omitted
}

CONFLICT = 409  # ack and heartbeat pages: "409 invalid_request_error"

# api-reference.md §4.2, ack row: queued -> starting; starting/active "(=) success, safe to retry"; else 409.
_ACK = {"queued": "starting", "starting": "starting", "active": "active", "stopping": None, "stopped": None}
# §4.2, heartbeat row: starting -> active; active stays active; queued/stopped 409. `stopping` is absent on purpose:
# the docs only allow it "by omission" and never say what it answers.
_HEARTBEAT = {"queued": None, "starting": "active", "active": "active", "stopped": None}
# The requirement each ack / heartbeat outcome rests on, by the state the item was in.
_ACK_REQUIREMENT = {
    "queued": "ACK-TR-QUEUED",
    "starting": "ACK-RETRY-SAFE",
    "active": "ACK-RETRY-SAFE",
    "stopping": "ACK-ERR-CONFLICT",
    "stopped": "ACK-ERR-CONFLICT",
}
_HEARTBEAT_REQUIREMENT = {
    "queued": "HEARTBEAT-ERR-CONFLICT",
    "starting": "HEARTBEAT-TR-FIRST",
    "active": "HEARTBEAT-TR-ACTIVE",
    "stopped": "HEARTBEAT-ERR-CONFLICT",
}


@dataclass(frozen=True)
class Outcome:
    """What the docs say one operation on an item in `before` answers, and the state it leaves behind.

    `status` is the documented status; `state` the `state` field of a 200 answer (None for an error answer);
    `after` the item's state once the operation took effect. `unspecified` marks a step the docs leave open: any
    200 answer showing `state` or any 4xx is allowed, and the item stays in `after`.
    """

    operation: str
    before: str
    status: int
    state: str | None
    after: str
    requirement: str  # the requirement the outcome (the answered state, or the refusal) rests on
    unchanged: bool = False  # "Returns the existing stopped item"
    unspecified: bool = False

    def allows(self, status: int | None, state: object) -> bool:
        """Whether an answer (status, returned `state` field) is one the docs allow for this step."""
        if self.unspecified:
            return (status == 200 and state == self.state) or (status is not None and 400 <= status < 500)
        if status != self.status:
            return False
        return self.status != 200 or state == self.state

    def describe(self) -> str:
        if self.unspecified:
            return f"200 with state {self.state!r} or any 4xx (the docs leave it open)"
        if self.status == 200:
            return f"200 with state {self.state!r}"
        return str(self.status)


def generable(operation: str, state: str) -> bool:
    """Whether a generator may send `operation` to an item in `state`: False where the docs leave the answer open."""
    if operation == HEARTBEAT:
        return state in _HEARTBEAT
    if operation == FORCE:
        return tables.transition(True, state).result is not tables.UNSPECIFIED
    if operation == UPDATE:
        return state in tables.LIVE_STATES  # a stopped item's update is open (UPDATE-OPEN-STOPPED)
    return operation in OPERATIONS and state in tables.STATES


def outcome(operation: str, state: str) -> Outcome:
    """The documented outcome of `operation` on an item in `state`.

    Raises LookupError for a step the docs say nothing at all about (heartbeat on `stopping`); force on `stopped`
    is returned as `unspecified` so a checker of observed histories can still place such a call.
    """
    if state not in tables.STATES:
        raise LookupError(f"unknown state {state!r}")
    if operation in STOPS:
        row = tables.transition(operation == FORCE, state)
        if row.result is tables.UNSPECIFIED:
            return Outcome(operation, state, 200, state, state, row.requirement, unspecified=True)
        return Outcome(operation, state, 200, row.result, row.result, row.requirement, unchanged=row.unchanged)
    if operation == ACK:
        return _conflict_or(operation, state, _ACK[state], _ACK_REQUIREMENT[state])
    if operation == HEARTBEAT:
        if state not in _HEARTBEAT:
            raise LookupError("heartbeat on a stopping item is undocumented (api-reference.md §12 item 18)")
        return _conflict_or(operation, state, _HEARTBEAT[state], _HEARTBEAT_REQUIREMENT[state])
    if operation == GET:
        return Outcome(operation, state, 200, state, state, "GET-RESP-ITEM")
    if operation == UPDATE:
        if state not in tables.LIVE_STATES:
            return Outcome(operation, state, 200, state, state, "UPDATE-OPEN-STOPPED", unspecified=True)
        return Outcome(operation, state, 200, state, state, "UPDATE-ONLY-METADATA")
    raise LookupError(f"unknown operation {operation!r}")


def _conflict_or(operation: str, state: str, after: str | None, requirement: str) -> Outcome:
    if after is None:
        return Outcome(operation, state, CONFLICT, None, state, requirement)
    return Outcome(operation, state, 200, after, after, requirement)


def merged(metadata: dict[str, str], patch: dict[str, str | None]) -> dict[str, str]:
    """The metadata a merge patch leaves: "string values upsert keys and null values delete keys", every other key
    kept (update-metadata page)."""
    result = dict(metadata)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def run(state: str, operations: list[str]) -> list[Outcome]:
    """The outcomes of `operations` applied one after another to an item starting in `state`."""
    outcomes = []
    for operation in operations:
        step = outcome(operation, state)
        outcomes.append(step)
        state = step.after
    return outcomes


def is_stopped(state: str | None) -> bool:
    """`stopped_at` is set exactly when this is true ("null while live")."""
    return state == "stopped"
