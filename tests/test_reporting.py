"""Self-tests of the reports: what write_all writes, what each artifact says, and the repro scripts, end to end."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conformance import catalogue, judge
from conformance.evidence import READ_BACK, SETUP, UNDER_TEST, Exchange
from conformance.reporting import markdown, repro, summary, verify, write_all
from conformance.reporting.cases import safe_name
from conformance.reporting.sample import ENVIRONMENT, INVALID_UTF8, OLD_ITEM, TARGET, sample_run
from conformance.results import (
    ERROR,
    FAIL,
    NOT_VERIFIED,
    PASS,
    RECORDED,
    WARN,
    CaseRecord,
    RequirementVerdict,
    RunRecord,
)

FORCE_CASE = "conformance/test_stop_transitions.py::test_transition[force-active]"
UTF8_CASE = "conformance/test_stop_errors.py::test_body_not_valid_json[invalid-utf8]"
WARN_CASE = "conformance/test_stop_open_inputs.py::test_no_content_type"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "junit.xml").write_text("<testsuites/>")
    (folder / "ledger.jsonl").write_text('{"id": "work_1"}\n')
    return folder


def test_write_all_writes_every_artifact_and_keeps_the_others(reports: Path) -> None:
    hits = write_all(sample_run(), reports, {"QODER_PAT": "pt-never-written-anywhere-123"})
    assert hits == []
    names = sorted(str(path.relative_to(reports)) for path in reports.rglob("*"))
    assert names == [
        ".qoder-manifest.json",
        "junit.xml",
        "ledger.jsonl",
        "report.html",
        "repro",
        "repro/test_stop_errors__test_body_not_valid_json-invalid-utf8.sh",
        "repro/test_stop_open_inputs__test_no_content_type.sh",
        "repro/test_stop_transitions__test_transition-force-active.sh",
        "summary.json",
        "summary.md",
    ]  # repro scripts only for failed and warned cases, and no temporary file left behind
    for script in (reports / "repro").iterdir():
        assert script.stat().st_mode & stat.S_IXUSR


def test_summary_json_fields_verdicts_and_digest(reports: Path) -> None:
    write_all(sample_run(), reports, {})
    document = json.loads((reports / "summary.json").read_text())
    assert document["format"] == "qoder-conformance-summary/1"
    assert document["suite"]["version"] == "0.1.0"
    assert document["spec"]["digest"] == catalogue.spec_digest()
    assert {f["name"] for f in document["spec"]["files"]} == {"api-reference.md", "stop-work-item.txt"}
    assert document["target"] == {"base_url": TARGET, "provisioner": "hook", "embedded": False}
    assert document["exit_status"] == 1
    verdicts = {r["id"]: r["verdict"] for r in document["requirements"]}
    assert list(verdicts) == list(catalogue.requirements())
    assert verdicts["STOP-TR-FORCE"] == "fail"
    assert verdicts["STOP-OPEN-NO-CONTENT-TYPE"] == "warn"
    assert verdicts["STOP-ERR-EXPIRED-PAT"] == "not_verified"
    assert verdicts["STOP-OPEN-NON-OBJECT"] == "recorded"
    assert verdicts["STOP-BODY-FORCE"] == "pass"
    assert document["counts"]["requirements"]["fail"] == 2
    assert document["counts"]["cases"]["warn"] == 1
    force = next(c for c in document["cases"] if c["nodeid"] == FORCE_CASE)
    assert force["repro"] == "repro/test_stop_transitions__test_transition-force-active.sh"
    assert document["digest"] == summary.digest(document)
    document["exit_status"] = 0
    assert document["digest"] != summary.digest(document)


def test_html_tells_the_failing_story_and_escapes_bodies(reports: Path) -> None:
    run = sample_run()
    run.cleanup["failed"] = [{"id": "work_left_live", "error": "503 <b>busy</b>"}]
    write_all(run, reports, {})
    page = (reports / "report.html").read_text()
    requirement = catalogue.get("STOP-TR-FORCE")
    assert "&quot;force=true moves any live item directly to stopped.&quot;" in page or requirement.quote in page
    assert requirement.page in page
    assert "[STOP-TR-FORCE MUST] state: expected &#x27;stopped&#x27;, observed &#x27;stopping&#x27;" in page
    assert "<script>document.title" not in page and "&lt;script&gt;document.title" in page
    assert 'id="cleanup-alert"' in page and "work_left_live" in page and "<b>busy</b>" not in page
    assert page.count('class="case filterable"') == len(run.cases)
    assert 'data-count="requirements-fail">2<' in page
    assert "http://" not in page.split("<body", 1)[0]  # no network asset in the head
    assert "<link" not in page and "@import" not in page and "src=" not in page


def test_markdown_summary_lists_what_did_not_pass(reports: Path) -> None:
    write_all(sample_run(), reports, {})
    text = (reports / "summary.md").read_text()
    assert text.startswith("## Qoder work API conformance: FAIL (exit status 1)")
    assert "| stop | 0 | 2 | 1 | 1 | 5 | 29 |" in text  # the Stop part's counts, whatever other endpoints hold
    # The sample fails 2, warns 1, leaves 1 not verified; every UNSPECIFIED one is recorded, the rest pass.
    unspecified = sum(1 for requirement in catalogue.requirements().values() if requirement.level == "UNSPECIFIED")
    passed = len(catalogue.requirements()) - 4 - unspecified
    assert f"| requirements | 0 | 2 | 1 | 1 | {unspecified} | {passed} |" in text
    for rid in ("STOP-TR-FORCE", "STOP-ERR-INVALID-JSON", "STOP-OPEN-NO-CONTENT-TYPE"):
        assert f"**{rid}**" in text
    assert "| **STOP-TR-FORCE** | MUST | 1 | state: expected 'stopped', observed 'stopping' |" in text
    assert "QODER\\_EXPIRED\\_PAT is not configured" in text
    assert "[report.html](report.html)" in text


# --- grouped by endpoint -------------------------------------------------------------------------------------------


def _with_a_failed_convention() -> RunRecord:
    """The sample run with one convention failing too: two endpoints with failures."""
    run = sample_run()
    case = next(case for case in run.cases if case.requirements == ["CONV-JSON"])
    case.verdict, case.mismatches = FAIL, [_mismatch("CONV-JSON", "media type")]
    return run


def test_summary_json_gives_each_requirement_its_endpoint_and_counts_per_endpoint(reports: Path) -> None:
    write_all(_with_a_failed_convention(), reports, {})
    document = json.loads((reports / "summary.json").read_text())
    for entry in document["requirements"]:
        assert entry["endpoint"] == catalogue.get(entry["id"]).endpoint
    per_endpoint = document["counts"]["endpoints"]
    present = [name for name in catalogue.ENDPOINTS.values() if name in per_endpoint]
    assert list(per_endpoint) == present and {"conventions", "stop"} <= set(present)
    assert per_endpoint["stop"] == {"error": 0, "fail": 2, "warn": 1, "not_verified": 1, "recorded": 5, "pass": 29}
    assert per_endpoint["conventions"]["fail"] == 1
    for verdict, total in document["counts"]["requirements"].items():  # the groups add up to the whole
        assert sum(tally[verdict] for tally in per_endpoint.values()) == total
    assert document["digest"] == summary.digest(document)
    assert verify.problems(document)  # the certificate still lists the failures
    assert any("MUST requirement CONV-JSON failed" in problem for problem in verify.problems(document))


def test_summary_md_groups_failures_by_endpoint_when_several_failed(reports: Path) -> None:
    write_all(_with_a_failed_convention(), reports, {})
    text = (reports / "summary.md").read_text()
    failed = text.split("### Failed requirements", 1)[1].split("\n### ", 1)[0]
    assert failed.index("#### conventions") < failed.index("**CONV-JSON**") < failed.index("#### stop")
    assert failed.index("#### stop") < failed.index("**STOP-TR-FORCE**")
    conventions = [r for r in catalogue.requirements().values() if r.endpoint == "conventions"]
    assert f"| conventions | 0 | 1 | 0 | 0 | 0 | {len(conventions) - 1} |" in text
    write_all(sample_run(), reports, {})  # failures of one endpoint only: no sub-heading
    assert "#### " not in (reports / "summary.md").read_text()


def test_report_html_has_a_section_per_endpoint_in_catalogue_order(reports: Path) -> None:
    run = _with_a_failed_convention()
    write_all(run, reports, {})
    page = (reports / "report.html").read_text()
    positions = [page.index(f'id="endpoint-{name}"') for name in ("conventions", "stop")]
    assert positions == sorted(positions)
    conventions, stop = page[positions[0] : positions[1]], page[positions[1] :].split('id="cases"', 1)[0]
    assert 'data-count="conventions-fail">1<' in conventions and 'data-count="stop-fail">2<' in stop
    assert 'id="req-CONV-JSON"' in conventions and 'id="req-STOP-TR-FORCE"' in stop
    assert 'id="req-STOP-TR-FORCE"' not in conventions and 'id="req-CONV-JSON"' not in stop
    assert page.count('class="requirement filterable"') == len(catalogue.requirements())  # each row once
    assert 'id="level-stop-must"' in stop and 'id="level-stop-should"' in stop
    assert '<a href="#endpoint-conventions">conventions</a>' in page and '<a href="#endpoint-stop">stop</a>' in page


def test_a_bad_case_record_is_reported_not_raised(reports: Path) -> None:
    run = sample_run()
    run.cases.append(CaseRecord("conformance/test_x.py::test_odd", ["NO-SUCH-ID"], FAIL))
    run.cases.append(CaseRecord("conformance/test_x.py::test_weird", ["STOP-TR-FORCE"], "maybe"))
    run.cases.append({"not": "a record"})  # type: ignore[arg-type]
    broken = CaseRecord("conformance/test_x.py::test_broken_evidence", ["STOP-DRAIN"], FAIL)
    broken.exchanges = [{"role": "under_test", "duration_ms": "not a number"}]
    run.cases.append(broken)
    assert write_all(run, reports, {}) == []
    document = json.loads((reports / "summary.json").read_text())
    problems = " ".join(document["record_problems"])
    assert "test_odd" in problems and "NO-SUCH-ID" in problems and "'maybe'" in problems and "dict" in problems
    page = (reports / "report.html").read_text()
    assert "could not be rendered" in page and "test_odd" in page


def test_stale_repro_scripts_are_removed_only_when_an_earlier_manifest_lists_them(reports: Path) -> None:
    write_all(sample_run(), reports, {})
    ours = sorted(path.name for path in (reports / "repro").iterdir())
    assert ours
    (reports / "repro" / "users_own.sh").write_text("echo mine\n")
    write_all(sample_run(failing=False), reports, {})
    assert sorted(path.name for path in (reports / "repro").iterdir()) == ["users_own.sh"]


def test_safe_names_are_unique_and_shell_safe() -> None:
    taken: set[str] = set()
    first = safe_name("conformance/test_a.py::test_b[x y/$(rm)]", taken)
    assert first == "test_a__test_b-x-y-rm"
    assert safe_name("conformance/test_a.py::test_b[x y/$(rm)]", taken) == "test_a__test_b-x-y-rm-2"


# --- repro scripts ---------------------------------------------------------------------------------------------


def _case(*exchanges: dict[str, Any]) -> CaseRecord:
    return CaseRecord(
        FORCE_CASE,
        ["STOP-TR-FORCE", "STOP-RESP-OK"],
        FAIL,
        "message",
        mismatches=[
            {
                "requirement": "STOP-TR-FORCE",
                "level": "MUST",
                "what": "state",
                "expected": "'stopped'",
                "observed": "'stopping'",
            }
        ],
        exchanges=list(exchanges),
    )


def _setup() -> dict[str, Any]:
    return Exchange(
        SETUP,
        "POST",
        f"{TARGET}/_emulator/hook",
        {"Authorization": "Bearer ${QODER_PAT}", "Content-Type": "application/json", "Accept": "*/*"},
        '{"state": "active"}',
        status=201,
        response_body=json.dumps({"id": OLD_ITEM, "environment_id": ENVIRONMENT, "state": "active"}),
    ).to_dict()


def _stop(body: str | None, headers: dict[str, str], *, raw: bytes | None = None) -> dict[str, Any]:
    return Exchange(
        UNDER_TEST,
        "POST",
        f"{TARGET}/api/v1/cloud/environments/{ENVIRONMENT}/work/{OLD_ITEM}/stop",
        {"Authorization": "Bearer ${QODER_PAT}", **headers},
        body,
        base64.b64encode(raw).decode() if raw is not None else None,
        status=200,
    ).to_dict()


def test_repro_script_text() -> None:
    body = '{"force": true, "note": "$(touch /tmp/pwned) `id` \\"q\\" ${HOME}"}'
    script = repro.render(_case(_setup(), _stop(body, {"Content-Type": "application/json"})), sample_run())
    assert script.startswith("#!/usr/bin/env bash\n")
    assert f"# case:         {FORCE_CASE}" in script
    assert "# requirements: STOP-TR-FORCE STOP-RESP-OK" in script
    assert f'pytest "{FORCE_CASE}"' in script and "pytest -k STOP-TR-FORCE" in script
    assert "#   [STOP-TR-FORCE MUST] state: expected 'stopped', observed 'stopping'" in script
    assert ': "${QODER_PAT:?export QODER_PAT first}"' in script
    assert "QODER_FORBIDDEN_PAT" not in script  # only the variables it uses
    program = 'import json,sys,urllib.parse; print(urllib.parse.quote(str(json.load(sys.stdin)["id"]), safe=""))'
    assert f"python3 -c '{program}'" in script
    assert "/work/${NEW_ID_1}/stop" in script
    assert "--data-binary @-" in script
    assert "\\$(touch /tmp/pwned) \\`id\\`" in script and "\\${HOME}" in script  # inert in the shell


def test_repro_script_never_holds_a_token(reports: Path) -> None:
    run = sample_run()
    write_all(run, reports, {"QODER_PAT": "pt-emulator-primary"})
    for script in (reports / "repro").iterdir():
        text = script.read_text()
        assert "pt-emulator-primary" not in text
        assert "${QODER_PAT}" in text


class _Recorder(BaseHTTPRequestHandler):
    """A loopback HTTP server that records each request and answers the hook with a NEW item."""

    received: list[dict[str, Any]]
    new_item = "work_ffffffffffffffffffffffffffffffff"

    def _handle(self) -> None:
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length is not None else None
        self.received.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        answer = json.dumps({"id": self.new_item, "environment_id": ENVIRONMENT}).encode()
        self.send_response(201 if self.path.endswith("/hook") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _run_script(tmp_path: Path, case: CaseRecord, origin: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "repro.sh"
    script.write_text(repro.render(case, sample_run(), {"QODER_PAT"}))
    script.chmod(0o755)
    environment = {"PATH": os.environ["PATH"], "QODER_PAT": "pt-test-secret", "QODER_REPRO_TARGET": origin}
    return subprocess.run([str(script)], env=environment, capture_output=True, text=True, timeout=60, check=False)


needs_curl = pytest.mark.skipif(not shutil.which("curl") or not shutil.which("base64"), reason="needs curl, base64")


@needs_curl
@pytest.mark.parametrize(
    ("body", "raw", "headers", "expected_bytes"),
    [
        pytest.param('{"force": true}', None, {"Content-Type": "application/json"}, b'{"force": true}', id="json"),
        pytest.param("{}", None, {}, b"{}", id="no-content-type"),
        pytest.param(None, None, {}, None, id="no-body"),
        pytest.param("", None, {"Content-Type": "application/json"}, b"", id="empty-body"),
        pytest.param(
            '{"force": "\\xff\\xfe"}', INVALID_UTF8, {"Content-Type": "text/plain"}, INVALID_UTF8, id="invalid-utf8"
        ),
        pytest.param(
            '{"a": "é\nb\\\\n $x"}', None, {"Content-Type": "application/json; charset=utf-8"}, None, id="odd"
        ),
    ],
)
def test_repro_script_replays_the_exact_request(
    tmp_path: Path, recorder: tuple[str, list[dict[str, Any]]], body, raw, headers, expected_bytes
) -> None:
    origin, received = recorder
    read_back = Exchange(
        READ_BACK, "GET", f"{TARGET}/api/v1/cloud/environments/{ENVIRONMENT}/work/{OLD_ITEM}", {}, None
    ).to_dict()
    completed = _run_script(tmp_path, _case(_setup(), _stop(body, headers, raw=raw), read_back), origin)
    assert completed.returncode == 0, completed.stderr
    setup, stop, get = received
    assert setup["path"] == "/_emulator/hook" and setup["body"] == b'{"state": "active"}'
    assert setup["headers"]["Authorization"] == "Bearer pt-test-secret"
    assert stop["method"] == "POST"
    assert stop["path"] == f"/api/v1/cloud/environments/{ENVIRONMENT}/work/{_Recorder.new_item}/stop"
    assert get["path"] == f"/api/v1/cloud/environments/{ENVIRONMENT}/work/{_Recorder.new_item}"
    assert stop["headers"]["Authorization"] == "Bearer pt-test-secret"
    assert stop["headers"].get("Content-Type") == headers.get("Content-Type")
    assert "User-Agent" not in stop["headers"] and "Accept" not in stop["headers"]
    wanted = expected_bytes if expected_bytes is not None or body is None else body.encode()
    assert stop["body"] == wanted
    assert "pt-test-secret" not in (tmp_path / "repro.sh").read_text()
    assert '"state": "active"' not in completed.stdout or _Recorder.new_item in completed.stdout


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.reporting import files

    target = tmp_path / "summary.json"
    target.write_text("previous run")

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(target, "new run, half written")
    assert target.read_text() == "previous run"
    assert [path.name for path in tmp_path.iterdir()] == ["summary.json"]


# --- precise verdicts (conformance/judge.py) ---------------------------------------------------------------------

TRANSITION_CASE = "conformance/test_stop_transitions.py::test_stop_transition[STOP-TR-FORCE-active-force-true]"
FIVE = ["STOP-TR-FORCE", "STOP-BODY-FORCE", "STOP-RESP-OK", "STOP-RESP-SCHEMA", "STOP-OPEN-STOP-REQUESTED-AT"]


def _mismatch(requirement: str, what: str = "state") -> dict[str, Any]:
    level = catalogue.get(requirement).level
    return {"requirement": requirement, "level": level, "what": what, "expected": "'a'", "observed": "'b'"}


def _judged(*cases: CaseRecord, strict: bool = False) -> dict[str, RequirementVerdict]:
    return {v.id: v for v in judge.requirement_verdicts(list(cases), strict=strict)}


def test_a_case_verifying_five_requirements_fails_only_the_one_whose_check_failed() -> None:
    case = CaseRecord(TRANSITION_CASE, FIVE, FAIL, mismatches=[_mismatch("STOP-RESP-SCHEMA", "Work item schema")])
    verdicts = _judged(case)
    assert {rid: verdicts[rid].verdict for rid in FIVE} == {
        "STOP-TR-FORCE": PASS,
        "STOP-BODY-FORCE": PASS,
        "STOP-RESP-OK": PASS,
        "STOP-RESP-SCHEMA": FAIL,
        "STOP-OPEN-STOP-REQUESTED-AT": RECORDED,
    }
    schema = verdicts["STOP-RESP-SCHEMA"]
    assert schema.cause == "[STOP-RESP-SCHEMA MUST] Work item schema: expected 'a', observed 'b'"
    assert schema.flagged_cases == [TRANSITION_CASE] and schema.consequence_of is None
    assert verdicts["STOP-TR-FORCE"].cause == "" and verdicts["STOP-DRAIN"].verdict == NOT_VERIFIED


def test_an_unspecified_requirement_is_recorded_whatever_its_case_did() -> None:
    failed = CaseRecord(
        "c::failed", ["STOP-TR-FORCE", "STOP-OPEN-FORCE-ON-STOPPED"], FAIL, mismatches=[_mismatch("STOP-TR-FORCE")]
    )
    errored = CaseRecord("c::errored", ["STOP-OPEN-STOP-REQUESTED-AT"], ERROR, "harness error: hook answered 500")
    skipped = CaseRecord("c::skipped", ["STOP-OPEN-FORCE-NULL"], NOT_VERIFIED, "not verified: no input")
    verdicts = _judged(failed, errored, skipped)
    assert verdicts["STOP-OPEN-FORCE-ON-STOPPED"].verdict == RECORDED
    assert verdicts["STOP-OPEN-STOP-REQUESTED-AT"].verdict == RECORDED  # the error stays on the case
    assert verdicts["STOP-OPEN-FORCE-NULL"].verdict == NOT_VERIFIED  # nothing ran for it
    assert judge.case_verdict(judge.RAN, ["STOP-OPEN-FORCE-NULL"], [], strict=True) == RECORDED


def test_an_errored_case_leaves_its_requirements_error_never_fail() -> None:
    errored = CaseRecord("c::errored", ["STOP-TR-QUEUED", "STOP-RESP-OK"], ERROR, "harness error: timeout\nmore")
    failed = CaseRecord("c::failed", ["STOP-RESP-OK"], FAIL, mismatches=[_mismatch("STOP-RESP-OK", "status")])
    verdicts = _judged(errored, failed)
    assert verdicts["STOP-TR-QUEUED"].verdict == ERROR
    assert verdicts["STOP-TR-QUEUED"].cause == "c::errored: harness error: timeout …"
    assert verdicts["STOP-RESP-OK"].verdict == FAIL  # its own mismatch stands, whatever broke elsewhere


def test_should_mismatches_warn_and_fail_only_under_strict() -> None:
    case = CaseRecord(
        "c::warn", ["STOP-OPEN-CHARSET", "STOP-RESP-OK"], WARN, mismatches=[_mismatch("STOP-OPEN-CHARSET")]
    )
    assert _judged(case)["STOP-OPEN-CHARSET"].verdict == WARN
    assert _judged(case, strict=True)["STOP-OPEN-CHARSET"].verdict == FAIL
    assert _judged(case)["STOP-RESP-OK"].verdict == PASS


def test_one_fault_under_several_requirements_is_ordered_by_likely_cause() -> None:
    both = [
        _mismatch("STOP-RESP-SCHEMA", "schema"),
        _mismatch("STOP-TS-STOPPED-AT", "stopped_at"),
        _mismatch("STOP-TR-FORCE"),
    ]
    first = CaseRecord("c::one", ["STOP-TR-FORCE", "STOP-TS-STOPPED-AT", "STOP-RESP-SCHEMA"], FAIL, mismatches=both)
    second = CaseRecord("c::two", ["STOP-TR-FORCE", "STOP-TS-STOPPED-AT", "STOP-RESP-SCHEMA"], FAIL, mismatches=both)
    alone = CaseRecord("c::three", ["STOP-RESP-SCHEMA"], FAIL, mismatches=[_mismatch("STOP-RESP-SCHEMA", "schema")])
    verdicts = _judged(first, second)
    assert verdicts["STOP-TR-FORCE"].consequence_of is None
    assert verdicts["STOP-TS-STOPPED-AT"].consequence_of == "STOP-TR-FORCE"
    assert verdicts["STOP-RESP-SCHEMA"].consequence_of == "STOP-TR-FORCE"
    failed = [v for v in verdicts.values() if v.verdict == FAIL]
    assert [v.id for v in judge.by_likely_cause(failed)] == ["STOP-TR-FORCE", "STOP-TS-STOPPED-AT", "STOP-RESP-SCHEMA"]
    # A requirement that also fails where the transition held is a cause of its own.
    assert _judged(first, second, alone)["STOP-RESP-SCHEMA"].consequence_of is None


def test_the_cause_is_the_most_readable_own_mismatch_and_its_case_comes_first() -> None:
    long = _mismatch("STOP-TR-FORCE", "example 3 [provision queued -> ack -> ack -> heartbeat -> stop]: state")
    model = CaseRecord("c::model", ["STOP-TR-FORCE"], FAIL, mismatches=[long])
    single = CaseRecord("c::single", ["STOP-TR-FORCE"], FAIL, mismatches=[_mismatch("STOP-TR-FORCE")])
    verdict = _judged(model, single)["STOP-TR-FORCE"]
    assert verdict.cause == "[STOP-TR-FORCE MUST] state: expected 'a', observed 'b'"
    assert verdict.flagged_cases == ["c::single", "c::model"]


def test_a_multi_line_observation_keeps_its_first_line_in_the_cause() -> None:
    mismatch = {**_mismatch("STOP-CONC-LINEARIZABLE", "8 concurrent stops"), "observed": "no order explains\ntable"}
    case = CaseRecord("c::conc", ["STOP-CONC-LINEARIZABLE"], FAIL, mismatches=[mismatch])
    assert _judged(case)["STOP-CONC-LINEARIZABLE"].cause.endswith("observed no order explains …")


# --- summary.md --------------------------------------------------------------------------------------------------


def _huge_run() -> RunRecord:
    run = sample_run()
    noise = "x" * 5000
    for index in range(300):
        rid = list(catalogue.requirements())[index % 28]
        run.cases.append(
            CaseRecord(f"conformance/test_big.py::test_{index}_{noise[:200]}", [rid], FAIL, noise, [_mismatch(rid)])
        )
        run.cases.append(CaseRecord(f"c::skip{index}", ["STOP-DRAIN"], NOT_VERIFIED, f"not verified: {index} {noise}"))
    run.cleanup["failed"] = [{"id": f"work_{index}", "error": noise} for index in range(500)]
    run.stop_reason = noise * 100
    return run


def test_summary_md_stays_under_64_kb_whatever_happens(reports: Path) -> None:
    write_all(_huge_run(), reports, {})
    data = (reports / "summary.md").read_bytes()
    assert len(data) <= 64 * 1024
    text = data.decode("utf-8")
    assert "… and " in text and "more" in text and "[report.html](report.html)" in text
    assert "observed" not in text.split("### Failed requirements")[0]  # no exchange, no evidence above the table


def test_summary_md_cuts_at_the_cap_with_and_n_more() -> None:
    text = markdown.fit(["# head"], [f"line {i} " + "y" * 100 for i in range(1000)], ["tail"], 4096)
    assert len(text.encode()) <= 4096 and text.endswith("tail") and "more line(s)" in text


def test_summary_md_says_why_a_run_stopped_early(reports: Path) -> None:
    preflight = sample_run(failing=False)
    preflight.cases, preflight.exit_status = [], 4
    preflight.preflight = {"ok": False, "problems": ["GET http://127.0.0.1:9/: connection refused"]}
    write_all(preflight, reports, {})
    text = (reports / "summary.md").read_text()
    assert text.startswith("## Qoder work API conformance: NOT TESTED (preflight failed) (exit status 4)")
    assert "**Preflight failed**" in text and "connection refused" in text

    interrupted = sample_run(failing=False)
    interrupted.exit_status, interrupted.interrupted = 2, True
    write_all(interrupted, reports, {})
    text = (reports / "summary.md").read_text()
    assert text.startswith("## Qoder work API conformance: INTERRUPTED") and "**Interrupted**" in text

    emulator = sample_run(failing=False)
    emulator.cases, emulator.exit_status, emulator.embedded = [], 3, True
    emulator.stop_reason = "the embedded emulator did not start: port in use"
    write_all(emulator, reports, {})
    text = (reports / "summary.md").read_text()
    assert "NOT TESTED (the embedded emulator failed)" in text and "port in use" in text


def test_summary_md_marks_consequences(reports: Path) -> None:
    run = sample_run()
    both = [_mismatch("STOP-TR-FORCE"), _mismatch("STOP-TS-STOPPED-AT", "stopped_at")]
    run.cases.append(CaseRecord("c::both", ["STOP-TR-FORCE", "STOP-TS-STOPPED-AT"], FAIL, mismatches=both))
    run.cases[0].mismatches.append(_mismatch("STOP-TS-STOPPED-AT", "stopped_at"))
    run.cases[0].requirements.append("STOP-TS-STOPPED-AT")
    write_all(run, reports, {})
    text = (reports / "summary.md").read_text()
    assert "| ↳ STOP-TS-STOPPED-AT | MUST | 2 | probably a consequence of STOP-TR-FORCE: stopped\\_at:" in text
    assert text.index("**STOP-TR-FORCE**") < text.index("↳ STOP-TS-STOPPED-AT")


# --- verify ------------------------------------------------------------------------------------------------------


def _problems_of(run: RunRecord, reports: Path) -> list[str]:
    write_all(run, reports, {})
    return verify.problems(json.loads((reports / "summary.json").read_text()))


def test_verify_refuses_a_run_against_the_bundled_emulator(reports: Path) -> None:
    run = sample_run(failing=False)
    run.embedded = True
    assert _problems_of(run, reports) == [
        "the run was against the bundled emulator the suite starts itself, not a server under test: "
        "it proves the suite, not a server"
    ]


def test_verify_refuses_an_interrupted_run(reports: Path) -> None:
    run = sample_run(failing=False)
    run.interrupted = True
    assert _problems_of(run, reports) == [
        "the run was interrupted before every case ran: its verdicts cover only part of the suite"
    ]
    run.interrupted, run.exit_status = False, 2
    assert _problems_of(run, reports)[0].startswith("the run was interrupted")


def test_verify_lists_one_line_for_one_broken_rule(reports: Path) -> None:
    run = sample_run(failing=False)
    wide = [
        "STOP-RESP-UNCHANGED-FIELDS",
        "STOP-RESP-OK",
        "STOP-RESP-SCHEMA",
        "STOP-TR-FORCE",
        "STOP-OPEN-STOP-REQUESTED-AT",
    ]
    for index in range(20):
        metadata = _mismatch("STOP-RESP-UNCHANGED-FIELDS", "metadata (unchanged)")
        run.cases.append(CaseRecord(f"c::case{index}", wide, FAIL, mismatches=[metadata]))
    run.exit_status = 1
    assert _problems_of(run, reports) == [
        "MUST requirement STOP-RESP-UNCHANGED-FIELDS failed: metadata (unchanged): expected 'a', observed 'b'"
    ]
