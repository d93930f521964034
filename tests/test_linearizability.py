"""Self-tests of the stop model and the linearizability checker, on hand-made histories (no HTTP)."""

from __future__ import annotations

import itertools
import random

import pytest

from conformance import stop_model, tables
from conformance.checks import parse_timestamp, show
from conformance.linearizability import Call, check
from conformance.stop_model import ACK, FORCE, GET, GRACEFUL, HEARTBEAT

T1 = "2026-07-01T08:16:30Z"
T1_AGAIN = "2026-07-01T08:16:30.000000+00:00"  # the same instant, rendered differently
T2 = "2026-07-01T08:16:31Z"


def call(operation, invoked, returned, status=200, state=None, stopped_at=None) -> Call:
    return Call(operation, float(invoked), float(returned), status, state, stopped_at)


# --- the model ---------------------------------------------------------------------------------------------------


def test_model_stops_follow_the_transition_table():
    for row in tables.TRANSITIONS:
        step = stop_model.outcome(FORCE if row.force else GRACEFUL, row.current)
        assert step.unspecified is (row.result is tables.UNSPECIFIED)
        if not step.unspecified:
            assert (step.status, step.state, step.after, step.requirement) == (
                200,
                row.result,
                row.result,
                row.requirement,
            )


def test_model_ack_and_heartbeat_rules():
    assert [stop_model.outcome(ACK, s).status for s in tables.STATES] == [200, 200, 200, 409, 409]
    assert [stop_model.outcome(ACK, s).after for s in tables.STATES[:3]] == ["starting", "starting", "active"]
    assert stop_model.outcome(HEARTBEAT, "starting").after == "active"
    assert stop_model.outcome(HEARTBEAT, "active").state == "active"
    assert stop_model.outcome(HEARTBEAT, "queued").status == 409
    assert stop_model.outcome(HEARTBEAT, "stopped").status == 409
    with pytest.raises(LookupError):
        stop_model.outcome(HEARTBEAT, "stopping")


def test_model_never_generates_what_the_docs_leave_open():
    assert not stop_model.generable(HEARTBEAT, "stopping")
    assert not stop_model.generable(FORCE, "stopped")
    assert stop_model.generable(GRACEFUL, "stopped")
    assert stop_model.generable(FORCE, "stopping")
    assert all(stop_model.generable(GET, s) for s in tables.STATES)


def test_unspecified_step_allows_a_stopped_200_or_any_4xx_only():
    step = stop_model.outcome(FORCE, "stopped")
    assert step.allows(200, "stopped") and step.allows(409, None) and step.allows(400, None)
    assert not step.allows(200, "active") and not step.allows(500, None)


# --- the checker -------------------------------------------------------------------------------------------------


def test_sequential_valid_history():
    history = [
        call(GRACEFUL, 0, 1, state="stopping"),
        call(GRACEFUL, 2, 3, state="stopped", stopped_at=T1),
        call(GRACEFUL, 4, 5, state="stopped", stopped_at=T1_AGAIN),
    ]
    verdict = check("active", history)
    assert verdict.ok, verdict.explanation
    assert verdict.order == (0, 1, 2)
    assert verdict.final_state == "stopped"


def test_concurrent_history_valid_in_some_order():
    history = [
        call(GRACEFUL, 0, 10, state="stopped", stopped_at=T1),
        call(GRACEFUL, 1, 9, state="stopped", stopped_at=T1),
        call(GRACEFUL, 2, 8, state="stopping"),
    ]
    verdict = check("active", history)
    assert verdict.ok, verdict.explanation
    assert verdict.order[0] == 2


def test_two_stopping_answers_to_concurrent_graceful_stops_on_active_are_rejected():
    history = [call(GRACEFUL, 0, 5, state="stopping"), call(GRACEFUL, 0, 5, state="stopping")]
    verdict = check("active", history)
    assert not verdict.linearizable and not verdict.ok
    assert verdict.order == ()
    assert "no order of the calls explains every answer" in verdict.explanation
    assert "on 'stopping' the docs say 200 with state 'stopped', observed 200 with state 'stopping'" in (
        verdict.explanation
    )
    assert "history of one item, provisioned 'active'" in verdict.explanation


def test_answers_that_contradict_real_time_order_are_rejected():
    # The first call returned `stopped` before the second was even sent, so the second cannot be the one that
    # moved the item to stopping. The same answers from overlapping calls are fine.
    answers = [("stopped", T1), ("stopping", None)]
    sequential = [call(GRACEFUL, 0, 1, state=answers[0][0], stopped_at=T1), call(GRACEFUL, 2, 3, state="stopping")]
    overlapping = [call(GRACEFUL, 0, 3, state=answers[0][0], stopped_at=T1), call(GRACEFUL, 1, 2, state="stopping")]
    assert not check("active", sequential).linearizable
    assert check("active", overlapping).ok


def test_differing_stopped_at_is_rejected_even_when_states_are_explained():
    history = [
        call(FORCE, 0, 1, state="stopped", stopped_at=T1),
        call(GRACEFUL, 2, 3, state="stopped", stopped_at=T2),
    ]
    verdict = check("active", history)
    assert verdict.linearizable and not verdict.stopped_at_once and not verdict.ok
    assert T1 in verdict.explanation and T2 in verdict.explanation


def test_stopped_at_of_a_provisioned_stopped_item_is_carried():
    history = [call(GRACEFUL, 0, 1, state="stopped", stopped_at=T2)]
    assert not check("stopped", history, initial_stopped_at=T1).stopped_at_once
    assert check("stopped", history, initial_stopped_at=T2).ok


