"""What every hostile run must leave behind, asserted from outside (terminal, files, exit status, the emulator).

A `World` is one hostile target with items that existed before the run (in this environment, in another of the
same principal, and in another principal's), a working folder the run starts in, and the run's secrets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hostile import observe, tamper
from hostile.target import LIVE_STATES, HostileTarget, passthrough

# One transition case: provisions one active item and stops it gracefully (the item ends live: stopping). Two: and
# one that force-stops a queued item (so a run has more than one item to clean up, or is interrupted in the first).
ONE_CASE = "STOP-TR-LIVE-GRACEFUL-active-empty-object"
TWO_CASES = "STOP-TR-LIVE-GRACEFUL-active-empty-object or STOP-TR-FORCE-queued-force-true"
EXIT_OK, EXIT_FAILED, EXIT_CONFIGURATION = 0, 1, 4


@dataclass
class World:
    target: HostileTarget
    workdir: Path  # the run's current directory
    reports_dir: Path
    before: dict[str, dict[str, Any]] = field(default_factory=dict)  # pre-existing items, by ID
    extra_secrets: dict[str, str] = field(default_factory=dict)  # e.g. a hook URL's password
    planted: list[Path] = field(default_factory=list)  # user files that hold a secret on purpose

    @property
    def secrets(self) -> dict[str, str]:
        return {**self.target.ids.secrets(), **self.extra_secrets}

    def pre_existing(self, environment_id: str) -> str:
        """The ID of an item that existed before the run in `environment_id` (live)."""
        return next(i for i, item in self.before.items() if item["environment_id"] == environment_id)

    def run_suite(
        self,
        selection: str | None = ONE_CASE,
        *,
        env: Mapping[str, str | None] | None = None,
        args: Sequence[str] = (),
        reports_dir: Path | str | None = None,
        limit_s: float = observe.RUN_LIMIT_S,
    ) -> observe.Run:
        variables = {**self.target.suite_environment(), **(env or {})}
        environment = observe.clean_environment({k: v for k, v in variables.items() if v is not None})
        folder = self.reports_dir if reports_dir is None else reports_dir
        command = observe.suite_command(folder, selection, *args)
        reports = self.workdir / folder if not Path(folder).is_absolute() else Path(folder)
        return observe.run(command, env=environment, cwd=self.workdir, reports_dir=reports, limit_s=limit_s)

    def run_cli(self, arguments: Sequence[str], env: Mapping[str, str] | None = None) -> observe.Run:
        variables = {**self.target.suite_environment(), **(env or {})}
        return observe.run_cli(arguments, env=observe.clean_environment(variables), cwd=self.workdir)


# ------------------------------------------------------------------------------------------------------- assertions


def safe_run(world: World, run: observe.Run, *, status: int, reports: bool = True) -> None:
    """The guarantees of every run: the documented exit status, no INTERNALERROR, no secret anywhere, the four
    reports written, nothing pre-existing changed, nothing of the run left live (but the hook's leftovers)."""
    assert "INTERNALERROR" not in run.output, run.describe()
    assert run.returncode == status, f"expected exit status {status}: {run.describe()}"
    no_secret(world, run)
    if reports:
        all_reports(run)
    foreign_untouched(world)
    nothing_of_the_run_live(world)


def no_secret(world: World, run: observe.Run) -> None:
    found = observe.leaks(run.raw, "the terminal", world.secrets)
    found += observe.leaks_in_files([run.reports_dir, world.workdir], world.secrets, exclude=world.planted)
    assert not found, f"secrets left the process: {found}\n{run.describe()}"


def all_reports(run: observe.Run) -> None:
    missing = [name for name in observe.REPORTS if not (run.reports_dir / name).is_file()]
    assert not missing, f"reports not written: {missing}; {run.describe()}"
    assert run.summary() is not None, "summary.json is not a JSON object"


def foreign_untouched(world: World) -> None:
    changed = {}
    for work_id, item in world.before.items():
        now = world.target.get_item(item["environment_id"], work_id)
        if now != item:
            changed[work_id] = {"before": item, "after": now}
    assert not changed, f"items that existed before the run were changed: {changed}"


def nothing_of_the_run_live(world: World) -> None:
    """Every item that appeared during the run is stopped, but those the hook made and did not hand over honestly
    (the suite must reject those, and then leave them alone)."""
    skip = set(world.before) | world.target.hook_leftovers
    live = {i: item["state"] for i, item in world.target.snapshot().items() if i not in skip}
    live = {i: state for i, state in live.items() if state in LIVE_STATES}
    assert not live, f"items of the run left live: {live}"


def errors_not_fails(run: observe.Run, *, naming: str | None = None) -> None:
    """Every case is an error (never a FAIL, never a pass), in summary.json and junit.xml; `naming` (a regex-free
    word, case-insensitive) appears in each case's message."""
    cases = run.cases()
    assert cases, f"no case in summary.json: {run.describe()}"
    for case in cases:
        assert case.get("verdict") == "error", f"{case.get('nodeid')}: {case.get('verdict')}: {case.get('message')}"
        if naming:
            assert naming.lower() in str(case.get("message", "")).lower(), case.get("message")
    for name, verdicts in run.junit_verdicts().items():
        assert "fail" not in verdicts and "failure" not in verdicts, f"{name} is a FAIL in junit.xml: {verdicts}"


def never_addressed(world: World, work_ids: Iterable[str]) -> None:
    """No request the suite sent through the proxy names any of `work_ids` (raw or percent-decoded)."""
    named = []
    for request in world.target.server.logged():
        decoded = urllib.parse.unquote(request.target)
        for work_id in work_ids:
            if work_id in request.target or work_id in decoded:
                named.append(f"{request.method} {request.target}")
    assert not named, f"the suite sent requests about an item it must not touch: {named}"


def ledgers(reports_dir: Path) -> list[Path]:
    """Every ledger file a run left under its reports folder (however the run names or nests them: any JSON-lines
    file with "ledger" in its path below the folder)."""
    found = (path for path in reports_dir.rglob("*.jsonl") if path.is_file())
    return sorted(path for path in found if "ledger" in str(path.relative_to(reports_dir)))


def cleanup_all(world: World, reports_dir: Path) -> list[observe.Run]:
    """`qoder-conformance cleanup --ledger PATH` for every ledger the run left, as a user would after it."""
    return [world.run_cli(["cleanup", "--ledger", str(path)]) for path in ledgers(reports_dir)]


def run_repro_scripts(world: World, reports_dir: Path) -> list[Path]:
    """Run every repro script of the run with bash, its variables exported, against the target: what it does is
    the point (nothing from the server may execute), not whether it succeeds."""
    scripts = sorted(reports_dir.rglob("*.sh"))
    environment = observe.clean_environment(world.target.suite_environment())
    for script in scripts:
        subprocess.run(
            ["bash", str(script)], cwd=world.workdir, env=environment, capture_output=True, timeout=60, check=False
        )
    return scripts


def nothing_executed(marker: Path) -> None:
    """No file whose name starts with `marker`'s name exists: no payload that touches it ran."""
    touched = sorted(path.name for path in marker.parent.glob(marker.name + "*"))
    assert not touched, f"shell payloads from the server were executed: {touched}"


def interrupted_run(world: World, how: int, selection: str = TWO_CASES) -> observe.Run:
    """Start the suite, send it `how` (SIGINT / SIGKILL) while its first stop is in flight (the proxy carries the
    stop out at once but answers only after 30 s), and wait for it to end; the proxy passes through from the signal
    on."""
    world.target.tamper = tamper.hold(30)
    already = len(world.target.server.logged())  # an earlier run's stops in the same world do not count
    environment = observe.clean_environment(world.target.suite_environment())
    command = observe.suite_command(world.reports_dir, selection)
    process = subprocess.Popen(command, cwd=world.workdir, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    started = time.monotonic()
    try:
        while not any(r.path.endswith("/stop") for r in world.target.server.logged()[already:]):
            if process.poll() is not None or time.monotonic() - started > 60:
                pytest.fail(f"the run never reached a stop request: {process.communicate()[0]!r}")
            time.sleep(0.05)
        process.send_signal(how)
        world.target.tamper = passthrough  # what the interrupted run still sends (its cleanup) is answered at once
        output = process.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end within 60 s of {signal.Signals(how).name}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        world.target.tamper = passthrough
    wall_s = time.monotonic() - started
    return observe.Run(process.returncode, output.decode(errors="replace"), output, wall_s, world.reports_dir)
