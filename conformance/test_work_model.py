"""Model-based sequences over every operation of the matrix, each answer judged under its own endpoint's requirement.

A Hypothesis state machine provisions a fresh item (in each live state: queued, starting, active, stopping; carrying
two of the model's metadata keys), then drives a sequence of operations on it: ack, heartbeat (NO_HEARTBEAT while the
item has no heartbeat, then the exact echo of the last `last_heartbeat` it answered, or none at all for an
unconditional heartbeat), update metadata (a merge patch drawn from a small key pool: upserts and null deletes), GET,
graceful stop in each body form of `tables.BODY_FORMS` and force stop. `stop_model` says what each step answers and
which requirement says so; the machine keeps the expected state and metadata and the timestamps that are set once
(acknowledged_at, started_at, stopped_at). Steps the docs leave open are never generated: heartbeat on a stopping
item, force stop on a stopped item, update metadata on a stopped item (UPDATE-OPEN-STOPPED), a null delete of a key
the item does not have (UPDATE-DELETE-ABSENT, a SHOULD judged by its own case).

Every step but GET is the request under test followed by one read-back GET: the answer is judged under the step's
requirement (ACK-TR-QUEUED, HEARTBEAT-TR-FIRST, UPDATE-MERGE-UPSERT, STOP-TR-FORCE, ...) and the read-back under the
same requirement (they all say "in the answer and stored"; a stop's read-back under STOP-RESP-PERSISTED). A GET step
must show the item exactly as the last read showed it (GET-RESP-ITEM). Refusals (409 on ack of stopping/stopped, on
heartbeat of queued/stopped) are judged on their status only, and the item must read back untouched; the error type
and envelope are the per-endpoint cases' business.

Precise blame: once an answer disagrees with the model, the model no longer knows the item, so the example ends there
(nothing later in it is sent or judged) and the read-back of that step is skipped; a later step is never blamed for
an earlier divergence. A harness or provisioning failure is an error, never a FAIL.

Choosing a step: each step is one operation the docs define for the model state, picked by the example's own seeded
generator and shifted by a Hypothesis draw (see `step`); once the item is stopped the example takes two more steps
and ends (everything after is another refusal or the same stopped item).

Budget: deterministic by default (fixed seeds, their own: not test_stop_model's sequences), a third of
QODER_MODEL_EXAMPLES per start state (7 by default, in cases of at most 5) of at most QODER_MODEL_STEPS steps (8),
about 250 requests against the embedded emulator. `QODER_MODEL_EXAMPLES=200 QODER_MODEL_STEPS=20 pytest
conformance/test_work_model.py` searches longer; `QODER_MODEL_RANDOM=1` draws fresh sequences on each run. Failures
are not shrunk: each replay would provision new items on the target; a mismatch names the example and the steps that
led to it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from conformance import stop_model, tables
from conformance.checks import MISSING, field_value, parse_timestamp, same
from conformance.config import Settings
from conformance.errors import HarnessError
from conformance.expectations import body_of, expect_fields_unchanged
from conformance.model_runs import (
    FORCE_FORM,
    GRACEFUL_FORMS,
    STOP_REQUIREMENTS,
    Batch,
    hypothesis_settings,
    judge_stop,
    judge_stopped_at,
    parametrize_batches,
    sourceless,
)

# The patch pool: the model's own keys, never the run's marks (provisioners.case_metadata), which cleanup relies on.
METADATA_KEYS = ("model_a", "model_b", "model_c")
METADATA_VALUES = ("1", "2")
INITIAL_METADATA = {"model_a": "0", "model_b": "0"}  # so a null delete has something to delete from the start
JSON_HEADERS = {"Content-Type": "application/json"}
# What ack and update metadata may change; every other documented field must stay as it was.
UNCHANGED_BY_ACK = tuple(name for name in tables.DOCUMENTED_FIELDS if name not in ("state", "acknowledged_at"))
UNCHANGED_BY_UPDATE = tuple(name for name in tables.DOCUMENTED_FIELDS if name != "metadata")
UNTOUCHED_BY_REFUSAL = (*tables.UNCHANGED_BY_STOP, "state", "stop_requested_at", "stopped_at")
# Examples per start state: each example sends about twice as many requests per step as a Stop-model one (a read-back
# after every step), so a third of the Stop model's budget (over four start states, not three) keeps the plain run
# fast: about 250 requests.
EXAMPLES_SHARE = 3
# The operations a step chooses from (each where `stop_model.generable`), with the variant it sends.
OPERATIONS = (
    (stop_model.ACK, ""),
    (stop_model.HEARTBEAT, "conditional"),  # NO_HEARTBEAT or the echo of the last heartbeat, where there is one
    (stop_model.UPDATE, ""),
    (stop_model.GRACEFUL, ""),  # in one of the body forms of tables.BODY_FORMS that mean force=false
    (stop_model.GET, ""),
    (stop_model.HEARTBEAT, "unconditional"),
    (stop_model.FORCE, ""),
)
# Steps an example takes once its item is stopped: every later one is another refusal or the same stopped item, so the
# budget goes to more examples instead.
STEPS_WHEN_STOPPED = 2
# A patch: one to three of these (key, value) cells, a None value being a null delete.
PATCH_CELLS = tuple((key, value) for key in METADATA_KEYS for value in (*METADATA_VALUES, None))


def examples_per_start(settings: Settings) -> int:
    return max(1, -(-settings.model_examples // EXAMPLES_SHARE))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_batches(metafunc, examples_per_start, salt="work-model/", starts=tables.LIVE_STATES)


@pytest.mark.req(
    "ACK-RESP-OK",
    "ACK-TR-QUEUED",
    "ACK-RETRY-SAFE",
    "ACK-ERR-CONFLICT",
    "ACK-TS-ACKNOWLEDGED-AT",
    "ACK-OPEN-RETRY-ACKNOWLEDGED-AT",
    "HEARTBEAT-RESP-OK",
    "HEARTBEAT-TR-FIRST",
    "HEARTBEAT-TR-ACTIVE",
    "HEARTBEAT-NO-HEARTBEAT",
    "HEARTBEAT-ECHO",
    "HEARTBEAT-UNCONDITIONAL",
    "HEARTBEAT-ERR-CONFLICT",
    "HEARTBEAT-TS-STARTED-AT",
    "UPDATE-RESP-OK",
    "UPDATE-MERGE-UPSERT",
    "UPDATE-MERGE-DELETE",
    "UPDATE-MERGE-KEEP",
    "UPDATE-ONLY-METADATA",
    "GET-RESP-OK",
    "GET-RESP-ITEM",
    *STOP_REQUIREMENTS,
)
@pytest.mark.slow
def test_every_operation_follows_the_model(start: str, batch: Batch, settings, api, provision, check) -> None:
    # Hypothesis is imported when the case runs, not when this module is collected (see test_stop_model).
    from hypothesis import seed, strategies
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

    patches = strategies.lists(strategies.integers(min_value=0, max_value=len(PATCH_CELLS) - 1), min_size=1, max_size=3)

    harness_failures: list[HarnessError] = []
    examples = [0]

    def expect_set(requirement: str, what: str, value: Any) -> None:
        """A timestamp the step must set: no longer null. Whether it is a well-formed RFC 3339 time (or present at
        all) is the schema's business (judged by the per-endpoint cases), so one fault is blamed once."""
        if value is not MISSING:
            check.that(requirement, value is not None, what, "a timestamp", value)

    class WorkModelMachine(RuleBasedStateMachine):
        """One example: one fresh item and the operations sent to it; the model state mirrors the docs."""

        def __init__(self) -> None:
            super().__init__()
            examples[0] += 1
            self.example = examples[0]
            self.steps: list[str] = []
            self.item: dict[str, Any] = {}
            self.state = ""  # the model state
            self.metadata: dict[str, str] = {}  # the model metadata
            self.baseline: dict[str, Any] = {}  # the item as last seen (provisioned, an item answer or a GET)
            self.stopped_at: Any = None  # the first stopped_at an answer showed
            self.last_heartbeat: str | None = None  # the last_heartbeat of our own last accepted heartbeat
            self.diverged = False  # an answer disagreed with the model: the example judges nothing more
            self.steps_in_stopped = 0
            # The example's choices: fixed by the batch's seed and the example's number (fresh with QODER_MODEL_RANDOM).
            self.random = random.Random(None if batch.seed is None else f"{batch.seed}/{self.example}")

        # --- plumbing -----------------------------------------------------------------------------------------

        def _live(self) -> bool:
            stuck = self.state == "stopped" and self.steps_in_stopped >= STEPS_WHEN_STOPPED
            return bool(self.item) and not self.diverged and not harness_failures and not stuck

        def _where(self, detail: str) -> str:
            return f"example {self.example} [{' -> '.join(self.steps)}]: {detail}"

        def _run(self, step: str, action) -> None:
            """Run one step. A mismatch ends the example; a harness failure ends the run (re-raised afterwards)."""
            if not self._live():
                return
            self.steps.append(step)
            self.steps_in_stopped += self.state == "stopped"
            mark = len(check.mismatches)
            try:
                action()
            except HarnessError as failure:
                harness_failures.append(failure)
            self.diverged = len(check.mismatches) > mark

        def _agrees_since(self, mark: int) -> bool:
            """Whether the step judged so far agrees with the model (its read-back is judged only then)."""
            return len(check.mismatches) == mark

        def _call(self, endpoint: str, **kwargs: Any):
            return api.call(endpoint, self.item["environment_id"], self.item["id"], **kwargs)

        def _read_back(self, requirement: str, what: str) -> dict[str, Any] | None:
            """The read-back GET after a step: 200 with an item (GET-RESP-OK) in the model's state (`requirement`,
            the step's own: it says the step's effect is stored). Becomes the baseline."""
            response = api.get(self.item["environment_id"], self.item["id"])
            body = body_of(response)
            if not check.equal("GET-RESP-OK", self._where(f"GET after {what}: status"), 200, response.status_code):
                return None
            if not check.that("GET-RESP-OK", isinstance(body, dict), self._where(f"GET after {what}"), "an item", body):
                return None
            check.equal(requirement, self._where(f"GET after {what}: state"), self.state, field_value(body, "state"))
            self.baseline = body
            return body

        def _expect_untouched(self, requirement: str, what: str, before: dict[str, Any]) -> None:
            """After a refusal the item reads back as it was: every field a request could change but the lease's
            latest_heartbeat_at (the same fields as `expectations.expect_untouched`; the lease is read-side detail
            the heartbeat cases judge)."""
            stored = self._read_back(requirement, f"the refused {what}")
            if stored is not None:
                where = self._where(f"GET after the refused {what}: ")
                expect_fields_unchanged(check, requirement, before, stored, UNTOUCHED_BY_REFUSAL, where)

        # --- rules --------------------------------------------------------------------------------------------

        @initialize()
        def provision_item(self) -> None:
            if harness_failures:
                return
            try:
                self.item = provision(start, metadata=INITIAL_METADATA)
            except HarnessError as failure:
                harness_failures.append(failure)
                return
            self.steps.append(f"provision {start}")
            self.state = start
            self.baseline = dict(self.item)
            metadata = self.item.get("metadata")
            self.metadata = dict(metadata) if isinstance(metadata, dict) else {}

        @rule(pick=strategies.integers(min_value=0, max_value=255), data=strategies.data())
        def step(self, pick: int, data) -> None:
            """One operation the docs define for the model state: a uniform choice shifted by Hypothesis' `pick`.

            Hypothesis alone would pick badly on a small budget: it starts with its simplest draws (0) and sorts rules
            by argument count and name, so one rule per operation would mostly repeat the first one (ack) and hardly
            ever heartbeat a starting item. The example's own seeded generator (`self.random`) spreads the choices
            over every operation of every state the sequence reaches; Hypothesis' draws vary them further.
            """
            if not self._live():
                return  # provisioning failed or the example already diverged: nothing more is sent
            turn = pick + self.random.randrange(len(OPERATIONS) * len(PATCH_CELLS))
            operations = [operation for operation in OPERATIONS if stop_model.generable(operation[0], self.state)]
            operation, variant = operations[turn % len(operations)]
            if operation == stop_model.UPDATE:
                patch = self._patch(data.draw(patches), turn)
                self._run(f"update {json.dumps(patch, sort_keys=True)}", lambda: self._update(patch))
            elif operation == stop_model.HEARTBEAT:
                form, value = self._heartbeat_form(conditional=variant == "conditional")
                self._run(f"heartbeat ({form})", lambda: self._heartbeat(form, value))
            elif operation in stop_model.STOPS:
                form = FORCE_FORM if operation == stop_model.FORCE else GRACEFUL_FORMS[turn % len(GRACEFUL_FORMS)]
                self._run(f"stop {form.name}", lambda: self._stop(operation, form))
            elif operation == stop_model.ACK:
                self._run("ack", self._ack)
            else:
                self._run("GET", self._get)

        def _patch(self, picks: list[int], turn: int) -> dict[str, str | None]:
            """A merge patch from the pool; a null only for a key the item has (else UPDATE-DELETE-ABSENT's)."""
            patch: dict[str, str | None] = {}
            for index in picks:
                key, value = PATCH_CELLS[(index + turn) % len(PATCH_CELLS)]
                if value is not None or key in self.metadata:
                    patch[key] = value
            return patch

        # --- steps --------------------------------------------------------------------------------------------

        def _stop(self, operation: str, form: tables.BodyForm) -> None:
            mark = len(check.mismatches)
            response = api.stop(
                self.item["environment_id"], self.item["id"], content=form.content, headers=form.headers
            )
            answer = judge_stop(check, self._where, self, operation, form, response)
            if not self._agrees_since(mark):
                return
            stored = self._read_back("STOP-RESP-PERSISTED", "stop")
            if stored is None:
                return
            judge_stopped_at(check, self._where, self, self.state, field_value(stored, "stopped_at"), "GET stopped_at")
            for name in ("stop_requested_at", *tables.UNCHANGED_BY_STOP):
                if isinstance(answer, dict) and name in answer:
                    check.equal(
                        "STOP-RESP-PERSISTED", self._where(f"GET after stop: {name}"), answer[name], stored.get(name)
                    )

        def _ack(self) -> None:
            mark = len(check.mismatches)
            expected = stop_model.outcome(stop_model.ACK, self.state)
            before = self.baseline
            response = self._call("ack")
            if expected.status == stop_model.CONFLICT:
                if check.equal(expected.requirement, self._where("ack: status"), expected.status, response.status_code):
                    self._expect_untouched(expected.requirement, "ack", before)
                return
            body = body_of(response)
            if not check.equal("ACK-RESP-OK", self._where("ack: status"), 200, response.status_code):
                return
            requirement = expected.requirement
            if not check.equal(requirement, self._where("ack: state"), expected.state, field_value(body, "state")):
                return
            expect_fields_unchanged(check, requirement, before, body, UNCHANGED_BY_ACK, self._where("ack: "))
            acknowledged_at = field_value(body, "acknowledged_at")
            first = self.state == "queued"
            if first:
                self._expect_acknowledged_now(before, acknowledged_at)
            else:
                check.observe(
                    "ACK-OPEN-RETRY-ACKNOWLEDGED-AT",
                    self._where("acknowledged_at kept by a retried ack"),
                    same(before.get("acknowledged_at"), acknowledged_at),
                )
            self.state = expected.after
            if not self._agrees_since(mark):
                return
            stored = self._read_back(requirement, "ack")
            if stored is None:
                return
            where = self._where("GET after ack: ")
            expect_fields_unchanged(check, requirement, before, stored, UNCHANGED_BY_ACK, where)
            if parse_timestamp(acknowledged_at) is not None:
                check.equal(
                    "ACK-TS-ACKNOWLEDGED-AT" if first else requirement,
                    f"{where}acknowledged_at",
                    acknowledged_at,
                    field_value(stored, "acknowledged_at"),
                )

        def _expect_acknowledged_now(self, before: dict[str, Any], acknowledged_at: Any) -> None:
            """queued -> starting sets acknowledged_at: null before, a time after, not before the item's creation."""
            requirement = "ACK-TS-ACKNOWLEDGED-AT"
            check.equal(requirement, self._where("acknowledged_at before ack"), None, before.get("acknowledged_at"))
            expect_set(requirement, self._where("acknowledged_at after ack"), acknowledged_at)
            moment, created = parse_timestamp(acknowledged_at), parse_timestamp(before.get("created_at"))
            if moment is not None and created is not None:
                check.that(
                    requirement,
                    moment >= created,
                    self._where("acknowledged_at not before created_at"),
                    f">= {before['created_at']}",
                    acknowledged_at,
                )

        def _heartbeat_form(self, conditional: bool) -> tuple[str, str | None]:
            """The form of expected_last_heartbeat to send: always the current lease's, so never a 412 case.

            NO_HEARTBEAT only while the item shows no heartbeat and is queued or starting (the page's "first
            heartbeat" after ack); the echo of our own last heartbeat; otherwise (an item heartbeated by the
            provisioner: how to echo that is undocumented) unconditional.
            """
            if conditional and self.last_heartbeat is not None:
                return "echo", self.last_heartbeat
            no_heartbeat_yet = self.baseline.get("latest_heartbeat_at") is None
            if conditional and no_heartbeat_yet and self.state in ("queued", "starting"):
                return "no-heartbeat", stop_model.NO_HEARTBEAT
            return "unconditional", None

        def _heartbeat(self, form: str, value: str | None) -> None:
            mark = len(check.mismatches)
            expected = stop_model.outcome(stop_model.HEARTBEAT, self.state)
            before = self.baseline
            params = {"expected_last_heartbeat": value} if value is not None else None
            response = self._call("heartbeat", params=params)
            what = f"heartbeat ({form})"
            if expected.status == stop_model.CONFLICT:
                if check.equal(
                    expected.requirement, self._where(f"{what}: status"), expected.status, response.status_code
                ):
                    self._expect_untouched(expected.requirement, "heartbeat", before)
                return
            body = body_of(response)
            # Accepted at all (a 2xx) is the form's requirement; that it is 200 exactly is HEARTBEAT-RESP-OK's.
            accepted_by = stop_model.HEARTBEAT_FORMS[form]
            status = response.status_code
            if not check.that(accepted_by, 200 <= status < 300, self._where(f"{what}: status"), 200, status):
                return
            if not check.equal("HEARTBEAT-RESP-OK", self._where(f"{what}: status"), 200, status):
                return
            requirement = expected.requirement
            if not check.equal(requirement, self._where(f"{what}: state"), expected.state, field_value(body, "state")):
                return
            last_heartbeat = field_value(body, "last_heartbeat")
            self.last_heartbeat = last_heartbeat if isinstance(last_heartbeat, str) else None
            self.state = expected.after
            if not self._agrees_since(mark):
                return
            stored = self._read_back(requirement, "heartbeat")
            if stored is None:
                return
            started_at = field_value(stored, "started_at")
            if before.get("started_at") is None:
                where = self._where("GET after the first heartbeat: started_at")
                expect_set("HEARTBEAT-TS-STARTED-AT", where, started_at)
            else:
                where = self._where("GET after a later heartbeat: started_at (unchanged)")
                check.equal("HEARTBEAT-TS-STARTED-AT", where, before["started_at"], started_at)

        def _update(self, patch: dict[str, str | None]) -> None:
            mark = len(check.mismatches)
            before = self.baseline
            wanted = stop_model.merged(self.metadata, patch)
            content = json.dumps({"metadata": patch}).encode("utf-8")
            response = self._call("update_metadata", content=content, headers=JSON_HEADERS)
            body = body_of(response)
            if not check.equal("UPDATE-RESP-OK", self._where("update: status"), 200, response.status_code):
                return
            self._expect_merged(patch, wanted, body, "update: ")
            expect_fields_unchanged(
                check, "UPDATE-ONLY-METADATA", before, body, UNCHANGED_BY_UPDATE, self._where("update: ")
            )
            self.metadata = wanted
            if not self._agrees_since(mark):
                return
            stored = self._read_back("UPDATE-ONLY-METADATA", "update")
            if stored is None:
                return
            self._expect_merged(patch, wanted, stored, "GET after update: ")
            where = self._where("GET after update: ")
            expect_fields_unchanged(check, "UPDATE-ONLY-METADATA", before, stored, UNCHANGED_BY_UPDATE, where)

        def _expect_merged(self, patch: dict[str, str | None], wanted: dict[str, str], answer: Any, what: str) -> None:
            """Upserted keys hold their new values, deleted keys are gone, every other key is as the model has it."""
            metadata = field_value(answer, "metadata")
            found = metadata if isinstance(metadata, dict) else {}
            for key, value in patch.items():
                where = self._where(f"{what}metadata[{key!r}]")
                if value is None:
                    check.that("UPDATE-MERGE-DELETE", key not in found, where, "absent", found.get(key))
                else:
                    check.equal("UPDATE-MERGE-UPSERT", where, value, found.get(key, MISSING))
            for key in sorted({*wanted, *found} - set(patch)):
                where = self._where(f"{what}metadata[{key!r}] (kept)")
                check.equal("UPDATE-MERGE-KEEP", where, wanted.get(key, MISSING), found.get(key, MISSING))

        def _get(self) -> None:
            """GET as the request under test: the item exactly as the last answer or read showed it."""
            response = self._call("get")
            body = body_of(response)
            if not check.equal("GET-RESP-OK", self._where("GET: status"), 200, response.status_code):
                return
            if not check.that("GET-RESP-OK", isinstance(body, dict), self._where("GET"), "an item", body):
                return
            where = self._where("GET: ")
            expect_fields_unchanged(check, "GET-RESP-ITEM", self.baseline, body, tables.DOCUMENTED_FIELDS, where)
            self.baseline = body

    machine = sourceless(WorkModelMachine, __name__)
    if batch.seed is not None:
        machine = seed(batch.seed)(machine)
    run_state_machine_as_test(machine, settings=hypothesis_settings(batch, settings))
    if harness_failures:
        raise harness_failures[0]
