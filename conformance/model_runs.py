"""What the model-based cases share: their budget in deterministic batches, Hypothesis' settings, and the judging of
a stop answer against `stop_model` (conformance/test_stop_model.py and conformance/test_work_model.py both send
stops and judge them the same way, under the Stop page's requirements).

Nothing here sends a request: the cases send, then hand the answer to `judge_stop`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import pytest

from conformance import stop_model, tables
from conformance.checks import MISSING, Checker, field_value, parse_timestamp
from conformance.config import Settings
from conformance.expectations import body_of
from conformance.plugin import run_settings

if TYPE_CHECKING:
    import hypothesis

START_STATES = ("queued", "starting", "active")
GRACEFUL_FORMS = tuple(form for form in tables.BODY_FORMS if not form.force)
FORCE_FORM = next(form for form in tables.BODY_FORMS if form.force)
# Everything a stop that "returns the existing stopped item" must give back as it was.
STOPPED_ITEM_FIELDS = (*tables.UNCHANGED_BY_STOP, "state", "latest_heartbeat_at", "stop_requested_at", "stopped_at")

# Examples per case: each start state's budget is split into cases of at most this many, so xdist can spread them
# (one long case would set the run's length however many workers there are). Each case has its own fixed seed.
EXAMPLES_PER_CASE = 5

# The Stop requirements a model case judges a stop answer under (judge_stop): both model cases carry them.
STOP_REQUIREMENTS = (
    "STOP-TR-QUEUED",
    "STOP-TR-LIVE-GRACEFUL",
    "STOP-TR-STOPPING-CONFIRM",
    "STOP-TR-STOPPED-IDEMPOTENT",
    "STOP-TR-FORCE",
    "STOP-BODY-OPTIONAL",
    "STOP-BODY-GRACEFUL",
    "STOP-BODY-FORCE",
    "STOP-RESP-OK",
    "STOP-RESP-PERSISTED",
    "STOP-RESP-UNCHANGED-FIELDS",
    "STOP-TS-STOPPED-AT",
    "STOP-TS-STOP-REQUESTED",
)


@dataclass(frozen=True)
class Batch:
    """One case's share of a start state's examples."""

    number: int
    of: int
    examples: int
    seed: int | None  # None: fresh random sequences (QODER_MODEL_RANDOM)

    def __str__(self) -> str:
        return f"batch{self.number}of{self.of}"


def batches(start: str, settings: Settings, examples: int | None = None, salt: str = "") -> list[Batch]:
    """`examples` (default: the run's model_examples) in batches of at most EXAMPLES_PER_CASE, each with a seed
    fixed by the start state, the batch number and `salt` (so two modules do not draw the same sequences)."""
    total = settings.model_examples if examples is None else examples
    count = -(-total // EXAMPLES_PER_CASE)
    sizes = [total // count + (i < total % count) for i in range(count)]
    return [
        Batch(i + 1, count, size, None if settings.model_random else zlib.crc32(f"{salt}{start}/{i + 1}".encode()))
        for i, size in enumerate(sizes)
    ]


def parametrize_batches(
    metafunc: pytest.Metafunc,
    examples: Callable[[Settings], int] | None = None,
    salt: str = "",
    starts: tuple[str, ...] = START_STATES,
) -> None:
    """A module's `pytest_generate_tests`: one case per (start state, batch) for a case taking `start` and `batch`."""
    if "batch" in metafunc.fixturenames:
        settings = run_settings(metafunc.config)
        count = None if examples is None else examples(settings)
        cases = [(start, batch) for start in starts for batch in batches(start, settings, count, salt)]
        metafunc.parametrize(("start", "batch"), cases, ids=[f"{start}-{batch}" for start, batch in cases])


def hypothesis_settings(batch: Batch, settings: Settings) -> hypothesis.settings:
    from hypothesis import HealthCheck, Phase
    from hypothesis import settings as hypothesis_settings

    return hypothesis_settings(
        max_examples=batch.examples,
        stateful_step_count=settings.model_steps,
        derandomize=False,  # the batch's seed fixes the sequences, unless it is None (QODER_MODEL_RANDOM)
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


def sourceless(machine: type, module: str) -> type:
    """The machine as a subclass whose source Hypothesis cannot look up.

    Hypothesis hashes a state machine's source to key its example database (off here: `database=None`, and our
    seeds are explicit). Before Python 3.13, `inspect.getsource` of a class re-parses its whole module on every
    call: 0.25 s of a run for the 12 model cases. A class of a module that is not loaded has no source to look
    up, so Hypothesis hashes its name instead.
    """
    return type(machine.__name__, (machine,), {"__module__": f"{module}.<model case>"})


def graceful_rule(form: tables.BodyForm):
    """A machine rule sending a graceful stop in `form` (the machine's `_stop`), wherever the docs say what that does.

    One rule per body form, not one rule drawing the form: Hypothesis switches whole rules on and off per example
    (swarm testing) and draws early values towards the first choice, so a drawn form would mostly be the first one;
    separate rules give every form its share even with a small budget.
    """
    from hypothesis.stateful import precondition, rule

    @precondition(lambda self: self._live() and stop_model.generable(stop_model.GRACEFUL, self.state))
    @rule()
    def graceful_stop(self) -> None:
        self._run(f"stop {form.name}", lambda: self._stop(stop_model.GRACEFUL, form))

    return graceful_stop


class ItemView(Protocol):
    """What one example knows of its item: the model state, the item as last seen, the first stopped_at shown."""

    state: str
    baseline: dict[str, Any]
    stopped_at: Any


def judge_stop(
    check: Checker,
    where: Callable[[str], str],
    view: ItemView,
    operation: str,
    form: tables.BodyForm,
    response: httpx.Response,
) -> Any:
    """Judge one stop answer against the model for `view.state`, then move `view` on. Returns the body."""
    expected = stop_model.outcome(operation, view.state)
    row = tables.transition(operation == stop_model.FORCE, view.state)
    body = body_of(response)
    observed = field_value(body, "state")
    check.equal("STOP-RESP-OK", where("status"), 200, response.status_code)
    check.equal(row.requirement, where("state"), expected.state, observed)
    if form.requirement != row.requirement:
        other = tables.transition(not row.force, row.current).result
        misread = other not in (tables.UNSPECIFIED, expected.state) and observed == other
        check.that(
            form.requirement,
            not misread,
            where(f"{form.name} read as force={str(form.force).lower()}"),
            expected.state,
            f"{observed!r}, the force={str(not form.force).lower()} result",
        )
    if expected.unchanged:
        for name in STOPPED_ITEM_FIELDS:
            check.equal(
                row.requirement,
                where(f"{name} (the existing stopped item)"),
                view.baseline.get(name, MISSING),
                field_value(body, name),
            )
    else:
        for name in tables.UNCHANGED_BY_STOP:
            check.equal(
                "STOP-RESP-UNCHANGED-FIELDS",
                where(f"{name} (unchanged by a stop)"),
                view.baseline.get(name, MISSING),
                field_value(body, name),
            )
    judge_stopped_at(check, where, view, expected.after, field_value(body, "stopped_at"), "stopped_at")
    if expected.after == "stopping" and view.state in ("starting", "active"):
        value = field_value(body, "stop_requested_at")
        check.that(
            "STOP-TS-STOP-REQUESTED",
            parse_timestamp(value) is not None,
            where("stop_requested_at after a graceful stop"),
            "an RFC 3339 timestamp",
            value,
        )
    view.state = expected.after
    if isinstance(body, dict) and response.status_code == 200:
        view.baseline = body
    return body


def judge_stopped_at(
    check: Checker, where: Callable[[str], str], view: ItemView, state: str, value: Any, what: str
) -> None:
    """stopped_at: null while live; a timestamp once stopped; the same instant ever after."""
    if not stop_model.is_stopped(state):
        check.equal("STOP-TS-STOPPED-AT", where(f"{what} while {state}"), None, value)
        return
    if view.stopped_at is None and parse_timestamp(value) is not None:
        view.stopped_at = value
    if view.stopped_at is None:
        check.that("STOP-TS-STOPPED-AT", False, where(f"{what} once stopped"), "an RFC 3339 timestamp", value)
    else:
        check.equal("STOP-TS-STOPPED-AT", where(f"{what} (set once)"), view.stopped_at, value)
