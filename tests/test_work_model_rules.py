"""The work model's rules (stop_model: requirement per outcome, update metadata, merge patches) and the model cases'
batches (model_runs), without HTTP."""

from __future__ import annotations

import pytest

from conformance import catalogue, model_runs, stop_model, tables
from conformance.config import Settings
from conformance.stop_model import ACK, FORCE, GET, GRACEFUL, HEARTBEAT, UPDATE


def test_every_outcome_names_a_requirement_of_its_own_endpoint() -> None:
    endpoint_of = {ACK: "ack", HEARTBEAT: "heartbeat", GET: "get", UPDATE: "update_metadata"}
    for operation in stop_model.OPERATIONS:
        for state in tables.STATES:
            if operation == HEARTBEAT and state == "stopping":
                continue
            step = stop_model.outcome(operation, state)
            requirement = catalogue.get(step.requirement)
            assert requirement.endpoint == endpoint_of.get(operation, "stop"), (operation, state, step.requirement)


def test_ack_and_heartbeat_outcomes_rest_on_their_rows() -> None:
    assert [stop_model.outcome(ACK, s).requirement for s in tables.STATES] == [
        "ACK-TR-QUEUED",
        "ACK-RETRY-SAFE",
        "ACK-RETRY-SAFE",
        "ACK-ERR-CONFLICT",
        "ACK-ERR-CONFLICT",
    ]
    assert stop_model.outcome(HEARTBEAT, "starting").requirement == "HEARTBEAT-TR-FIRST"
    assert stop_model.outcome(HEARTBEAT, "active").requirement == "HEARTBEAT-TR-ACTIVE"
    assert stop_model.outcome(HEARTBEAT, "stopped").requirement == "HEARTBEAT-ERR-CONFLICT"
    assert set(stop_model.HEARTBEAT_FORMS.values()) == {
        "HEARTBEAT-NO-HEARTBEAT",
        "HEARTBEAT-ECHO",
        "HEARTBEAT-UNCONDITIONAL",
    }


def test_update_keeps_the_state_and_is_never_generated_on_a_stopped_item() -> None:
    for state in tables.LIVE_STATES:
        step = stop_model.outcome(UPDATE, state)
        assert (step.status, step.state, step.after, step.unspecified) == (200, state, state, False)
        assert stop_model.generable(UPDATE, state)
    assert not stop_model.generable(UPDATE, "stopped")
    assert stop_model.outcome(UPDATE, "stopped").unspecified
    assert catalogue.get(stop_model.outcome(UPDATE, "stopped").requirement).level == "UNSPECIFIED"


def test_merge_patch_upserts_deletes_and_keeps() -> None:
    before = {"run": "r1", "a": "0", "b": "0"}
    assert stop_model.merged(before, {"a": "1", "b": None, "c": "2"}) == {"run": "r1", "a": "1", "c": "2"}
    assert stop_model.merged(before, {}) == before
    assert stop_model.merged(before, {"absent": None}) == before
    assert before == {"run": "r1", "a": "0", "b": "0"}  # the model's copy is never changed in place


def test_steps_the_docs_leave_open_are_not_generated() -> None:
    assert not stop_model.generable(HEARTBEAT, "stopping")
    assert not stop_model.generable(FORCE, "stopped")
    assert stop_model.generable(GRACEFUL, "stopped")


@pytest.mark.parametrize("examples", [1, 5, 7, 12])
def test_batches_split_the_budget_and_salt_changes_the_seeds(examples: int) -> None:
    settings = Settings(model_examples=20)
    plain = model_runs.batches("queued", settings, examples)
    salted = model_runs.batches("queued", settings, examples, salt="work-model/")
    assert sum(batch.examples for batch in plain) == examples
    assert all(batch.examples <= model_runs.EXAMPLES_PER_CASE for batch in plain)
    assert [batch.seed for batch in plain] != [batch.seed for batch in salted]
    assert model_runs.batches("queued", settings) == model_runs.batches("queued", settings, 20)


def test_random_runs_have_no_seed() -> None:
    assert all(batch.seed is None for batch in model_runs.batches("active", Settings(model_random=True)))
