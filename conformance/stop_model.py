"""The documented model of one work item under the operations the suite generates: pure functions, no HTTP.

Stop outcomes come from `tables.transition` (the Stop page's table, never retyped here); ack and heartbeat outcomes
are the rules of api-reference.md §4.2 ("ack: queued -> starting, safe to retry on starting/active, conflicts for
stopping or stopped"; "heartbeat: the first successful heartbeat moves starting to active; queued or stopped cannot
be heartbeated"). Where the docs are silent the model says so (`Outcome.unspecified`, `generable() is False`)
instead of guessing, so a generator never produces such a step and a checker never judges one.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance import tables

GRACEFUL = "graceful"  # a stop with force=false, whatever body form carried it
FORCE = "force"  # a stop with {"force": true}
ACK = "ack"
HEARTBEAT = "heartbeat"
GET = "get"
STOPS = (GRACEFUL, FORCE)
OPERATIONS = (GRACEFUL, FORCE, ACK, HEARTBEAT, GET)

CONFLICT = 409  # ack and heartbeat pages: "409 invalid_request_error"

# api-reference.md §4.2, ack row: queued -> starting; starting/active "(=) success, safe to retry"; else 409.
_ACK = {"queued": "starting", "starting": "starting", "active": "active", "stopping": None, "stopped": None}
# §4.2, heartbeat row: starting -> active; active stays active; queued/stopped 409. `stopping` is absent on purpose:
# the docs only allow it "by omission" and never say what it answers.
_HEARTBEAT = {"queued": None, "starting": "active", "active": "active", "stopped": None}


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
    requirement: str  # the requirement the outcome rests on ("" for ack/heartbeat/get: no Stop requirement)
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
        return _conflict_or(operation, state, _ACK[state])
    if operation == HEARTBEAT:
        if state not in _HEARTBEAT:
            raise LookupError("heartbeat on a stopping item is undocumented (api-reference.md §12 item 18)")
        return _conflict_or(operation, state, _HEARTBEAT[state])
    if operation == GET:
        return Outcome(operation, state, 200, state, state, "")
    raise LookupError(f"unknown operation {operation!r}")


def _conflict_or(operation: str, state: str, after: str | None) -> Outcome:
    if after is None:
        return Outcome(operation, state, CONFLICT, None, state, "")
    return Outcome(operation, state, 200, after, after, "")


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
