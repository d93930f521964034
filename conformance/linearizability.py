"""A linearizability checker for the calls one work item received (Wing & Gong search, Lowe's memoization).

Concurrent stops on one item must behave as if applied one at a time, each taking effect at some instant between
its invocation and its response. Given what each call answered, the checker looks for a total order that respects
real time (a call that returned before another was invoked comes first) and in which every answer is the one
`stop_model` gives for the state the earlier calls left. It also carries the item's `stopped_at`: once an answer
shows one, every later-linearized stopped answer must show the same instant (compared as instants, `checks.same`).
That includes a 200 answer to a force stop on an already stopped item: whether such a call succeeds is left open
(any 200 showing `stopped`, or any 4xx, is accepted), but the item it shows reached stopped only once.

The search tries, at each step, only the calls that may go next (no pending call returned before they were
invoked), prunes configurations already known to fail (set of linearized calls, model state, stopped_at), and among
pending calls with the same operation and the same answer tries only the one that returned first: exchanging two
such calls in any order gives another valid order, so the others cannot succeed where it failed. That keeps
histories of 16 fully concurrent calls to a few hundred steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from conformance import stop_model
from conformance.checks import parse_timestamp


class Text(str):
    """Multi-line text that keeps its lines in mismatch reports: `checks.show` renders strings with repr(). Its
    first line is the conclusion, so a one-line view of the mismatch (`observed <first line>`) still says why."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Call:
    """One completed call on the item: what was sent, when (time.monotonic), and what came back."""

    operation: str  # stop_model.GRACEFUL, FORCE, ACK, HEARTBEAT or GET
    invoked: float
    returned: float
    status: int
    state: str | None = None  # the `state` field of the answer (None when absent, e.g. an error answer)
    stopped_at: str | None = None  # the `stopped_at` field of the answer, as sent
    label: str = ""  # how the call was sent (e.g. the body form), for the table only

    def stopped_instant(self) -> datetime | None:
        return parse_timestamp(self.stopped_at)


@dataclass
class Verdict:
    """`linearizable`: status and state are explained by some order; `stopped_at_once`: also with stopped_at."""

    linearizable: bool
    stopped_at_once: bool
    order: tuple[int, ...] = ()  # a witness order (indexes into the history), empty when none exists
    final_state: str | None = None  # the model state after the witness order
    explanation: str = ""  # a `Text`: the history table and why no order works
    steps: int = 0  # search steps taken, for the curious

    @property
    def ok(self) -> bool:
        return self.linearizable and self.stopped_at_once


@dataclass
class _DeadEnd:
    """The deepest prefix the search reached, and why no pending call could follow it."""

    prefix: tuple[int, ...] = ()
    state: str = ""
    reasons: list[str] = field(default_factory=list)


class _Search:
    def __init__(self, initial: str, calls: list[Call], stopped_at: datetime | None, judge_stopped_at: bool) -> None:
        self.initial = initial
        self.calls = calls
        self.initial_stopped_at = stopped_at
        self.judge_stopped_at = judge_stopped_at
        self.failed: set[tuple[int, str, datetime | None]] = set()
        self.dead_end = _DeadEnd(state=initial)
        self.steps = 0
        self.everything = (1 << len(calls)) - 1

    def run(self) -> tuple[int, ...] | None:
        return self._extend(0, self.initial, self.initial_stopped_at, ())

    def _extend(
        self, done: int, state: str, stopped_at: datetime | None, prefix: tuple[int, ...]
    ) -> tuple[int, ...] | None:
        if done == self.everything:
            return prefix
        key = (done, state, stopped_at)
        if key in self.failed:
            return None
        reasons: list[str] = []
        for index in self._candidates(done):
            self.steps += 1
            call = self.calls[index]
            step = stop_model.outcome(call.operation, state)
            problem = self._refusal(step, call, stopped_at)
            if problem:
                reasons.append(f"#{index} {call.operation}: {problem}")
                continue
            found = self._extend(done | (1 << index), step.after, self._carry(call, stopped_at), (*prefix, index))
            if found is not None:
                return found
        if len(prefix) >= len(self.dead_end.prefix) and reasons:
            self.dead_end = _DeadEnd(prefix, state, reasons)
        self.failed.add(key)
        return None

    def _candidates(self, done: int) -> list[int]:
        """Pending calls no pending call precedes in real time; one per (operation, answer), the earliest to return."""
        pending = [i for i in range(len(self.calls)) if not done & (1 << i)]
        deadline = min(self.calls[i].returned for i in pending)
        chosen: dict[tuple, int] = {}
        for index in pending:
            call = self.calls[index]
            if call.invoked > deadline:
                continue
            instant = call.stopped_instant() if self.judge_stopped_at else None
            signature = (call.operation, call.status, call.state, instant)
            best = chosen.get(signature)
            if best is None or call.returned < self.calls[best].returned:
                chosen[signature] = index
        return sorted(chosen.values())

    def _refusal(self, step: stop_model.Outcome, call: Call, stopped_at: datetime | None) -> str:
        """Why `call` cannot take effect here ("" when it can)."""
        if not step.allows(call.status, call.state):
            return (
                f"on {step.before!r} the docs say {step.describe()}, observed {call.status} with state {call.state!r}"
            )
        if not self.judge_stopped_at or call.status != 200 or call.state != "stopped":
            return ""
        if stopped_at is not None and call.stopped_instant() != stopped_at:
            return f"stopped_at {call.stopped_at!r} differs from the stopped_at already shown ({_render(stopped_at)})"
        return ""

    def _carry(self, call: Call, stopped_at: datetime | None) -> datetime | None:
        """The stopped_at the item shows from now on: the first one any stopped answer showed."""
        if stopped_at is not None or call.status != 200 or call.state != "stopped":
            return stopped_at
        return call.stopped_instant()


