"""The heartbeat's rules as data (machine.heartbeat_matrix, LEASE_CHECKS, the TTL range) and the two dialects that
answer the heartbeat page's silent points (default TTL, how an echo is compared)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from emulator_helpers import assert_error

from qoder_emulator import faults, machine
from qoder_emulator.machine import ACTIVE, QUEUED, STARTING, STATES, STOPPED, STOPPING

NOW = datetime(2026, 7, 1, 8, 15, 6, 120394, tzinfo=timezone.utc)
BEAT = NOW - timedelta(seconds=30)


def built(state: str, *, beat: datetime | None = BEAT) -> machine.WorkItem:
    item = machine.build_item(
        state, work_id="work_" + "a" * 32, environment_id="env_" + "1" * 32, session_id="sess_" + "b" * 32, now=NOW
    )
    return replace(item, latest_heartbeat_at=beat)


def test_the_matrix_has_every_state_and_refuses_only_queued_and_stopped():
    matrix = machine.heartbeat_matrix()
    assert set(matrix) == set(STATES)
    assert {state for state, cell in matrix.items() if cell.conflict} == {QUEUED, STOPPED}
    assert matrix[STARTING].state == ACTIVE and matrix[STARTING].stamp_started_at
    assert not matrix[ACTIVE].stamp_started_at and matrix[ACTIVE].state is None
    assert machine.heartbeat_matrix(on_stopping="conflict")[STOPPING].conflict


ECHO = machine.format_timestamp(BEAT)


@pytest.mark.parametrize(
    ("beat", "expected", "case"),
    [
        (None, None, machine.OMITTED),
        (BEAT, None, machine.OMITTED),
        (None, machine.NO_HEARTBEAT, machine.UNCLAIMED),
        (BEAT, machine.NO_HEARTBEAT, machine.CLAIMED),
        (BEAT, ECHO, machine.MATCH),
        (BEAT, ECHO[:-1] + "+00:00", machine.MISMATCH),  # the same instant, written otherwise: not the echo
        (BEAT, machine.format_timestamp(BEAT + timedelta(seconds=1)), machine.MISMATCH),
        (None, ECHO, machine.MISMATCH),
    ],
)
def test_lease_case_of_each_form(beat, expected, case):
    item = built(ACTIVE, beat=beat)
    assert machine.lease_case(item, expected, render=machine.format_timestamp) == case


def test_instant_comparison_matches_any_writing_of_the_last_heartbeat():
    item = built(ACTIVE)
    for written in (ECHO, ECHO[:-1] + "+00:00", ECHO[:-1] + "z"):
        assert machine.lease_case(item, written, render=machine.format_timestamp, compare="instant") == machine.MATCH
    later = machine.format_timestamp(BEAT + timedelta(microseconds=1))
    assert machine.lease_case(item, later, render=machine.format_timestamp, compare="instant") == machine.MISMATCH


def test_refusals_change_nothing_and_the_state_is_checked_before_the_lease():
    with pytest.raises(machine.Conflict):  # queued with a foreign timestamp: 409, not 412
        machine.heartbeat(built(QUEUED, beat=None), now=NOW, expected_last_heartbeat="2001-02-03T04:05:06Z")
    with pytest.raises(machine.PreconditionFailed):
        machine.heartbeat(built(ACTIVE), now=NOW, expected_last_heartbeat=machine.NO_HEARTBEAT)


def test_default_ttl_and_range_are_parameters():
    item = built(ACTIVE)
    assert machine.heartbeat(item, now=NOW, default_ttl=600)[1].ttl_seconds == 600
    assert machine.heartbeat(item, now=NOW, desired_ttl_seconds=1, ttl_range=(1, 10**6))[1].ttl_seconds == 1


def test_a_fault_replaces_one_cell_and_keeps_the_others():
    rules = faults.resolve(["heartbeat-on-queued-accepted"])
    new, outcome = machine.heartbeat(built(QUEUED, beat=None), now=NOW, cells=rules.heartbeat_cells)
    assert (new.state, new.latest_heartbeat_at, outcome.lease_extended) == (QUEUED, NOW, True)
    with pytest.raises(machine.Conflict):
        machine.heartbeat(built(STOPPED), now=NOW, cells=rules.heartbeat_cells)
    lenient = faults.resolve(["heartbeat-ignores-expected"]).lease_checks
    assert lenient[machine.MISMATCH] and lenient[machine.CLAIMED] and lenient[machine.MATCH]


def _heartbeat(http, item, **params):
    return http.request("POST", http.work(item["id"], suffix="/heartbeat"), params=params)


def test_echo_dialects_over_http(make_http):
    exact, instant = make_http(), make_http(dialect={"heartbeat-echo": "instant"})
    for http, accepted in ((exact, False), (instant, True)):
        item = http.provision("active")
        written = item["latest_heartbeat_at"]
        rewritten = written[:-1] + "+00:00"
        response = _heartbeat(http, item, expected_last_heartbeat=rewritten)
        if accepted:
            assert response.status_code == 200 and response.json()["state"] == "active"
        else:
            assert_error(response, 412, "precondition_failed_error")


def test_exact_echo_is_accepted_under_every_utc_designator(make_http):
    for dialect in ({}, {"utc-designator": "+00:00"}, {"heartbeat-echo": "instant", "utc-designator": "+00:00"}):
        http = make_http(dialect=dialect)
        item = http.provision("active")
        first = _heartbeat(http, item, expected_last_heartbeat=item["latest_heartbeat_at"])
        assert first.status_code == 200, (dialect, first.text)
        second = _heartbeat(http, item, expected_last_heartbeat=first.json()["last_heartbeat"])
        assert second.status_code == 200, (dialect, second.text)


def test_default_ttl_dialect_over_http(make_http):
    default, top = make_http(), make_http(dialect={"heartbeat-default-ttl": "600"})
    assert _heartbeat(default, default.provision("active")).json()["ttl_seconds"] == 60
    assert _heartbeat(top, top.provision("active")).json()["ttl_seconds"] == 600
    assert _heartbeat(top, top.provision("active"), desired_ttl_seconds="9").json()["ttl_seconds"] == 10
