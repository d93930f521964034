"""The plugin inside real pytest runs (pytester): markers and keywords, unknown IDs, verdicts, JUnit, exit status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
markers =
    req(*ids): requirement IDs
    must: MUST
    should: SHOULD
    unspecified: UNSPECIFIED
junit_family = xunit1
"""

SELECTION = """
import pytest

@pytest.mark.req("STOP-TR-QUEUED")
def test_a_must():
    pass

@pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.req("STOP-OPEN-FORCE-TYPE"), id="F-TYPE")])
def test_a_should(x):
    pass

@pytest.mark.req("STOP-OPEN-FORCE-NULL")
def test_unspecified():
    pass

@pytest.mark.req("CONV-JSON", "CONV-TS-UTC")
def test_a_convention():
    pass
"""

VERDICTS = """
import pytest
from conformance.errors import TargetUnreachable

@pytest.mark.req("STOP-TR-QUEUED")
def test_pass(check):
    check.equal("STOP-TR-QUEUED", "state", "stopped", "stopped")

@pytest.mark.req("STOP-TR-QUEUED")
def test_fail(check):
    check.equal("STOP-TR-QUEUED", "state", "stopped", "queued")

@pytest.mark.req("STOP-OPEN-FORCE-TYPE")
def test_warn(check):
    check.equal("STOP-OPEN-FORCE-TYPE", "status", 400, 200)

@pytest.mark.req("STOP-OPEN-FORCE-NULL")
def test_recorded(check):
    check.observe("STOP-OPEN-FORCE-NULL", "status", 200)

@pytest.mark.req("STOP-TR-QUEUED")
def test_harness_error(check):
    raise TargetUnreachable("target unreachable: GET http://x: no answer within 10 s")

@pytest.mark.req("STOP-TR-QUEUED")
def test_not_verified(settings):
    pytest.skip("not verified: QODER_EXPIRED_PAT is not configured")

@pytest.mark.req("STOP-TR-QUEUED")
def test_provision_and_stop(settings, provision, api, check):
    item = provision("queued")
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers={"Content-Type": "application/json"})
    check.equal("STOP-TR-QUEUED", "state", "stopped", response.json()["state"])
    assert item["metadata"]["qoder_conformance"] == "1" and item["metadata"]["run"] == settings.run_id
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Runs that send HTTP go through runpytest_subprocess: pytester's in-process runs restore sys.modules after
    each run, and a re-imported httpcore no longer matches httpx's exception map."""
    import os

    for name in list(os.environ):
        if name.startswith("QODER_"):
            monkeypatch.delenv(name)
    pytester.makeini(INI)
    return pytester


def collected(result: pytest.RunResult) -> list[str]:
    return [line.split("::")[-1] for line in result.outlines if "::" in line]


def test_level_markers_and_id_keywords_select(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_selection=SELECTION)
    plugin = ("-p", "conformance.plugin", "--collect-only", "-q")
    assert collected(suite.runpytest(*plugin, "-m", "must")) == ["test_a_must", "test_a_convention"]
    assert collected(suite.runpytest(*plugin, "-m", "should")) == ["test_a_should[F-TYPE]"]
    assert collected(suite.runpytest(*plugin, "-m", "unspecified")) == ["test_unspecified"]
    assert collected(suite.runpytest(*plugin, "-k", "STOP-TR-QUEUED")) == ["test_a_must"]
    assert collected(suite.runpytest(*plugin, "-k", "STOP-OPEN-FORCE-NULL")) == ["test_unspecified"]


def test_endpoint_markers_select(suite: pytest.Pytester) -> None:
    """Each case carries the marker of every endpoint its IDs belong to: `-m conventions`, `-m "stop and must"`."""
    suite.makepyfile(test_selection=SELECTION)
    plugin = ("-p", "conformance.plugin", "--collect-only", "-q")
    assert collected(suite.runpytest(*plugin, "-m", "conventions")) == ["test_a_convention"]
    assert collected(suite.runpytest(*plugin, "-m", "stop and must")) == ["test_a_must"]
    assert collected(suite.runpytest(*plugin, "-m", "stop and not must")) == [
        "test_a_should[F-TYPE]",
        "test_unspecified",
    ]
    assert collected(suite.runpytest(*plugin, "-m", "heartbeat")) == []


def test_every_endpoint_marker_is_registered(suite: pytest.Pytester) -> None:
    """Registered from catalogue.ENDPOINTS by the plugin itself, so `--strict-markers` accepts `-m heartbeat`."""
    from conformance import catalogue

    result = suite.runpytest("-p", "conformance.plugin", "--markers")
    for endpoint in catalogue.ENDPOINTS.values():
        result.stdout.fnmatch_lines([f"@pytest.mark.{endpoint}: *"])


