"""Model-based sequences: random runs of documented operations on fresh items, every answer judged by `stop_model`.

A Hypothesis state machine provisions a fresh item (queued, starting or active), then drives a sequence of
documented operations on it: ack, heartbeat (NO_HEARTBEAT first, then the echo of the last heartbeat, or none at
all for an unconditional heartbeat), graceful stop in each body form of `tables.BODY_FORMS`, force stop and GET.
Every answer is compared with what the model says for the state the earlier steps left: status, state, stopped_at
(set exactly when stopped, never changing afterwards) and the fields a stop leaves alone. Steps the docs leave open
are never generated: no heartbeat on a stopping item, no force stop on a stopped item.

Budget: deterministic by default (each case has a fixed seed; the sequences change only when this module does), 20
examples of at most 8 steps per start state, split into cases of 5 examples (so xdist spreads them), about 450
requests in all. Fewer find
less: Hypothesis switches rules off per example and starts with simple draws, so a fault that needs one body form
on one state (e.g. {"force": false} read as force on an active item) is found only with enough examples. Larger runs:
`QODER_MODEL_EXAMPLES=200 QODER_MODEL_STEPS=20 pytest conformance/test_stop_model.py` (or `--qoder-model-examples`,
`--qoder-model-steps`); `QODER_MODEL_RANDOM=1` draws fresh sequences on each run instead of the fixed ones.

Verdicts: a mismatch on a stop answer is judged under the transition row, body form or timestamp requirement it
breaks. Ack, heartbeat and GET are not Stop requirements: when one of them disagrees with the model after a stop was
sent, the stop did not move the item the way it answered (STOP-RESP-PERSISTED); before any stop, the item could not
be driven as documented: that answer is the ack or heartbeat cases' to judge (under their own requirements), and the
example ends there without a Stop verdict (a case in which no example got that far is not verified). Mismatches name
the example and the steps that led to them, so a sequence can be replayed by hand. Failures are not shrunk: each
replay would provision new items on the target.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import stop_model, tables
from conformance.checks import field_value
from conformance.errors import HarnessError
from conformance.evidence import SETUP
from conformance.expectations import body_of
from conformance.model_runs import (
    FORCE_FORM,
    GRACEFUL_FORMS,
    STOP_REQUIREMENTS,
    Batch,
    graceful_rule,
    hypothesis_settings,
    judge_stop,
    judge_stopped_at,
    parametrize_batches,
    sourceless,
)
from conformance.paths import work_path
from conformance.stop_model import NO_HEARTBEAT


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_batches(metafunc)


@pytest.mark.req(*STOP_REQUIREMENTS)
@pytest.mark.slow
def test_documented_operation_sequences_follow_the_model(
    start: str, batch: Batch, settings, api, provision, check
) -> None:
    # Hypothesis is imported when a model case runs, not when this module is collected: every xdist worker
    # collects it, and the import would sit in each worker's start-up, where they all compete for the CPU.
    from hypothesis import seed, strategies
    from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

    harness_failures: list[HarnessError] = []
    off_model: list[str] = []  # examples whose item an ack, heartbeat or GET moved off the docs before any stop
    examples = [0]

    class WorkItemMachine(RuleBasedStateMachine):
        """One example: one fresh item and the operations sent to it; the model state mirrors the docs."""

        def __init__(self) -> None:
            super().__init__()
            examples[0] += 1
            self.example = examples[0]
            self.steps: list[str] = []
            self.item: dict[str, Any] = {}
            self.state = ""  # the model state
            self.baseline: dict[str, Any] = {}  # the item as last seen (provisioned, ack, stop or GET)
            self.stopped_at: Any = None  # the first stopped_at an answer showed
            self.stop_sent = False
            self.last_heartbeat: str | None = None  # from our own heartbeat answers only
            self.diverged = False  # an answer before any stop disagreed with the docs: this example ends

        # --- plumbing -----------------------------------------------------------------------------------------

        def _live(self) -> bool:
            return bool(self.item) and not harness_failures and not self.diverged

        def _where(self, detail: str) -> str:
            return f"example {self.example} [{' -> '.join(self.steps)}]: {detail}"

        def _run(self, step: str, action) -> None:
            """Run one step; a harness failure ends the run (it is re-raised after Hypothesis returns)."""
            if not self._live():
                return
            self.steps.append(step)
            try:
                action()
            except HarnessError as failure:
                harness_failures.append(failure)

        def _side_effect_agrees(self, condition: bool, what: str, expected: Any, observed: Any) -> None:
            """Ack/heartbeat/GET against the model: a stop's persistence after a stop; before one, a disagreement
            ends the example (the item is off the model, and that answer is its own endpoint's cases' to judge)."""
            if self.stop_sent:
                check.that("STOP-RESP-PERSISTED", condition, self._where(what), expected, observed)
            elif not condition:
                self.diverged = True
                off_model.append(f"{self._where(what)}: expected {expected!r}, observed {observed!r}")

        # --- rules --------------------------------------------------------------------------------------------

        @initialize()
        def provision_item(self) -> None:
            if harness_failures:
                return
            try:
                self.item = provision(start)
            except HarnessError as failure:
                harness_failures.append(failure)
                return
            self.steps.append(f"provision {start}")
            self.state = start
            self.baseline = dict(self.item)

        @precondition(lambda self: self._live() and stop_model.generable(stop_model.FORCE, self.state))
        @rule()
        def force_stop(self) -> None:
            self._run(f"stop {FORCE_FORM.name}", lambda: self._stop(stop_model.FORCE, FORCE_FORM))

        @precondition(lambda self: self._live() and stop_model.generable(stop_model.ACK, self.state))
        @rule()
        def ack(self) -> None:
            self._run("ack", self._ack)

        @precondition(lambda self: self._live() and stop_model.generable(stop_model.HEARTBEAT, self.state))
        @rule(conditional=strategies.booleans())
        def heartbeat(self, conditional: bool) -> None:
            self._run("heartbeat" if conditional else "heartbeat (unconditional)", lambda: self._heartbeat(conditional))

        @rule()  # always allowed, so an example whose provisioning failed still has a (no-op) step to take
        def get(self) -> None:
            self._run("GET", self._read_back)

        # --- steps --------------------------------------------------------------------------------------------

        def _stop(self, operation: str, form: tables.BodyForm) -> None:
            response = api.stop(
                self.item["environment_id"], self.item["id"], content=form.content, headers=form.headers
            )
            self.stop_sent = True
            judge_stop(check, self._where, self, operation, form, response)

        def _judge_stopped_at(self, state: str, value: Any, what: str) -> None:
            judge_stopped_at(check, self._where, self, state, value, what)

        def _ack(self) -> None:
            expected = stop_model.outcome(stop_model.ACK, self.state)
            path = work_path(self.item["environment_id"], self.item["id"], "/ack")
            response = api.request("POST", path, role=SETUP)
            body = body_of(response)
            observed = (response.status_code, field_value(body, "state") if response.status_code == 200 else None)
            wanted = (expected.status, expected.state)
            self._side_effect_agrees(observed == wanted, "ack: (status, state)", wanted, observed)
            self.state = expected.after
            if response.status_code == 200 and isinstance(body, dict):
                self.baseline = body

        def _heartbeat(self, conditional: bool) -> None:
            expected = stop_model.outcome(stop_model.HEARTBEAT, self.state)
            params = {}
            if conditional:
                echo = self._heartbeat_precondition()
                if echo is not None:
                    params["expected_last_heartbeat"] = echo
            path = work_path(self.item["environment_id"], self.item["id"], "/heartbeat")
            response = api.request("POST", path, role=SETUP, params=params)
            body = body_of(response)
            observed = (response.status_code, field_value(body, "state") if response.status_code == 200 else None)
            wanted = (expected.status, expected.state)
            self._side_effect_agrees(observed == wanted, f"heartbeat {params or ''}: (status, state)", wanted, observed)
            if response.status_code == 200 and isinstance(field_value(body, "last_heartbeat"), str):
                self.last_heartbeat = body["last_heartbeat"]
            self.state = expected.after
            if response.status_code == 200:
                self._read_back()  # a heartbeat answers a heartbeat object: refresh what the item looks like

        def _heartbeat_precondition(self) -> str | None:
            """NO_HEARTBEAT for an item never heartbeated, the echo of our own last heartbeat, else none."""
            if self.last_heartbeat is not None:
                return self.last_heartbeat
            if self.baseline.get("latest_heartbeat_at") is None:
                return NO_HEARTBEAT
            return None  # heartbeated by the provisioner: how to echo that is undocumented, so go unconditional

        def _read_back(self) -> None:
            response = api.get(self.item["environment_id"], self.item["id"])
            body = body_of(response)
            observed = (response.status_code, field_value(body, "state"))
            wanted = (200, self.state)
            self._side_effect_agrees(observed == wanted, "GET: (status, state)", wanted, observed)
            if response.status_code != 200 or not isinstance(body, dict):
                return
            self._judge_stopped_at(self.state, field_value(body, "stopped_at"), "GET stopped_at")
            if self.stop_sent:
                for name in ("stop_requested_at", *tables.UNCHANGED_BY_STOP):
                    if name not in self.baseline:
                        continue
                    check.equal(
                        "STOP-RESP-PERSISTED",
                        self._where(f"GET {name}"),
                        self.baseline.get(name),
                        field_value(body, name),
                    )
            self.baseline = body

    for form in GRACEFUL_FORMS:
        setattr(WorkItemMachine, f"graceful_stop_{form.name.replace('-', '_')}", graceful_rule(form))
    machine = sourceless(WorkItemMachine, __name__)
    if batch.seed is not None:
        machine = seed(batch.seed)(machine)
    run_state_machine_as_test(machine, settings=hypothesis_settings(batch, settings))
    if harness_failures:
        raise harness_failures[0]
    if off_model and not check.checked:
        pytest.skip(
            "not verified: no item could be driven as the docs describe up to a stop (the ack and heartbeat cases "
            f"judge those answers); first: {off_model[0]}"
        )