def check(initial: str, calls: list[Call], *, initial_stopped_at: str | None = None) -> Verdict:
    """Whether some real-time-respecting order of `calls`, from an item in `initial`, explains every answer."""
    if len(calls) > 62:
        raise ValueError("the checker is meant for short histories (at most a few dozen calls)")
    start_instant = parse_timestamp(initial_stopped_at)
    plain = _Search(initial, calls, None, judge_stopped_at=False)
    order = plain.run()
    if order is None:
        why = _why(plain.dead_end, calls)
        text = "no order of the calls explains every answer\n" + why
        return Verdict(False, False, explanation=Text(text + "\n" + render(initial, calls)), steps=plain.steps)
    strict = _Search(initial, calls, start_instant, judge_stopped_at=True)
    strict_order = strict.run()
    steps = plain.steps + strict.steps
    if strict_order is None:
        text = (
            "the states are explained (e.g. in the order "
            + " -> ".join(f"#{i}" for i in order)
            + "), but stopped_at does not stay one instant: "
            + _stopped_at_story(calls, initial_stopped_at)
            + "\n"
            + _why(strict.dead_end, calls)
        )
        explanation = Text(text + "\n" + render(initial, calls))
        return Verdict(True, False, order, _final(initial, calls, order), explanation, steps)
    return Verdict(True, True, strict_order, _final(initial, calls, strict_order), "", steps)


def _final(initial: str, calls: list[Call], order: tuple[int, ...]) -> str:
    """The model state after applying `order`."""
    outcomes = stop_model.run(initial, [calls[index].operation for index in order])
    return outcomes[-1].after if outcomes else initial


def _why(dead_end: _DeadEnd, calls: list[Call]) -> str:
    placed = " -> ".join(f"#{i}" for i in dead_end.prefix) or "(nothing)"
    lines = [f"longest explained prefix: {placed}, leaving the item {dead_end.state!r}; no pending call can go next:"]
    lines += [f"  {reason}" for reason in dead_end.reasons]
    return "\n".join(lines)


def _stopped_at_story(calls: list[Call], initial: str | None) -> str:
    shown = [call.stopped_at for call in calls if call.status == 200 and call.state == "stopped"]
    if initial:
        shown.insert(0, initial)
    distinct: list[str] = []
    for value in shown:
        if all(parse_timestamp(value) != parse_timestamp(seen) for seen in distinct):
            distinct.append(str(value))
    return "the stopped answers show " + ", ".join(repr(value) for value in distinct)


def _render(instant: datetime) -> str:
    return instant.isoformat()


def render(initial: str, calls: list[Call]) -> str:
    """The history as a table, times in ms from the first invocation, one row per call."""
    origin = min((call.invoked for call in calls), default=0.0)
    rows = [("#", "call", "sent as", "invoked ms", "returned ms", "status", "state", "stopped_at")]
    for index, call in enumerate(calls):
        rows.append(
            (
                str(index),
                call.operation,
                call.label or "-",
                f"{(call.invoked - origin) * 1000:.1f}",
                f"{(call.returned - origin) * 1000:.1f}",
                str(call.status),
                str(call.state),
                str(call.stopped_at),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [f"history of one item, provisioned {initial!r}:"]
    lines += [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)
