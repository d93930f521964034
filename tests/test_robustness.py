"""The suite against targets that break: every affected case is an error (never a FAIL), the run ends, reports exist.

Why a subprocess: the promise is about a whole run as a user starts it (`python -m pytest` at the repo root,
configured through QODER_* variables): that it ends within a bound, exits non-zero, writes junit.xml (and the other
reports as far as it got), says clearly what went wrong, and never prints or writes the token. Only a real run in
its own process, against real misbehaving sockets, shows that; the servers live in `misbehaving_servers.py`.

Two kinds of target:
- dead: refuses connections, hangs, answers an HTML 502, answers invalid JSON, or resets, for every request. The run
  may stop at preflight with one clear message (no cascade of errors), or run the cases and error each of them.
- broken only under test: the hook and GET work, the stop path hangs / 502s / resets; then preflight and
  provisioning succeed and every selected case must be an *error* that names the problem, within the timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from misbehaving_servers import (
    BAD_GATEWAY,
    DEEP_JSON,
    HANG,
    HOOK_PATH,
    INVALID_JSON,
    RESET,
    Action,
    Drip,
    FakeTarget,
    Flood,
    MisbehavingServer,
    always,
    closed_port,
    echo_authorization,
    json_answer,
)

from conformance.reporting import canary

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PAT = "pt-robustness-" + secrets.token_hex(16)  # unique per session: any occurrence in output is a leak
ENVIRONMENT_ID = "env_" + "0" * 30 + "9a"
TIMEOUT_S = 1  # QODER_TIMEOUT: the per-request bound every error must respect
RUN_LIMIT_S = 120  # a run that takes longer than this has hung
CASE_LIMIT_S = 3 * TIMEOUT_S + 1.5  # provisioning + one timed-out request + slack on a loaded 2-core machine
# A few stop cases on an active item: small and fast. The model cases are left out: they also ack and heartbeat,
# which the fake targets do not serve.
SELECTION = "STOP-TR-LIVE-GRACEFUL and active and not model"

# What a clear message names, per problem (case-insensitive).
REFUSED = r"refused|could not connect|cannot connect|connect(ion)? (error|failed)"
TIMED_OUT = r"timed? ?out|timeout|did not answer|no (answer|response) within"
WITHIN_THE_TIMEOUT = rf"\b{TIMEOUT_S}(\.0)? ?s(ec(ond)?s?)?\b"  # a timeout message names the bound it applied
BAD_GATEWAY_WORDS = r"502|bad gateway|html"
NOT_JSON = r"json"
WAS_RESET = r"reset|closed|disconnect|aborted|without (a )?response"


@dataclass
class SuiteRun:
    returncode: int
    output: str  # stdout and stderr
    wall_s: float
    reports_dir: Path
    peak_rss_mb: float | None = None  # the run's high-water mark of resident memory (VmHWM), where /proc has it

    def file(self, name: str) -> Path:
        return self.reports_dir / name

    def summary(self) -> dict[str, Any] | None:
        path = self.file("summary.json")
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_suite(
    base_url: str, reports_dir: Path, selection: str = SELECTION, extra: tuple[str, ...] = (), **variables: str
) -> SuiteRun:
    """Run the conformance suite as a user would, pointed at `base_url` through the hook provisioner."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("QODER_", "PYTEST_"))}
    env.update(
        QODER_BASE_URL=base_url,
        QODER_PAT=PAT,
        QODER_ENVIRONMENT_ID=ENVIRONMENT_ID,
        QODER_PROVISIONER="hook",
        QODER_HOOK_URL=base_url + HOOK_PATH,
        QODER_TIMEOUT=str(TIMEOUT_S),
        **variables,
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--reports-dir={reports_dir}"]
    command += ["-k", selection, *extra]
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        peak = _watch_memory(process)
        wall_s = time.monotonic() - started
        out.seek(0)
        output = out.read()
    if process.returncode is None:
        pytest.fail(f"the suite run hung: no exit within {RUN_LIMIT_S} s; output so far:\n{output}")
    return SuiteRun(process.returncode, output, wall_s, reports_dir, peak)


def _watch_memory(process: subprocess.Popen[str]) -> float | None:
    """Wait for the run (at most RUN_LIMIT_S, then kill it), sampling its VmHWM: the kernel's high-water mark, so
    the last sample before exit is the peak however short the spike was."""
    deadline = time.monotonic() + RUN_LIMIT_S
    peak: float | None = None
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            process.returncode = None  # type: ignore[assignment]
            return peak
        with contextlib.suppress(OSError, ValueError):
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak or 0.0, int(line.split()[1]) / 1024)
        time.sleep(0.05)
    return peak


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    return tmp_path / "reports"


