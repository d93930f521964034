"""Trust: the suite trusts neither a ledger line, nor a previous run's files, nor a setting it does not know.

Attack class "trust" of the issue: `qoder-conformance cleanup` sends the PAT only to the configured target (a ledger
line naming another origin is skipped); after a SIGKILLed run the previous run's certificate no longer verifies, and
the cleanup of the killed run stops its items and nothing of an older run's ledger; a misspelled QODER_* variable,
a non-finite or absurd number, and a reports path that is a file are exit 4 before any item is created.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from hostile import expect, observe
from hostile.expect import World
from hostile.server import KitServer, Request, Whole
from hostile.target import HOOK_PATH


def _ledger_line(base_url: str, environment_id: str, work_id: str, run: str) -> str:
    entry = {"at": "2026-01-01T00:00:00.000Z", "base_url": base_url, "created_by": "an older run",
             "environment_id": environment_id, "run": run, "work_id": work_id}  # fmt: skip
    return json.dumps(entry, sort_keys=True) + "\n"


def test_cleanup_sends_the_token_only_to_the_configured_target(world: World) -> None:
    trap = KitServer(lambda _request: Whole(404, b'{"type": "error"}'))
    try:
        environment = world.target.ids.environment
        work_id = world.pre_existing(environment)
        ledger = world.workdir / "ledger.jsonl"
        ledger.write_text(_ledger_line(trap.origin, environment, work_id, "run-elsewhere"))

        cleanup = world.run_cli(["cleanup", "--ledger", str(ledger)])

        reached = [f"{r.method} {r.target} (authorization: {'yes' if 'authorization' in r.headers else 'no'})"
                   for r in trap.logged()]  # fmt: skip
        assert not reached, f"cleanup sent requests to an origin named only by a ledger line: {reached}"
        assert "INTERNALERROR" not in cleanup.output and "Traceback" not in cleanup.output, cleanup.describe()
        expect.no_secret(world, cleanup)
        expect.foreign_untouched(world)
        expect.never_addressed(world, [work_id])
    finally:
        trap.stop()


# A whole run, small but complete (every MUST is exercised, so its summary certifies): about 8 s through the kit.
COMPLETE_BUT_SMALL = {
    "QODER_CONCURRENCY": "2",
    "QODER_ROUNDS": "1",
    "QODER_MODEL_EXAMPLES": "5",
    "QODER_MODEL_STEPS": "2",
}


def test_a_killed_run_leaves_no_certificate_behind(world: World) -> None:
    """A complete passing run certifies; the next run in the same folder is SIGKILLed in its first case: the
    folder must then hold no summary.json that still verifies (the run invalidated it when it started)."""
    previous = world.run_suite(None, env=COMPLETE_BUT_SMALL)
    assert previous.returncode == 0, f"guard: the previous run must pass: {previous.describe()}"
    certified = world.run_cli(["verify", str(world.reports_dir / "summary.json")])
    assert certified.returncode == 0 and certified.output.startswith("CERTIFIED"), f"guard: {certified.describe()}"

    killed = expect.interrupted_run(world, signal.SIGKILL)

    expect.no_secret(world, killed)
    verify = world.run_cli(["verify", str(world.reports_dir / "summary.json")])
    assert verify.returncode != 0 and not verify.output.startswith("CERTIFIED"), (
        f"after the SIGKILLed run, the previous run's certificate still verifies: {verify.describe()}"
    )


def _new_ledgers(reports_dir: Path, planted_text: str) -> list[Path]:
    """The ledgers the run wrote: every ledger file but the older run's (wherever the run may have moved it), and
    that one too if the run appended to it."""
    return [path for path in expect.ledgers(reports_dir) if path.read_text() != planted_text]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_cleanup_of_an_interrupted_run_touches_only_that_run_s_items(world: World, how: int) -> None:
    """An older run's ledger (naming a live item that is not this run's) lies in the reports folder; the run is
    interrupted in its first case; `qoder-conformance cleanup` of the interrupted run's ledger stops the run's items,
    and neither reports nor touches the older run's."""
    world.reports_dir.mkdir(parents=True)
    environment = world.target.ids.environment
    older = world.pre_existing(environment)
    planted = world.reports_dir / "ledger.jsonl"
    planted_text = _ledger_line(world.target.origin, environment, older, "an-older-run")
    planted.write_text(planted_text)

    interrupted = expect.interrupted_run(world, how)

    expect.no_secret(world, interrupted)
    if how == signal.SIGINT:
        expect.all_reports(interrupted)  # an interrupted session still finishes with its reports
    ledgers = _new_ledgers(world.reports_dir, planted_text)
    assert ledgers, f"the interrupted run left no ledger of its own under {world.reports_dir}"
    for ledger in ledgers:
        cleanup = world.run_cli(["cleanup", "--ledger", str(ledger)])
        expect.no_secret(world, cleanup)
        assert older not in cleanup.output, f"cleanup of the killed run reports an older run's item: {cleanup.output}"
    expect.foreign_untouched(world)
    expect.nothing_of_the_run_live(world)


