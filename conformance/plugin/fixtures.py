"""The suite's fixtures (`settings`, `check`, `api`, `provision`), registered by the package's pytest_configure
only for the plugin's own runs.

The plugin is loaded into every pytest run of an environment where the package is installed (its `pytest11` entry
point). Fixtures defined in the plugin's entry module would be global there: `settings` would collide with another
plugin's fixture of that name (pytest-django's, for one). So they live in this module, which the package does not
import at load time and registers as a plugin (before the session parses fixtures) in suite mode and the suite's
own self-test runs. They reach the run through its registered object in the stash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from conformance import checks
from conformance.client import SuiteClient
from conformance.config import Settings
from conformance.errors import ConfigurationError
from conformance.plugin import own_items, verdicts
from conformance.plugin._keys import RUN_KEY
from conformance.plugin.state import CaseState, RunState
from conformance.provisioners import case_metadata, make_provisioner


def _run_state(request: pytest.FixtureRequest) -> RunState:
    run = request.config.stash.get(RUN_KEY, None)
    if run is None:
        raise ConfigurationError("the conformance fixtures run only in suite mode (tests under conformance/)")
    return run.state


def _case_state(request: pytest.FixtureRequest) -> CaseState:
    run = request.config.stash.get(RUN_KEY, None)
    return verdicts.case_of(request.node, run.state if run is not None else None)


@pytest.fixture(scope="session", name="settings")
def settings(request: pytest.FixtureRequest) -> Settings:
    return _run_state(request).settings


@pytest.fixture(name="check")
def check(request: pytest.FixtureRequest) -> checks.Checker:
    return _case_state(request).checker


@pytest.fixture(name="api")
def api(request: pytest.FixtureRequest) -> SuiteClient:
    state = _run_state(request)
    assert state.redactor is not None
    return SuiteClient(state.settings, _case_state(request).record, state.redactor, state.limiter)


@pytest.fixture(name="provision")
def provision(request: pytest.FixtureRequest, api: SuiteClient) -> Iterator[Callable[..., dict[str, Any]]]:
    """`provision(state)`: a new item in that state. After the case, its live items are force-stopped: a target's
    queue stays short (the lifecycle provisioner's poll wades through every queued item), and a run killed later
    leaves less behind. What fails here is retried by the end-of-run cleanup."""
    state = _run_state(request)
    nodeid = request.node.nodeid
    ledger = state.ledger
    assert ledger is not None
    entries: list[dict[str, Any]] = []

    def created(environment_id: str, work_id: str) -> None:
        entries.append(ledger.record(environment_id, work_id, nodeid))

    provisioner = make_provisioner(state.settings, api, created, state.list_cursors, state.seen_work_ids)

    def provision_item(
        state_name: str, *, environment_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        environment = environment_id or state.settings.environment_id or ""
        return provisioner.provision(
            state_name, environment_id=environment, metadata=case_metadata(state.settings, nodeid, metadata)
        )

    yield provision_item
    if entries and not state.settings.embedded:
        own_items.clean_up(state, entries, final=False)
