"""What crosses between the xdist controller and its workers, and in which shape.

To the workers (workerinput): the run id, the start time and the embedded emulator's config (its tokens: one
canary for all processes). Back to the controller (workeroutput): each worker's cleanup outcome and its session
problems. Case records travel on the teardown reports themselves (verdicts.finish).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.plugin.state import CLEANUP_OUTCOMES, RunState


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller: it distributes the cases and runs none itself."""
    if hasattr(config, "workerinput"):
        return False
    return getattr(config.option, "dist", "no") != "no" and bool(getattr(config.option, "numprocesses", 0))


def from_controller(config: pytest.Config) -> dict[str, Any] | None:
    """What the controller sent this worker, or None in the controller or a sole process."""
    return getattr(config, "workerinput", None)


def to_worker(workerinput: dict[str, Any], state: RunState) -> None:
    workerinput["qoder_run_id"] = state.settings.run_id
    workerinput["qoder_started_at"] = state.started_at
    workerinput["qoder_emulator_config"] = state.emulator_config


def to_controller(config: pytest.Config, state: RunState) -> None:
    """In a worker: hand the cleanup outcome and the problems to the controller (no-op elsewhere)."""
    if hasattr(config, "workeroutput"):
        config.workeroutput["qoder_cleanup"] = state.cleanup
        config.workeroutput["qoder_problems"] = list(state.problems)


def merge_from_worker(workeroutput: Any, state: RunState) -> None:
    """In the controller: a finished worker's problems and cleanup outcome join the run's (validated: a crashed
    worker sends nothing, or something else)."""
    if not isinstance(workeroutput, dict):
        return
    state.problems += [str(problem) for problem in workeroutput.get("qoder_problems") or []]
    outcome = workeroutput.get("qoder_cleanup")
    if not isinstance(outcome, dict):
        return
    for key in CLEANUP_OUTCOMES:
        state.cleanup[key] = state.cleanup.get(key, []) + list(outcome.get(key, []))