# ---------------------------------------------------------------------------------------------------- configuration


def _hook_calls(world: World) -> list[Request]:
    return [r for r in world.target.server.logged() if r.path == HOOK_PATH]


@pytest.mark.parametrize(
    ("variable", "value", "meant"),
    [
        ("QODER_EXPIRED_PATT", "pt-kit-typo", "QODER_EXPIRED_PAT"),
        ("QODER_ENVIROMENT_ID", "env_typo", "QODER_ENVIRONMENT_ID"),
        ("QODER_TIMOUT", "3", "QODER_TIMEOUT"),
    ],
)
def test_a_misspelled_variable_is_exit_4_with_a_hint(world: World, variable: str, value: str, meant: str) -> None:
    run = world.run_suite(expect.ONE_CASE, env={variable: value})

    expect.safe_run(world, run, status=expect.EXIT_CONFIGURATION, reports=False)
    assert variable in run.output, f"the message does not name {variable}: {run.describe()}"
    assert re.search(re.escape(meant) + r"(?![A-Z_])", run.output), f"no hint naming {meant}: {run.describe()}"
    assert not _hook_calls(world), "an item was created although the configuration is invalid"


def test_variables_of_qoder_s_other_tools_are_not_misspellings(world: World) -> None:
    run = world.run_suite(expect.ONE_CASE, env={"QODER_MANAGED_BASE_URL": world.target.origin + "/api/v1/cloud"})

    expect.safe_run(world, run, status=expect.EXIT_OK)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QODER_TIMEOUT", "inf"),
        ("QODER_TIMEOUT", "nan"),
        ("QODER_TIMEOUT", "1e300"),
        ("QODER_WRITE_RATE", "inf"),
    ],
)
def test_a_non_finite_or_absurd_number_is_exit_4(world: World, variable: str, value: str) -> None:
    run = world.run_suite(expect.ONE_CASE, env={variable: value})

    expect.safe_run(world, run, status=expect.EXIT_CONFIGURATION, reports=False)
    assert variable in run.output, f"the message does not name {variable}: {run.describe()}"
    assert not _hook_calls(world), "an item was created although the configuration is invalid"


def test_a_reports_path_that_is_a_file_is_exit_4_before_any_item_exists(world: World) -> None:
    occupied = world.workdir / "reports-is-a-file"
    occupied.write_text("the user's file\n")
    before = observe.fingerprint([occupied])

    run = world.run_suite(expect.ONE_CASE, reports_dir=occupied.name)

    expect.safe_run(world, run, status=expect.EXIT_CONFIGURATION, reports=False)
    assert not _hook_calls(world), "an item was created before the reports folder was found unusable"
    assert observe.fingerprint([occupied]) == before, "the file in the way was changed"