# --------------------------------------------------------------------------------------------------- assertions


def assert_contained(run: SuiteRun, problem: str, record_property: Any) -> None:
    """Everything a broken target must not be able to do to a run."""
    record_property("wall_s", round(run.wall_s, 2))
    print(f"wall time {run.wall_s:.1f} s, exit {run.returncode}")
    assert "INTERNALERROR" not in run.output, run.output
    assert run.returncode != 0, f"a run against a broken target must not succeed:\n{run.output}"
    assert_no_secret(run)
    junit = run.file("junit.xml")
    assert junit.is_file(), f"junit.xml was not written to {run.reports_dir}:\n{run.output}"
    assert_no_fail_in_junit(junit)
    # The harness writes its reports even when preflight stops the run.
    for name in ("summary.json", "report.html"):
        assert run.file(name).is_file(), f"{name} was not written:\n{run.output}"

    summary = run.summary()
    erred = [case for case in (summary or {}).get("cases", []) if case["verdict"] == "error"]
    if summary is not None:
        verdicts = {case["nodeid"]: case["verdict"] for case in summary["cases"]}
        assert summary["counts"]["cases"]["fail"] == 0, verdicts
        assert "fail" not in verdicts.values(), verdicts
        assert "pass" not in verdicts.values(), f"nothing can pass against a broken target: {verdicts}"
    if erred:
        # The cases ran: each names the problem in its own message.
        for case in erred:
            assert re.search(problem, case["message"], re.IGNORECASE), (
                f"{case['nodeid']}: the error does not say what went wrong: {case['message']!r}"
            )
    else:
        # The run stopped before the cases (preflight): one clear message, no cascade of errors.
        assert re.search(problem, run.output, re.IGNORECASE), f"no clear message naming the problem:\n{run.output}"
        assert run.output.lower().count("traceback") <= 1, f"a cascade of errors instead of one message:\n{run.output}"


def assert_no_secret(run: SuiteRun) -> None:
    assert PAT not in run.output, "the token appeared in the terminal output"
    assert "secret canary" not in run.output, f"the canary found (and removed) a leaked token:\n{run.output}"
    # Terminal and files, in every encoding the canary knows (base64, URL-encoded, Basic...).
    hits = canary.scan_text(run.output, {"QODER_PAT": PAT}) + canary.scan([run.reports_dir], {"QODER_PAT": PAT})
    assert not hits, [hit.line() for hit in hits]


def assert_no_fail_in_junit(junit: Path) -> None:
    root = ElementTree.parse(junit).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        assert case.find("failure") is None, f"{name} is a FAIL in junit.xml; a broken target must give errors"
        verdicts = [p.get("value") for p in case.iter("property") if p.get("name") == "verdict"]
        assert "fail" not in verdicts, f"{name} carries verdict=fail"


def assert_cases_errored_in_time(run: SuiteRun, problem: str) -> None:
    """The target worked until the request under test: the run reached the cases, and each one errored."""
    summary = run.summary()
    assert summary is not None, f"summary.json was not written:\n{run.output}"
    assert run.file("report.html").is_file()
    cases = summary["cases"]
    assert cases, f"no case was selected by {SELECTION!r}:\n{run.output}"
    for case in cases:
        assert case["verdict"] == "error", f"{case['nodeid']}: {case['verdict']}: {case['message']}"
        assert re.search(problem, case["message"], re.IGNORECASE), case["message"]
    durations = case_durations(run)
    slow = {nodeid: seconds for nodeid, seconds in durations.items() if seconds > CASE_LIMIT_S}
    assert not slow, f"cases took longer than {CASE_LIMIT_S} s with QODER_TIMEOUT={TIMEOUT_S}: {slow}"


def case_durations(run: SuiteRun) -> dict[str, float]:
    """Per-case durations from junit.xml (the summary does not carry them)."""
    root = ElementTree.parse(run.file("junit.xml")).getroot()
    return {
        f"{case.get('classname')}::{case.get('name')}": float(case.get("time", 0)) for case in root.iter("testcase")
    }


# -------------------------------------------------------------------------------------------------- dead targets