def test_unknown_requirement_id_is_a_collection_error(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_unknown="import pytest\n\n@pytest.mark.req('STOP-NOPE')\ndef test_x():\n    pass\n",
        test_fine="import pytest\n\n@pytest.mark.req('STOP-TR-QUEUED')\ndef test_y():\n    pass\n",
    )
    result = suite.runpytest("-p", "conformance.plugin", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_unknown.py*", "*unknown requirement ID(s) STOP-NOPE*"])


def test_not_suite_mode_without_conformance_paths(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_plain="def test_x():\n    pass\n")
    result = suite.runpytest("-p", "conformance.plugin", "--reports-dir", str(suite.path / "reports"))
    result.assert_outcomes(passed=1)
    assert not (suite.path / "reports").exists(), "outside suite mode nothing may be written"


def test_suite_mode_registers_one_run_object_and_unconfigure_unregisters_it(suite: pytest.Pytester) -> None:
    """The suite-mode hooks are the methods of one object in the stash and the plugin manager, for this run only."""
    from conformance import plugin

    config = suite.parseconfigure("-p", "conformance.plugin", "--qoder-suite", "--collect-only")
    run = config.stash[plugin.RUN_KEY]
    assert isinstance(run, plugin.ConformanceSession) and run.config is config
    assert config.pluginmanager.get_plugin(plugin.SESSION_PLUGIN) is run
    assert run in config.pluginmanager.get_plugins()
    config._ensure_unconfigure()
    assert config.pluginmanager.get_plugin(plugin.SESSION_PLUGIN) is None
    assert plugin.RUN_KEY not in config.stash


def test_outside_suite_mode_there_is_no_run_object(suite: pytest.Pytester) -> None:
    from conformance import plugin

    config = suite.parseconfigure("-p", "conformance.plugin", "--collect-only")
    assert plugin.RUN_KEY not in config.stash
    assert config.pluginmanager.get_plugin(plugin.SESSION_PLUGIN) is None
    assert config.pluginmanager.has_plugin("conformance.plugin.fixtures")  # an own run (it names the plugin)


def run_verdicts(suite: pytest.Pytester, *extra: str) -> tuple[pytest.RunResult, dict, dict[str, dict[str, str]]]:
    suite.makepyfile(test_verdicts=VERDICTS)
    reports = suite.path / "reports"
    result = suite.runpytest_subprocess(
        "-p", "conformance.plugin", "--qoder-suite", "--reports-dir", str(reports), *extra
    )
    summary = json.loads((reports / "summary.json").read_text())
    properties: dict[str, dict[str, str]] = {}
    for case in ElementTree.parse(reports / "junit.xml").getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        properties[case.get("name")] = props
    return result, summary, properties


def test_verdicts_errors_and_junit_properties(suite: pytest.Pytester) -> None:
    result, summary, properties = run_verdicts(suite)
    result.assert_outcomes(passed=4, failed=1, errors=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    verdicts = {case["nodeid"].split("::")[-1]: case["verdict"] for case in summary["cases"]}
    assert verdicts == {
        "test_pass": "pass",
        "test_fail": "fail",
        "test_warn": "warn",
        "test_recorded": "recorded",
        "test_harness_error": "error",
        "test_not_verified": "not_verified",
        "test_provision_and_stop": "pass",
    }
    assert {name: props["verdict"] for name, props in properties.items()} == verdicts
    assert properties["test_warn"] == {"requirement": "STOP-OPEN-FORCE-TYPE", "level": "SHOULD", "verdict": "warn"}
    output = result.stdout.str()
    assert "FAIL STOP-TR-QUEUED (MUST): state: expected 'stopped', observed 'queued' · 1 case · repro " in output
    assert "harness error (not a conformance verdict): TargetUnreachable" in output
    assert "warn STOP-OPEN-FORCE-TYPE (SHOULD): status: expected 400, observed 200" in output
    assert "not verified:\n  QODER_EXPIRED_PAT is not configured" in output
    assert "pytest_runtest_call" not in output and "Traceback" not in output
    junit = (suite.path / "reports" / "junit.xml").read_text()
    assert "<error" in junit and junit.count("<failure") == 1
    failure = ElementTree.parse(suite.path / "reports" / "junit.xml").getroot().find(".//failure")
    assert failure is not None and failure.text is not None
    assert failure.text.startswith("[STOP-TR-QUEUED MUST] state: expected 'stopped', observed 'queued'\n")
    assert "exchanges:" in failure.text and "pytest_runtest_call" not in failure.text  # complete, no traceback
    ledger = (suite.path / "reports" / "ledger.jsonl").read_text().splitlines()
    assert len(ledger) == 1 and summary["cleanup"]["discarded"] == [json.loads(ledger[0])["work_id"]]


def test_strict_turns_should_mismatches_into_failures(suite: pytest.Pytester) -> None:
    result, summary, _ = run_verdicts(suite, "--qoder-strict", "-k", "warn or pass")
    result.assert_outcomes(passed=1, failed=1)
    assert {case["verdict"] for case in summary["cases"]} == {"pass", "fail"}


def test_only_shoulds_and_skips_exit_zero(suite: pytest.Pytester) -> None:
    result, _, _ = run_verdicts(suite, "-k", "warn or recorded or not_verified")
    assert result.ret == pytest.ExitCode.OK


def test_configuration_error_is_a_usage_error(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(test_plain="def test_x():\n    pass\n")
    monkeypatch.setenv("QODER_BASE_URL", "https://x.example/path")
    monkeypatch.setenv("QODER_PAT", "pt-never-shown-1234")
    result = suite.runpytest_subprocess("-p", "conformance.plugin", "--qoder-suite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "QODER_BASE_URL must be an origin without a path" in text and "pt-never-shown-1234" not in text


def test_failed_preflight_stops_with_one_message_and_still_writes_junit(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suite.makepyfile(test_plain="import pytest\n\n@pytest.mark.req('STOP-TR-QUEUED')\ndef test_x():\n    pass\n")
    for name, value in {
        "QODER_BASE_URL": f"http://127.0.0.1:{port}",
        "QODER_PAT": "pt-never-shown-5678",
        "QODER_ENVIRONMENT_ID": "env_1",
        "QODER_HOOK_URL": f"http://127.0.0.1:{port}/hook",
    }.items():
        monkeypatch.setenv(name, value)
    reports = suite.path / "reports"
    result = suite.runpytest_subprocess("-p", "conformance.plugin", "--qoder-suite", "--reports-dir", str(reports))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "preflight failed" in text and "connection refused" in text and "pt-never-shown-5678" not in text
    assert (reports / "junit.xml").is_file()


REWRITE_PROBE = """
import hypothesis
from _pytest.assertion.rewrite import AssertionRewritingHook

def test_probe():
    print("HYPOTHESIS REWRITTEN:", isinstance(hypothesis.__spec__.loader, AssertionRewritingHook))
"""


@pytest.mark.parametrize(("plugin", "rewritten"), [(("-p", "conformance.plugin"), "False"), ((), "True")])
def test_libraries_with_pytest_plugins_are_not_assertion_rewritten(
    pytester: pytest.Pytester, plugin: tuple[str, ...], rewritten: str
) -> None:
    # Without the plugin pytest rewrites all of Hypothesis (the control); with it, it does not.
    pytester.makepyfile(test_probe=REWRITE_PROBE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *plugin)
    result.stdout.fnmatch_lines([f"*HYPOTHESIS REWRITTEN: {rewritten}*"])


PER_CASE_CLEANUP = """
import pytest

SEEN = {}

@pytest.mark.req("STOP-TR-LIVE-GRACEFUL")
def test_1_leaves_an_active_item(provision):
    SEEN["item"] = provision("active")

@pytest.mark.req("STOP-TR-LIVE-GRACEFUL")
def test_2_finds_it_stopped(api):
    item = SEEN["item"]
    print("STATE AFTER ITS CASE:", api.get(item["environment_id"], item["id"]).json()["state"])
"""


def test_each_case_s_live_items_are_force_stopped_after_it(suite: pytest.Pytester, monkeypatch) -> None:
    from qoder_emulator import launch

    suite.makepyfile(test_cleanup=PER_CASE_CLEANUP)
    reports = suite.path / "reports"
    with launch() as emulator:
        for name, value in emulator.settings.items():
            monkeypatch.setenv(name, value)
        result = suite.runpytest_subprocess(
            "-s", "-p", "conformance.plugin", "--qoder-suite", f"--reports-dir={reports}"
        )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*STATE AFTER ITS CASE: stopped*"])
    cleanup = json.loads((reports / "summary.json").read_text())["cleanup"]
    ledger = [json.loads(line)["work_id"] for line in (reports / "ledger.jsonl").read_text().splitlines()]
    assert cleanup["stopped"] == ledger and cleanup["failed"] == [] and cleanup["discarded"] == []


SEVERAL = """
import pytest

@pytest.mark.req("STOP-TR-FORCE", "STOP-RESP-OK", "STOP-OPEN-FORCE-NULL")
def test_one_of_three_fails(check):
    check.equal("STOP-TR-FORCE", "state", "stopped", "stopped")
    check.equal("STOP-RESP-OK", "response status", 200, 202)
    check.observe("STOP-OPEN-FORCE-NULL", "status", 200)

@pytest.mark.req("STOP-DRAIN")
def test_bare_assert(check):
    assert 1 == 2, "an assertion outside the checker"
"""


def test_a_case_fails_only_the_requirement_whose_check_failed(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_several=SEVERAL)
    reports = suite.path / "reports"
    result = suite.runpytest_subprocess("-p", "conformance.plugin", "--qoder-suite", "--reports-dir", str(reports))
    summary = json.loads((reports / "summary.json").read_text())
    verdicts = {r["id"]: r for r in summary["requirements"]}
    assert verdicts["STOP-RESP-OK"]["verdict"] == "fail"
    assert verdicts["STOP-RESP-OK"]["cause"] == "[STOP-RESP-OK MUST] response status: expected 200, observed 202"
    assert verdicts["STOP-TR-FORCE"]["verdict"] == "pass"
    assert verdicts["STOP-OPEN-FORCE-NULL"]["verdict"] == "recorded"
    # A bare assert names no requirement: an error of the case, never a FAIL of STOP-DRAIN.
    assert verdicts["STOP-DRAIN"]["verdict"] == "error"
    result.assert_outcomes(failed=1, errors=1)
    output = result.stdout.str()
    assert "FAIL STOP-RESP-OK (MUST): response status: expected 200, observed 202 · 1 case" in output
    assert "FAIL STOP-TR-FORCE" not in output and "error in the case itself" in output


def test_verbose_prints_each_failure_with_its_exchanges_and_default_only_the_footer(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_verdicts=VERDICTS)
    reports = suite.path / "reports"
    plugin = ("-p", "conformance.plugin", "--qoder-suite", "--reports-dir", str(reports), "-k", "test_fail")
    quiet = suite.runpytest_subprocess(*plugin).stdout.str()
    assert "exchanges:" not in quiet and "_ test_fail _" not in quiet
    verbose = suite.runpytest_subprocess(*plugin, "-v").stdout.str()
    assert (
        "_ test_fail _" in verbose and "[STOP-TR-QUEUED MUST] state: expected 'stopped', observed 'queued'" in verbose
    )
    assert "exchanges:" in verbose and "pytest_runtest_call" not in verbose
    short = suite.runpytest_subprocess(*plugin, "--tb=short").stdout.str()  # an explicit --tb keeps the sections
    assert "_ test_fail _" in short and "exchanges:" not in short and "-v, junit.xml or report.html" in short


def test_terminal_footer_and_brief_failure_are_bounded() -> None:
    from conformance import terminal
    from conformance.results import CaseRecord, RequirementVerdict

    brief = terminal.brief_failure("\n".join(f"[STOP-TR-FORCE MUST] step {i}: " + "x" * 1000 for i in range(50)))
    lines = brief.splitlines()
    assert len(lines) == terminal.MAX_BRIEF_LINES + 2 and all(len(line) <= terminal.MAX_LINE for line in lines)
    cause = "[STOP-TS-STOPPED-AT MUST] " + "y" * 900
    verdict = RequirementVerdict("STOP-TS-STOPPED-AT", "MUST", "fail", ["c::a"], "s", cause, "STOP-TR-FORCE", ["c::a"])
    errored = [CaseRecord(f"c::e{i}", ["STOP-DRAIN"], "error", "harness error: boom\ntraceback") for i in range(40)]
    footer = terminal.footer([verdict], errored, reports=["r/report.html"], reports_dir="r")
    assert footer[1].startswith("FAIL STOP-TS-STOPPED-AT (MUST), probably a consequence of STOP-TR-FORCE: yyy")
    assert footer[1].endswith("… · 1 case") and len(footer[1]) <= terminal.MAX_CAUSE + 100
    assert len(footer) < 25 and "  … and 30 more (-v lists them all)" in footer


def test_terminal_footer_counts_per_endpoint_only_when_several_ran() -> None:
    from conformance import judge, terminal
    from conformance.results import CaseRecord

    def footer(*cases: CaseRecord) -> list[str]:
        return terminal.footer(judge.requirement_verdicts(list(cases), strict=False), list(cases))

    stop = CaseRecord("c::stop", ["STOP-TR-QUEUED", "STOP-TR-FORCE"], "pass")
    failing = {"requirement": "CONV-JSON", "level": "MUST", "what": "media type", "expected": "a", "observed": "b"}
    convention = CaseRecord("c::conv", ["CONV-JSON", "CONV-TS-UTC"], "fail", mismatches=[failing])
    assert not [line for line in footer(stop) if line.startswith("by endpoint:")]
    lines = [line for line in footer(stop, convention) if line.startswith("by endpoint:")]
    assert lines == ["by endpoint: conventions 1 pass, 1 FAIL; stop 2 pass"]  # catalogue order, exercised only


def test_a_run_stopped_by_maxfail_is_recorded_as_interrupted(suite: pytest.Pytester) -> None:
    result, summary, _ = run_verdicts(suite, "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert summary["interrupted"] is True and summary["target"]["embedded"] is True
    markdown = (suite.path / "reports" / "summary.md").read_text()
    assert markdown.startswith("## Qoder work API conformance: INTERRUPTED (FAIL so far) (exit status 1)")
