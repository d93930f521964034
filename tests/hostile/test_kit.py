"""Guards of the kit itself: with the honest hook and no tampering, the same run passes and leaves nothing live.

Without this, a kit the suite rejects for an unrelated reason (say, at preflight) would make every attack test pass
or fail for the wrong reason.
"""

from __future__ import annotations

from hostile import expect
from hostile.expect import World


def test_an_honest_target_passes_through_the_kit(world: World) -> None:
    run = world.run_suite(expect.TWO_CASES)
    expect.safe_run(world, run, status=expect.EXIT_OK)
    verdicts = {case["nodeid"]: case["verdict"] for case in run.cases()}
    assert len(verdicts) == 2 and set(verdicts.values()) == {"pass"}, verdicts
    hook_calls = [r for r in world.target.server.logged() if r.path == "/_kit/hook"]
    stops = [r for r in world.target.server.logged() if r.path.endswith("/stop")]
    assert len(hook_calls) == 2 and stops, "the suite did not go through the kit"
    print(f"wall {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")