def test_connection_refused(reports_dir: Path, record_property: Any) -> None:
    run = run_suite(closed_port(), reports_dir)
    assert_contained(run, REFUSED, record_property)


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        pytest.param(HANG, TIMED_OUT, id="hangs"),
        pytest.param(BAD_GATEWAY, BAD_GATEWAY_WORDS, id="html-502"),
        pytest.param(INVALID_JSON, NOT_JSON, id="invalid-json"),
        pytest.param(RESET, WAS_RESET, id="resets"),
    ],
)
def test_dead_target(action: Action, problem: str, reports_dir: Path, record_property: Any) -> None:
    with MisbehavingServer(always(action)) as server:
        run = run_suite(server.base_url, reports_dir)
    assert_contained(run, problem, record_property)
    if action is HANG:
        # Every request waits at most QODER_TIMEOUT; a run that stopped at preflight needs a handful of them.
        assert run.wall_s < 60, f"the run took {run.wall_s:.0f} s against a hanging target"
        assert re.search(WITHIN_THE_TIMEOUT, run.output), f"the message does not say how long it waited:\n{run.output}"


# ------------------------------------------------------------------------------- broken only under the request


@pytest.mark.parametrize(
    ("on_stop", "problem"),
    [
        pytest.param(HANG, TIMED_OUT, id="stop-hangs"),
        pytest.param(BAD_GATEWAY, BAD_GATEWAY_WORDS, id="stop-html-502"),
        pytest.param(RESET, WAS_RESET, id="stop-resets"),
    ],
)
def test_stop_path_breaks_after_provisioning(
    on_stop: Action, problem: str, reports_dir: Path, record_property: Any
) -> None:
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=on_stop)
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, reports_dir)
        hooks = [r for r in server.requests if r.path == HOOK_PATH]
        stops = [r for r in server.requests if r.path.endswith("/stop")]
    assert hooks, f"the fake target's hook was never called, so nothing was tested:\n{run.output}"
    assert stops, f"no stop request reached the fake target:\n{run.output}"
    assert_contained(run, problem, record_property)
    assert_cases_errored_in_time(run, problem)
    # Four cases, each one timed-out stop at most, plus as many cleanup stops: well within a bound.
    assert run.wall_s < 30, f"the run took {run.wall_s:.0f} s"
    if on_stop is HANG:
        for case in run.summary()["cases"]:
            assert re.search(WITHIN_THE_TIMEOUT, case["message"]), case["message"]


@pytest.mark.parametrize(
    ("on_hook", "problem"),
    [
        pytest.param(HANG, TIMED_OUT, id="hook-hangs"),
        pytest.param(BAD_GATEWAY, BAD_GATEWAY_WORDS, id="hook-html-502"),
        pytest.param(RESET, WAS_RESET, id="hook-resets"),
    ],
)
def test_hook_breaks(on_hook: Action, problem: str, reports_dir: Path, record_property: Any) -> None:
    """Preflight passes, provisioning breaks: each case is a setup error, and no stop is ever sent."""
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=HANG, on_hook=on_hook)
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, reports_dir)
        hooks = [r for r in server.requests if r.path == HOOK_PATH]
        stops = [r for r in server.requests if r.path.endswith("/stop")]
    assert hooks, f"the hook was never called:\n{run.output}"
    assert not stops, "a stop was sent although no item was provisioned"
    assert_contained(run, problem, record_property)
    assert_cases_errored_in_time(run, problem)


def test_fake_target_is_usable(tmp_path: Path) -> None:
    """Guards the test above: with a stop that answers, the same fake target lets the cases get past provisioning.

    Without this, a fake target the harness rejects (say, at preflight) would make every "broken stop" test pass
    for the wrong reason; here the stop answers a well-formed 200, so no case may be an error.
    """
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=RESET)

    def answering_stop(request: Any) -> Action:
        action = target(request)
        if action is RESET:
            item_id = request.path.rsplit("/", 2)[-2]
            item = dict(target.items[item_id], state="stopping", stop_requested_at=target.items[item_id]["created_at"])
            target.items[item_id] = item
            return json_answer(200, item)
        return action

    with MisbehavingServer(answering_stop) as server:
        run = run_suite(server.base_url, tmp_path / "reports", selection="STOP-TR-LIVE-GRACEFUL and active and empty")
    summary = run.summary()
    assert summary is not None, run.output
    verdicts = {case["nodeid"]: (case["verdict"], case["message"]) for case in summary["cases"]}
    assert verdicts, run.output
    assert all(verdict != "error" for verdict, _ in verdicts.values()), verdicts


# -------------------------------------------------------------------------------------------- hostile answers

REPORTS = ("junit.xml", "summary.json", "summary.md", "report.html")
TOO_LARGE = r"larger than the cap"
TOO_DEEP = r"nested deeper than"


