"""The suite's pytest plugin (`conformance.plugin`): the always-on hooks here, the suite-mode run as one object.

Loaded for every pytest run of an environment where the package is installed (its `pytest11` entry point; the
root conftest.py and `-p conformance.plugin` name the same module). This module holds only what every run gets:
the options, the markers, and pytest_configure's decisions:

- the plugin's own runs (options.is_own_run: suite mode, runs rooted at the repository, `-p conformance.plugin`)
  also get the requirement-ID hooks (requirements.py) and the fixtures (fixtures.py), each registered as a plugin;
  any other project stays untouched (its own `req` marker, its own `settings` fixture);
- suite mode (options.is_suite_mode: the collected paths lie inside the `conformance/` package, as paths or as
  `--pyargs conformance[.module]`, or `--qoder-suite`) builds the run's one ConformanceSession (session.py),
  stores it in the stash (RUN_KEY) and registers it; its methods are the run's hooks (emulator, preflight,
  verdicts, reports, exit status). pytest_unconfigure unregisters it.

The other modules: _keys.py (stash keys), state.py (the run's and a case's state), verdicts.py (phase reports to
case verdicts via judge.py; a failure's text is its mismatch lines), xdist.py (what crosses to and from workers),
own_items.py (cleanup of the run's items). The names below stay importable from `conformance.plugin`.
"""

from __future__ import annotations

import importlib

import pytest

from conformance.plugin._keys import CASE_KEY, RUN_KEY
from conformance.plugin.options import (
    FLAG_VARIABLES,
    MARKERS,
    add_options,
    exempt_libraries_from_assertion_rewriting,
    is_own_run,
    is_suite_mode,
    module_path,
    rate_limit_line,
    register_markers,
)
from conformance.plugin.requirements import requirement_ids, strongest_level
from conformance.plugin.session import (
    EMBEDDED_FAILED_EXIT_STATUS,
    PREFLIGHT_EXIT_STATUS,
    SESSION_PLUGIN,
    ConformanceSession,
    run_settings,
    run_state,
)
from conformance.plugin.state import CLEANUP_OUTCOMES, CaseState, RunState, embedded_secrets, run_secrets
from conformance.plugin.verdicts import HARNESS_PREFIX, ConformanceFailure, case_record, exchange_lines, failure_text

__all__ = [
    "CASE_KEY",
    "CLEANUP_OUTCOMES",
    "EMBEDDED_FAILED_EXIT_STATUS",
    "FLAG_VARIABLES",
    "HARNESS_PREFIX",
    "MARKERS",
    "PREFLIGHT_EXIT_STATUS",
    "RUN_KEY",
    "SESSION_PLUGIN",
    "CaseState",
    "ConformanceFailure",
    "ConformanceSession",
    "RunState",
    "case_record",
    "embedded_secrets",
    "exchange_lines",
    "failure_text",
    "is_own_run",
    "is_suite_mode",
    "module_path",
    "rate_limit_line",
    "requirement_ids",
    "run_secrets",
    "run_settings",
    "strongest_level",
]

# Plugin modules registered for the plugin's own runs only (see the module docstring).
OWN_RUN_PLUGINS = ("conformance.plugin.requirements", "conformance.plugin.fixtures")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    if is_own_run(config):
        exempt_libraries_from_assertion_rewriting(config)  # other projects keep pytest's default
        register_own_run_plugins(config)
    if not is_suite_mode(config):
        return
    run = ConformanceSession(config, run_state(config))
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(run, SESSION_PLUGIN)
    run.begin()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        del config.stash[RUN_KEY]
        config.pluginmanager.unregister(run)


def register_own_run_plugins(config: pytest.Config) -> None:
    """Registered before the session parses fixtures and collects; once per run (the names guard a second
    pytest_configure of the same config)."""
    for name in OWN_RUN_PLUGINS:
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(importlib.import_module(name), name)
