"""Hangs, size and depth: every request has a total deadline and a size cap, JSON decoding cannot blow the stack, and
the session always ends with its four reports, its items cleaned, and no secret out.

Attack class "hangs/size/depth" of the issue. The tampering proxy answers every stop (the request under test and
cleanup's force stops) by dripping one byte every 2 s, with a 200 MB body, with a body without end, or with JSON
nested 20,000 deep. The proxy forwards each stop to the emulator first, so the items really move: what is left live
afterwards is what the suite failed to clean up. The suite's process runs under a 3 GB address-space limit (so an
unbounded run dies instead of eating the shared machine), and its peak RSS is measured from a fresh parent process.
"""

from __future__ import annotations

import pytest

from hostile import expect, hook, tamper
from hostile.expect import World

PEAK_RSS_LIMIT_MB = 500
DRIP_RUN_LIMIT_S = 60  # a deadline-bound run needs about 15 s (QODER_TIMEOUT=5: the stop, then cleanup)


def test_a_dripping_server_is_cut_off_by_a_total_deadline(world: World) -> None:
    """Each read gets a byte within QODER_TIMEOUT (5 s), so only a deadline for the whole request can end it."""
    world.target.tamper = tamper.drip(2.0)

    run = world.run_suite(expect.ONE_CASE, limit_s=DRIP_RUN_LIMIT_S)

    print(f"drip run: {run.wall_s:.1f} s")
    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    expect.errors_not_fails(run)


@pytest.mark.parametrize("attack", ["200-MB-stop-answer", "endless-stop-answer", "200-MB-hook-answer"])
def test_a_huge_or_endless_body_is_capped_in_bounded_memory(world: World, attack: str) -> None:
    if attack == "200-MB-stop-answer":
        world.target.tamper = tamper.huge_body()
    elif attack == "endless-stop-answer":
        world.target.tamper = tamper.endless_body()
    else:
        world.target.hook = hook.huge_answer()

    run = world.run_suite(expect.ONE_CASE)

    print(f"peak RSS of the suite: {run.peak_rss_mb:.0f} MB, {run.wall_s:.1f} s")
    assert run.peak_rss_mb is not None and run.peak_rss_mb < PEAK_RSS_LIMIT_MB, (
        f"the suite peaked at {run.peak_rss_mb:.0f} MB (limit {PEAK_RSS_LIMIT_MB} MB); {run.describe()}"
    )
    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    expect.errors_not_fails(run)


@pytest.mark.parametrize("reads", [False, True], ids=["in-stop-answers", "in-stop-answers-and-reads-after-a-stop"])
def test_deeply_nested_json_cannot_blow_the_stack(world: World, reads: bool) -> None:
    """20,000 nested arrays in every stop answer (and, in the second variant, in every GET of an item once it was
    stopped, so cleanup's own read gets it too): the cases end as FAIL or error (never pass), cleanup runs to the end
    and leaves nothing live, the reports are written, and no RecursionError (a blown stack) shows anywhere."""
    world.target.tamper = tamper.deep_json(20_000, reads=reads)

    run = world.run_suite(expect.TWO_CASES)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    verdicts = {case["nodeid"]: case["verdict"] for case in run.cases()}
    assert len(verdicts) == 2 and set(verdicts.values()) <= {"fail", "error"}, verdicts
    assert "RecursionError" not in run.output, run.describe()