@pytest.mark.parametrize(
    ("on_stop", "problem"),
    [
        pytest.param(Drip(pause_s=2.0), TIMED_OUT, id="stop-drips-a-byte-every-2s"),
        pytest.param(Flood(total=200 * 1024**2), TOO_LARGE, id="stop-sends-200MB"),
        pytest.param(DEEP_JSON, TOO_DEEP, id="stop-sends-20000-deep-json"),
    ],
)
def test_hostile_answers_are_errors_within_bounds_and_every_report_is_written(
    on_stop: Action, problem: str, reports_dir: Path, record_property: Any
) -> None:
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=on_stop)
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, reports_dir)
        stops = [r for r in server.requests if r.path.endswith("/stop")]
    assert stops, f"no stop request reached the target:\n{run.output}"
    assert_contained(run, problem, record_property)
    assert_cases_errored_in_time(run, problem)
    assert all(run.file(name).is_file() for name in REPORTS), sorted(p.name for p in reports_dir.iterdir())
    assert run.wall_s < 60, f"the run took {run.wall_s:.0f} s"
    record_property("peak_rss_mb", run.peak_rss_mb)
    if run.peak_rss_mb is not None:
        assert run.peak_rss_mb < 500, f"peak memory {run.peak_rss_mb:.0f} MB"
    assert "RecursionError" not in run.output and "MemoryError" not in run.output


def test_an_echoed_token_and_terminal_escapes_never_reach_the_terminal_nor_user_files(
    tmp_path: Path, record_property: Any
) -> None:
    """The server echoes the Authorization header (with ANSI/OSC escapes) into the compared fields: the FAIL is
    shown with the token redacted and escapes visible, under `pytest -l`; the reports are written (redacted, so
    the canary has nothing to remove); the user's files in the shared reports folder are left as they were."""
    folder = tmp_path / "project"  # the user's folder, used as --reports-dir (like `--reports-dir=.`)
    users = {".env": f"QODER_PAT={PAT}\n", "qoder-conformance.toml": f'pat = "{PAT}"\n', "repro/mine.sh": "echo\n"}
    for name, text in users.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    stamps = {name: (folder / name).stat().st_mtime_ns for name in users}
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=echo_authorization)
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, folder, extra=("-l", "-v"))
    record_property("wall_s", round(run.wall_s, 2))
    assert run.returncode == 1, run.output  # the server's answer is non-conforming: FAIL, not an error
    assert "FAILED" in run.output and "${QODER_PAT}" in run.output, run.output
    assert PAT not in run.output and not canary.scan_text(run.output, {"QODER_PAT": PAT})
    assert "\x1b" not in run.output and "\\x1b" in run.output, "control bytes must be shown as escapes"
    assert "secret canary" not in run.output, run.output
    for name in REPORTS:
        assert (folder / name).is_file(), name
        assert not canary.scan([folder / name], {"QODER_PAT": PAT}), name
    for name, text in users.items():
        assert (folder / name).read_text() == text and (folder / name).stat().st_mtime_ns == stamps[name], name


def test_a_reports_path_that_is_a_file_stops_the_run_before_any_request(tmp_path: Path) -> None:
    a_file = tmp_path / "reports"
    a_file.write_text("not a folder\n")
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=HANG)
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, a_file)
        requests = list(server.requests)
    assert run.returncode == 4, run.output
    assert "is not a folder" in run.output and requests == [], run.output
    assert a_file.read_text() == "not a folder\n"


def test_a_misspelt_variable_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    run = run_suite(closed_port(), tmp_path / "reports", QODER_EXPIRED_PATT="pt-x")
    assert run.returncode == 4, run.output
    assert "did you mean QODER_EXPIRED_PAT?" in run.output


def test_a_hostile_hook_answer_never_costs_the_reports(reports_dir: Path, record_property: Any) -> None:
    """The hook answers an ID holding a line break and control bytes (once a crash at cleanup): whatever the suite
    makes of it (a provisioning error, a failed cleanup), the run ends with its four reports and no INTERNALERROR."""
    item = dict(json.loads(json_answer(201, {}).body) or {})
    item.update(id="work_abc\r\nX-Evil: 1\x1b[2J", type="work", environment_id=ENVIRONMENT_ID, state="active")
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=HANG, on_hook=json_answer(201, item))
    with MisbehavingServer(target) as server:
        run = run_suite(server.base_url, reports_dir)
    record_property("wall_s", round(run.wall_s, 2))
    assert "INTERNALERROR" not in run.output and run.returncode not in (0, 3), run.output
    assert "\x1b" not in run.output, "control bytes must be shown as escapes"
    assert all(run.file(name).is_file() for name in REPORTS), run.output
    assert_no_secret(run)
    assert_no_fail_in_junit(run.file("junit.xml"))


