"""Ownership: the suite touches only what the run created, and blames the server only for the server's doing.

Attack class 1 of the issue (and 2, the fair baseline). The hostile hook answers with an item that is not a new item
of this run as asked: a pre-existing one (of this environment, another environment, another principal's), an ID
that traverses to another environment's item, an ID with a line break or shell metacharacters, an item in the wrong
environment / state / without the run's metadata. Each answer must be a provisioning error naming the hook (never a
FAIL); no request may be sent about a rejected item, during the run or by `qoder-conformance cleanup` after it;
every pre-existing item is exactly as it was (read directly from the emulator); no payload executes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hostile import expect, hook
from hostile.expect import World
from hostile.target import Hook

# (hook, the IDs of pre-existing items it names) from the world and a marker path for shell payloads.
HookChoice = Callable[[World, Path], tuple[Hook, list[str]]]


def _existing(which: str) -> HookChoice:
    def choose(world: World, _marker: Path) -> tuple[Hook, list[str]]:
        environment = getattr(world.target.ids, which)
        work_id = world.pre_existing(environment)
        return hook.existing_item(environment, work_id), [work_id]

    return choose


def _traversal(world: World, _marker: Path) -> tuple[Hook, list[str]]:
    environment = world.target.ids.other_environment
    work_id = world.pre_existing(environment)
    return hook.traversal_to(environment, work_id), [work_id]


ATTACKS: dict[str, HookChoice] = {
    "pre-existing-item-of-this-environment": _existing("environment"),
    "pre-existing-item-of-another-environment": _existing("other_environment"),
    "pre-existing-item-of-another-principal": _existing("foreign_environment"),
    "path-traversal-to-another-environment": _traversal,
    "id-with-a-line-break": lambda _world, _marker: (hook.newline_id(), []),
    "id-with-shell-metacharacters": lambda _world, marker: (hook.shell_metacharacters_id(str(marker)), []),
    "item-in-the-wrong-environment": lambda _world, _marker: (hook.wrong_environment(), []),
    "item-in-the-wrong-state": lambda _world, _marker: (hook.wrong_state(), []),
    "item-without-the-run-s-metadata": lambda _world, _marker: (hook.without_run_metadata(), []),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hook_answer_that_is_not_a_new_item_of_the_run_is_rejected_and_never_touched(
    world: World, tmp_path: Path, attack: str
) -> None:
    marker = tmp_path / "pwned"
    world.target.hook, named = ATTACKS[attack](world, marker)

    run = world.run_suite(expect.ONE_CASE)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    expect.errors_not_fails(run, naming="hook")
    untouchable = named + sorted(world.target.hook_leftovers)
    expect.never_addressed(world, untouchable)
    cleanup = (run.summary() or {}).get("cleanup") or {}
    counted = str([cleanup.get("stopped"), cleanup.get("already_stopped")])
    assert not any(work_id in counted for work_id in untouchable), f"cleanup counted it as stopped: {cleanup}"

    # After the run, the user's cleanup of its ledger(s) must not touch them either.
    for after in expect.cleanup_all(world, run.reports_dir):
        expect.no_secret(world, after)
    expect.foreign_untouched(world)
    expect.never_addressed(world, untouchable)
    expect.run_repro_scripts(world, run.reports_dir)
    expect.nothing_executed(marker)


# ------------------------------------------------------------------------------------------------- a fair baseline


@pytest.mark.parametrize(
    "make_hook", [hook.partial_item, hook.other_created_at], ids=["partial-item", "different-created-at"]
)
def test_a_discrepancy_caused_by_the_hook_is_a_provisioning_error_never_a_fail(
    world: World, make_hook: Callable[[], Hook]
) -> None:
    """The emulator is conforming; only the hook's answer is off. Comparing the stop answer with that answer
    ("unchanged fields") would blame the server: the case must be an error, and no case a FAIL."""
    world.target.hook = make_hook()

    run = world.run_suite(expect.ONE_CASE)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    expect.errors_not_fails(run, naming="hook")
