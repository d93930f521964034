"""Guarantees the suite already gave before the hostile kit, kept covered end to end through the kit.

An interrupted run (SIGINT, SIGKILL) followed by `qoder-conformance cleanup` leaves nothing live and every
pre-existing item untouched; a redirect to another origin (from the stop or from the hook) is never followed;
`<script>` and other markup in server strings stay inert in report.html; shell metacharacters and line breaks in
an ID never execute when the repro script runs.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hostile import expect, tamper
from hostile.expect import World
from hostile.server import KitServer, Reply, Request, Whole
from hostile.target import Hook, HostileTarget


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_run_followed_by_cleanup_leaves_nothing_live(world: World, how: int) -> None:
    interrupted = expect.interrupted_run(world, how)
    expect.no_secret(world, interrupted)

    ledgers = expect.ledgers(world.reports_dir)
    assert ledgers, f"the interrupted run left no ledger under {world.reports_dir}: {interrupted.describe()}"
    for cleanup in expect.cleanup_all(world, world.reports_dir):
        expect.no_secret(world, cleanup)
    expect.foreign_untouched(world)
    expect.nothing_of_the_run_live(world)


def _redirecting_hook(location: str) -> Hook:
    def hook(_request: Request, _target: HostileTarget) -> Reply:
        return Whole(307, b"", extra_headers={"Location": location})

    return hook


@pytest.mark.parametrize("where", ["stop", "hook"])
def test_a_redirect_to_another_origin_is_never_followed(world: World, where: str) -> None:
    trap = KitServer(lambda _request: Whole(200, b"{}"))
    try:
        location = trap.origin + "/collect"
        if where == "stop":
            world.target.tamper = tamper.redirect(location)
        else:
            world.target.hook = _redirecting_hook(location)

        run = world.run_suite(expect.ONE_CASE)

        assert not trap.logged(), f"the suite followed a redirect to another origin: {trap.logged()}"
        expect.safe_run(world, run, status=expect.EXIT_FAILED)
        assert [r for r in world.target.server.logged() if r.path.endswith("/stop")] or where == "hook"
    finally:
        trap.stop()


def test_markup_in_server_strings_stays_inert_in_report_html(world: World) -> None:
    world.target.tamper = tamper.script_strings()

    run = world.run_suite(expect.TWO_CASES)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    page = (run.reports_dir / "report.html").read_text(encoding="utf-8")
    assert tamper.SCRIPT_MARKER in page, "the server's strings are not in the report: nothing was tested"
    live = [markup for markup in tamper.SCRIPTS if markup.startswith(("<", '"', "</")) and markup in page]
    assert not live, f"server markup reached report.html unescaped: {live}"


def test_shell_metacharacters_in_an_id_never_execute_in_repro_scripts(world: World, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    world.target.tamper = tamper.shell_id(str(marker))

    run = world.run_suite(expect.TWO_CASES)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    scripts = expect.run_repro_scripts(world, run.reports_dir)
    assert scripts, f"no repro script was written, so nothing was tested: {run.describe()}"
    expect.nothing_executed(marker)