def test_an_end_of_session_step_that_raises_is_reported_and_the_next_steps_run() -> None:
    """`ConformanceSession.guarded` (unit): the exception becomes a redacted, escaped harness-error note and a
    non-zero exit."""
    from types import SimpleNamespace

    from conformance import plugin
    from conformance.config import Settings
    from conformance.evidence import Redactor

    state = plugin.RunState(settings=Settings(), controller=True, runs_cases=True, started_at="now")
    state.redactor = Redactor({"QODER_PAT": PAT})
    session = SimpleNamespace(exitstatus=0)
    ran: list[str] = []

    def boom() -> None:
        raise RecursionError(f"deep answer {PAT} \x1b[31m")

    run = plugin.ConformanceSession(SimpleNamespace(), state)  # type: ignore[arg-type]
    run.guarded(session, "cleanup of the run's items", boom)  # type: ignore[arg-type]
    run.guarded(session, "writing the reports", lambda: ran.append("reports"))  # type: ignore[arg-type]
    assert ran == ["reports"] and session.exitstatus == 1
    (problem,) = state.problems
    assert "cleanup of the run's items failed: RecursionError" in problem and "${QODER_PAT}" in problem
    assert PAT not in problem and "\x1b" not in problem and "\\x1b" in problem


def test_reports_are_written_even_when_the_case_records_cannot_be_used(tmp_path: Path) -> None:
    """A record that breaks the report builder still leaves summary.json (uncertifiable, naming the failure),
    report.html and summary.md behind."""
    from types import SimpleNamespace

    from conformance import plugin
    from conformance.config import Settings
    from conformance.evidence import Redactor
    from conformance.reporting import verify

    settings = Settings(reports_dir=tmp_path)
    state = plugin.RunState(settings=settings, controller=True, runs_cases=False, started_at="now")
    state.redactor = Redactor({"QODER_PAT": PAT})
    state.cases["x"] = {"nodeid": "x", "unexpected_field": object()}  # CaseRecord(**case) raises TypeError
    config = SimpleNamespace(getoption=lambda name, default=None: False, option=SimpleNamespace(xmlpath=None))
    session = SimpleNamespace(exitstatus=0, config=config)
    plugin.ConformanceSession(config, state).pytest_sessionfinish(session, 0)  # type: ignore[arg-type]
    assert session.exitstatus == 1
    assert all((tmp_path / name).is_file() for name in ("summary.json", "summary.md", "report.html")), state.problems
    document = json.loads((tmp_path / "summary.json").read_text())
    assert any("writing the reports failed: TypeError" in problem for problem in document["record_problems"])
    assert verify.problems(document)


def test_a_killed_run_leaves_no_certifiable_summary_behind(reports_dir: Path) -> None:
    """SIGKILL after the run started: the earlier run's summary.json is already replaced by an in-progress marker,
    which `qoder-conformance verify` refuses."""
    target = FakeTarget(pat=PAT, environment_id=ENVIRONMENT_ID, on_stop=HANG)
    with MisbehavingServer(target) as server:
        run_suite(server.base_url, reports_dir)
        earlier = json.loads((reports_dir / "summary.json").read_text())
        assert "digest" in earlier  # a complete summary of the earlier run
        env = {name: value for name, value in os.environ.items() if not name.startswith(("QODER_", "PYTEST_"))}
        env.update(
            QODER_BASE_URL=server.base_url,
            QODER_PAT=PAT,
            QODER_ENVIRONMENT_ID=ENVIRONMENT_ID,
            QODER_HOOK_URL=server.base_url + HOOK_PATH,
            QODER_TIMEOUT="30",  # the stop hangs: the run is surely still going when it is killed
        )
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--reports-dir={reports_dir}"]
        seen = len(server.requests)
        process = subprocess.Popen([*command, "-k", SELECTION], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + RUN_LIMIT_S
            # Killed once its first stop is under way (the request under test hangs for up to 30 s).
            while not any(r.path.endswith("/stop") for r in server.requests[seen:]) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait()
    verified = subprocess.run(
        [sys.executable, "-m", "conformance", "verify", str(reports_dir / "summary.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 1 and "did not finish" in verified.stdout, verified.stdout + verified.stderr
