"""Unit tests of the pure state machine: every state x every operation, timestamps and untouched fields."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone

import pytest

from qoder_emulator import machine
from qoder_emulator.machine import ACTIVE, QUEUED, STARTING, STATES, STOPPED, STOPPING

T0 = datetime(2026, 7, 1, 8, 15, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(minutes=5, microseconds=120394)
FIELDS = [f.name for f in fields(machine.WorkItem)]
CONFLICT = machine.Conflict

# (operation, state) -> (resulting state or error, {field: "now" | "kept"} that may differ from the input)
# Everything not listed must be identical to the input item.
TABLE = {
    ("ack", QUEUED): (STARTING, {"acknowledged_at": "now"}),
    ("ack", STARTING): (STARTING, {}),
    ("ack", ACTIVE): (ACTIVE, {}),
    ("ack", STOPPING): (CONFLICT, {}),
    ("ack", STOPPED): (CONFLICT, {}),
    ("heartbeat", QUEUED): (CONFLICT, {}),
    ("heartbeat", STARTING): (ACTIVE, {"started_at": "now", "latest_heartbeat_at": "now", "ttl_seconds": 60}),
    ("heartbeat", ACTIVE): (ACTIVE, {"latest_heartbeat_at": "now", "ttl_seconds": 60}),
    ("heartbeat", STOPPING): (STOPPING, {"latest_heartbeat_at": "now"}),
    ("heartbeat", STOPPED): (CONFLICT, {}),
    ("graceful", QUEUED): (STOPPED, {"stopped_at": "now", "stop_requested_at": "now"}),
    ("graceful", STARTING): (STOPPING, {"stop_requested_at": "now"}),
    ("graceful", ACTIVE): (STOPPING, {"stop_requested_at": "now"}),
    ("graceful", STOPPING): (STOPPED, {"stopped_at": "now"}),
    ("graceful", STOPPED): (STOPPED, {}),
    ("force", QUEUED): (STOPPED, {"stopped_at": "now"}),
    ("force", STARTING): (STOPPED, {"stopped_at": "now"}),
    ("force", ACTIVE): (STOPPED, {"stopped_at": "now"}),
    ("force", STOPPING): (STOPPED, {"stopped_at": "now"}),
    ("force", STOPPED): (STOPPED, {}),
    **{("update", s): (s, {"metadata": {"job": "daily-report", "worker": "w1"}}) for s in STATES},
    **{("get", s): (s, {}) for s in STATES},
}

OPERATIONS = {
    "ack": lambda item: machine.ack(item, now=NOW),
    "heartbeat": lambda item: machine.heartbeat(item, now=NOW)[0],
    "graceful": lambda item: machine.stop(item, force=False, now=NOW),
    "force": lambda item: machine.stop(item, force=True, now=NOW),
    "update": lambda item: machine.update_metadata(item, {"worker": "w1", "obsolete": None}),
    "get": machine.get,
}


def built(state: str) -> machine.WorkItem:
    return machine.build_item(
        state,
        work_id="work_" + "a" * 32,
        environment_id="env_" + "1" * 32,
        session_id="sess_" + "b" * 32,
        now=T0,
        metadata={"job": "daily-report", "obsolete": "x"},
    )


def test_table_covers_every_state_and_operation():
    assert set(TABLE) == {(op, s) for op in OPERATIONS for s in STATES}


@pytest.mark.parametrize(("operation", "state"), sorted(TABLE), ids=lambda v: v)
def test_operation_on_state(operation: str, state: str):
    before = built(state)
    expected_state, changed = TABLE[(operation, state)]
    if expected_state is CONFLICT:
        with pytest.raises(machine.Conflict):
            OPERATIONS[operation](before)
        return
    after = OPERATIONS[operation](before)
    assert after.state == expected_state
    for name in FIELDS:
        if name == "state":
            continue
        if name not in changed:
            assert getattr(after, name) == getattr(before, name), name
        elif changed[name] == "now":
            assert getattr(after, name) == NOW, name
        else:
            assert getattr(after, name) == changed[name], name


def test_built_items_have_the_timestamps_of_their_history():
    for state in STATES:
        item = built(state)
        assert item.created_at <= T0
        assert (item.acknowledged_at is None) == (state == QUEUED)
        assert (item.started_at is None) == (state in (QUEUED, STARTING))
        assert item.latest_heartbeat_at == item.started_at
        assert (item.stop_requested_at is None) == (state != STOPPING)
        assert (item.stopped_at is None) == (state != STOPPED)
        stamps = [item.created_at, item.acknowledged_at, item.started_at, item.stop_requested_at, item.stopped_at]
        present = [s for s in stamps if s is not None]
        assert present == sorted(present)


def test_ack_worker_id_mismatch_conflicts_only_when_both_sides_carry_one():
    item = built(QUEUED)
    with pytest.raises(machine.Conflict):
        machine.ack(item, now=NOW, worker_id="w2", delivered_to="w1")
    assert machine.ack(item, now=NOW, worker_id="w1", delivered_to="w1").state == STARTING
    assert machine.ack(item, now=NOW, worker_id=None, delivered_to="w1").state == STARTING
    assert machine.ack(item, now=NOW, worker_id="w2", delivered_to=None).state == STARTING


def test_heartbeat_preconditions():
    starting = built(STARTING)
    first, outcome = machine.heartbeat(starting, now=NOW, expected_last_heartbeat=machine.NO_HEARTBEAT)
    assert (outcome.state, outcome.lease_extended, outcome.last_heartbeat) == (ACTIVE, True, NOW)
    with pytest.raises(machine.PreconditionFailed):
        machine.heartbeat(starting, now=NOW, expected_last_heartbeat="2026-07-01T08:15:00Z")
    with pytest.raises(machine.PreconditionFailed):  # NO_HEARTBEAT once a heartbeat exists
        machine.heartbeat(first, now=NOW, expected_last_heartbeat=machine.NO_HEARTBEAT)
    echo = machine.format_timestamp(first.latest_heartbeat_at)
    later = NOW + timedelta(seconds=1)
    second, _ = machine.heartbeat(first, now=later, expected_last_heartbeat=echo)
    assert second.latest_heartbeat_at == later and second.started_at == NOW
    with pytest.raises(machine.PreconditionFailed):  # the same instant rendered differently is not an echo
        machine.heartbeat(second, now=later, expected_last_heartbeat=later.isoformat())


def test_heartbeat_on_stopping_does_not_extend_the_lease():
    item, outcome = machine.heartbeat(built(STOPPING), now=NOW, desired_ttl_seconds=300)
    assert (item.state, outcome.state, outcome.lease_extended) == (STOPPING, STOPPING, False)
    with pytest.raises(machine.Conflict):
        machine.heartbeat(built(STOPPING), now=NOW, on_stopping="conflict")


@pytest.mark.parametrize(
    ("desired", "effective"), [(None, 60), (1, 10), (9, 10), (10, 10), (45, 45), (600, 600), (601, 600)]
)
def test_ttl_is_clamped(desired, effective):
    assert machine.heartbeat(built(ACTIVE), now=NOW, desired_ttl_seconds=desired)[1].ttl_seconds == effective


@pytest.mark.parametrize(
    ("policy", "operation", "state", "set_to_now"),
    [
        ("graceful-only", False, QUEUED, True),
        ("never-direct", False, QUEUED, False),
        ("always", False, QUEUED, True),
        ("graceful-only", True, ACTIVE, False),
        ("never-direct", True, ACTIVE, False),
        ("always", True, ACTIVE, True),
        ("never-direct", False, ACTIVE, True),
    ],
)
def test_stop_requested_at_policies(policy, operation, state, set_to_now):
    after = machine.stop(built(state), force=operation, now=NOW, stop_requested_at=policy)
    assert (after.stop_requested_at == NOW) is set_to_now
    assert after.stop_requested_at in (None, NOW)


def test_force_keeps_an_existing_stop_requested_at_under_every_policy():
    stopping = built(STOPPING)
    for policy in ("graceful-only", "never-direct", "always"):
        after = machine.stop(stopping, force=True, now=NOW, stop_requested_at=policy)
        assert after.stop_requested_at == stopping.stop_requested_at


def test_force_on_stopped_conflict_dialect():
    with pytest.raises(machine.Conflict):
        machine.stop(built(STOPPED), force=True, now=NOW, force_on_stopped="conflict")
    assert machine.stop(built(STOPPED), force=False, now=NOW, force_on_stopped="conflict") == built(STOPPED)


def test_update_metadata_merge_patch_and_omission():
    item = built(ACTIVE)
    assert machine.update_metadata(item, None) is item
    assert dict(machine.update_metadata(item, {"missing": None}).metadata) == dict(item.metadata)
    with pytest.raises(TypeError):
        machine.update_metadata(item, {"n": 1})  # type: ignore[dict-item]


def test_items_are_immutable_and_metadata_is_not_shared():
    source = {"a": "b"}
    item = machine.build_item(QUEUED, work_id="w", environment_id="e", session_id="s", now=T0, metadata=source)
    source["a"] = "changed"
    assert item.metadata["a"] == "b"
    with pytest.raises(TypeError):
        item.metadata["a"] = "x"  # type: ignore[index]


def test_json_shape_and_timestamp_format():
    body = machine.to_json(built(STOPPING))
    assert list(body) == [
        "id",
        "type",
        "environment_id",
        "data",
        "state",
        "created_at",
        "acknowledged_at",
        "started_at",
        "latest_heartbeat_at",
        "stop_requested_at",
        "stopped_at",
        "metadata",
    ]
    assert body["type"] == "work" and body["data"] == {"type": "session", "id": "sess_" + "b" * 32}
    assert machine.format_timestamp(T0) == "2026-07-01T08:15:00Z"
    assert machine.format_timestamp(NOW) == "2026-07-01T08:20:00.120394Z"


def test_ack_matrix_is_the_ack_page_and_the_retry_choice():
    matrix = machine.ack_matrix()
    assert set(matrix) == set(STATES)
    queued = built(QUEUED)
    assert machine.ack(queued, now=NOW) == replace(queued, state=STARTING, acknowledged_at=NOW)
    active = built(ACTIVE)
    assert machine.ack(active, now=NOW) is active  # "safe to retry": nothing changes, acknowledged_at kept
    rewritten = machine.ack(active, now=NOW, retry_acknowledged_at="rewrite")
    assert rewritten == replace(active, acknowledged_at=NOW)
    for state in (STOPPING, STOPPED):
        with pytest.raises(machine.Conflict):
            machine.ack(built(state), now=NOW)


def test_ack_cells_replace_one_state_only():
    cells = {QUEUED: machine.AckOutcome(STARTING, clear=("metadata",))}
    acked = machine.ack(built(QUEUED), now=NOW, cells=cells)
    assert (acked.state, acked.acknowledged_at, dict(acked.metadata)) == (STARTING, None, {})
    assert machine.ack(built(ACTIVE), now=NOW, cells=cells) == built(ACTIVE)


@pytest.mark.parametrize(
    ("merge", "expected"),
    [
        (machine.MERGE_PATCH, {"keep": "k", "change": "c1", "add": "a"}),
        (machine.MetadataMerge(string="insert-only"), {"keep": "k", "change": "c0", "add": "a"}),
        (machine.MetadataMerge(null="ignore"), {"keep": "k", "change": "c1", "drop": "d", "add": "a"}),
        (machine.MetadataMerge(unnamed="drop"), {"change": "c1", "add": "a"}),
    ],
)
def test_metadata_merge_clauses(merge, expected):
    item = replace(built(ACTIVE), metadata={"keep": "k", "change": "c0", "drop": "d"})
    patch = {"change": "c1", "drop": None, "add": "a", "never-there": None}
    updated = machine.update_metadata(item, patch, merge=merge)
    assert dict(updated.metadata) == expected
    assert replace(updated, metadata=item.metadata) == item  # nothing but metadata changes


def test_update_metadata_omitted_and_on_stopped():
    item = built(STOPPED)
    assert machine.update_metadata(item, {"a": "b"}).metadata["a"] == "b"  # default: no state restriction
    with pytest.raises(machine.Conflict):
        machine.update_metadata(item, {"a": "b"}, on_stopped="conflict")
    assert dict(machine.update_metadata(item, None, merge=machine.MetadataMerge(omitted="clear")).metadata) == {}