def test_force_and_graceful_mix():
    # graceful first (-> stopping), then force (-> stopped)
    assert check(
        "active", [call(FORCE, 0, 5, state="stopped", stopped_at=T1), call(GRACEFUL, 0, 5, state="stopping")]
    ).ok
    # force first (-> stopped), then graceful returns the existing stopped item
    both_stopped = [
        call(FORCE, 0, 5, state="stopped", stopped_at=T1),
        call(GRACEFUL, 0, 5, state="stopped", stopped_at=T1),
    ]
    assert check("active", both_stopped).ok
    # force never answers stopping
    assert not check("active", [call(FORCE, 0, 5, state="stopping"), call(GRACEFUL, 0, 5, state="stopping")]).ok


def test_force_on_stopped_accepts_a_stopped_200_or_a_4xx_and_nothing_else():
    first = call(FORCE, 0, 5, state="stopped", stopped_at=T1)
    assert check("stopping", [first, call(FORCE, 0, 5, status=409)]).ok
    assert check("stopping", [first, call(FORCE, 0, 5, state="stopped", stopped_at=T1)]).ok
    assert not check("stopping", [first, call(FORCE, 0, 5, status=500)]).ok
    # left open whether it succeeds, but a success shows the item that reached stopped once
    restamped = check("stopping", [first, call(FORCE, 0, 5, state="stopped", stopped_at=T2)])
    assert restamped.linearizable and not restamped.stopped_at_once
    assert not check("stopping", [first, call(FORCE, 0, 5, state="stopping")]).ok


def test_a_read_after_the_round_must_show_the_linearized_final_state():
    round_ = [call(GRACEFUL, 0, 5, state="stopping"), call(GRACEFUL, 0, 5, state="stopped", stopped_at=T1)]
    assert check("active", [*round_, call(GET, 6, 7, state="stopped", stopped_at=T1)]).ok
    assert not check("active", [*round_, call(GET, 6, 7, state="stopping")]).linearizable


def test_graceful_on_queued_stops_directly():
    history = [call(GRACEFUL, 0, 5, state="stopped", stopped_at=T1) for _ in range(3)]
    verdict = check("queued", history)
    assert verdict.ok and verdict.final_state == "stopped"
    assert not check("queued", [call(GRACEFUL, 0, 5, state="stopping")]).ok


def test_sixteen_concurrent_calls_are_checked():
    accepted = [call(GRACEFUL, 0, 10, state="stopping")]
    accepted += [call(GRACEFUL, i * 0.1, 10 + i, state="stopped", stopped_at=T1) for i in range(15)]
    verdict = check("active", accepted)
    assert verdict.ok and len(verdict.order) == 16

    refused = [call(GRACEFUL, 0, 10, state="stopping") for _ in range(2)]
    refused += [call(GRACEFUL, 0, 10, state="stopped", stopped_at=T1) for _ in range(14)]
    assert not check("active", refused).linearizable

    mixed = [call(FORCE, 0, 10, state="stopped", stopped_at=T1) for _ in range(8)]
    mixed += [call(GRACEFUL, 0, 10, state="stopped", stopped_at=T1) for _ in range(7)]
    mixed.append(call(GRACEFUL, 0, 10, state="stopping"))
    assert check("active", mixed).ok


# --- cross-check against brute force: the pruning must never change the answer -------------------------------------


def _brute_force(initial: str, calls: list[Call]) -> tuple[bool, bool]:
    def explains(order, judge_stopped_at):
        state, stopped_at = initial, None
        for index in order:
            c = calls[index]
            step = stop_model.outcome(c.operation, state)
            if not step.allows(c.status, c.state):
                return False
            if judge_stopped_at and c.status == 200 and c.state == "stopped":
                instant = parse_timestamp(c.stopped_at)
                if stopped_at is not None and instant != stopped_at:
                    return False
                stopped_at = stopped_at or instant
            state = step.after
        return True

    def respects_real_time(order):
        position = {index: place for place, index in enumerate(order)}
        return all(
            position[a] < position[b]
            for a, b in itertools.permutations(range(len(calls)), 2)
            if calls[a].returned < calls[b].invoked
        )

    orders = [order for order in itertools.permutations(range(len(calls))) if respects_real_time(order)]
    return any(explains(o, False) for o in orders), any(explains(o, True) for o in orders)


def test_checker_agrees_with_brute_force_on_random_small_histories():
    rng = random.Random(20260701)
    answers = [
        (200, "stopping", None),
        (200, "stopped", T1),
        (200, "stopped", T2),
        (200, "stopped", T1_AGAIN),
        (409, None, None),
    ]
    disagreements = []
    for _ in range(400):
        initial = rng.choice(("queued", "starting", "active", "stopping"))
        size = rng.randint(1, 5)
        calls = []
        for _ in range(size):
            start = rng.randint(0, 6)
            status, state, stopped_at = rng.choice(answers)
            calls.append(
                call(rng.choice((GRACEFUL, FORCE)), start, start + rng.randint(0, 4), status, state, stopped_at)
            )
        verdict = check(initial, calls)
        expected = _brute_force(initial, calls)
        if (verdict.linearizable, verdict.ok) != expected:
            disagreements.append((initial, calls, expected))
    assert not disagreements


def test_the_explanation_keeps_its_table_lines_in_mismatch_reports():
    verdict = check("active", [call(GRACEFUL, 0, 5, state="stopping"), call(GRACEFUL, 0, 5, state="stopping")])
    shown = show(verdict.explanation)
    assert "\n  #  call" in shown and "\\n" not in shown
