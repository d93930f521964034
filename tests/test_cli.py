"""Self-tests of `qoder-conformance`: verify (a certificate and each way one is refused), requirements, scan,
cleanup's plumbing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance import catalogue, cli
from conformance.reporting import summary, write_all
from conformance.reporting.sample import sample_run

TOKEN = "pt-cli-test-secret-0123456789"


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    write_all(sample_run(failing=False), tmp_path, {})
    return tmp_path / "summary.json"


def _rewrite(path: Path, change: Callable[[dict[str, Any]], None], *, keep_digest_valid: bool = True) -> None:
    document = json.loads(path.read_text())
    change(document)
    if keep_digest_valid:
        document["digest"] = summary.digest(document)
    path.write_text(json.dumps(document))


def _verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = cli.main(["verify", str(path)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_passing_run_is_certified(certificate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = _verify(certificate, capsys)
    assert status == 0
    musts = sum(1 for requirement in catalogue.requirements().values() if requirement.level == "MUST")
    assert output.startswith(f"CERTIFIED: http://127.0.0.1:8765 passed all {musts} MUST requirements")


def _drop(rid: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.update(requirements=[r for r in d["requirements"] if r["id"] != rid])


def _set_verdict(rid: str, verdict: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        next(r for r in document["requirements"] if r["id"] == rid)["verdict"] = verdict

    return change


def _error_case(document: dict[str, Any]) -> None:
    document["cases"][0].update(verdict="error", message="ProvisioningError: hook answered 500")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(_drop("STOP-TR-FORCE"), "MUST requirement STOP-TR-FORCE is missing", id="missing-must"),
        pytest.param(_set_verdict("STOP-DRAIN", "fail"), "MUST requirement STOP-DRAIN failed", id="failed-must"),
        pytest.param(_set_verdict("STOP-DRAIN", "not_verified"), "STOP-DRAIN is 'not_verified'", id="unverified"),
        pytest.param(
            lambda d: d["spec"].update(digest="0" * 64), "is not the installed spec text's digest", id="spec-digest"
        ),
        pytest.param(lambda d: d["suite"].update(version="9.9.9"), "suite version '9.9.9' is not", id="version"),
        pytest.param(lambda d: d.update(exit_status=1), "exit status is 1, expected 0", id="exit-status"),
        pytest.param(lambda d: d.update(format="other/2"), "format is 'other/2'", id="format"),
        pytest.param(_error_case, "errored (not a verdict on the target), first", id="errored-case"),
        pytest.param(
            _set_verdict("STOP-OPEN-CHARSET", "error"),
            "not verified because their cases errored: STOP-OPEN-CHARSET",
            id="e",
        ),
    ],
)
def test_each_problem_is_reported(
    certificate: Path, capsys: pytest.CaptureFixture[str], change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    _rewrite(certificate, change)
    status, output = _verify(certificate, capsys)
    assert status == 1
    problems = [line for line in output.splitlines() if line.startswith("- ")]
    assert len(problems) == 1 and expected in problems[0], output
    assert output.splitlines()[-1] == "NOT CERTIFIED: 1 problem(s) in the summary of http://127.0.0.1:8765"


def test_an_edited_summary_is_detected(certificate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite(certificate, lambda d: d["target"].update(base_url="https://other.example"), keep_digest_valid=False)
    status, output = _verify(certificate, capsys)
    assert status == 1
    assert "digest does not match the content: the file was edited after the run" in output


def test_the_failing_sample_lists_every_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_all(sample_run(), tmp_path, {})
    status, output = _verify(tmp_path / "summary.json", capsys)
    assert status == 1
    assert output.splitlines() == [
        "- MUST requirement STOP-TR-FORCE failed: state: expected 'stopped', observed 'stopping'",
        "- MUST requirement STOP-ERR-INVALID-JSON failed: response status: expected 400, observed 200",
        "- MUST requirement STOP-ERR-EXPIRED-PAT is 'not_verified', not 'pass'",
        "NOT CERTIFIED: 3 problem(s) in the summary of http://127.0.0.1:8765",
    ]  # one line per broken rule: the exit status it implies is not a fourth


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ("[1, 2]", "a JSON list, not an object"), (None, "no such file")],
)
def test_an_unusable_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    status, output = _verify(path, capsys)
    assert status == 2 and expected in output and "CERTIFIED" not in output


def test_requirements_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["requirements"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(catalogue.requirements())
    first = next(iter(catalogue.requirements().values()))  # catalogue order: endpoint by endpoint
    assert lines[0].split()[:2] == [first.id, first.level]
    assert cli.main(["requirements", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in listing] == list(catalogue.requirements())
    assert {entry["level"] for entry in listing} == {"MUST", "SHOULD", "UNSPECIFIED"}
    assert {entry["endpoint"] for entry in listing} == {r.endpoint for r in catalogue.requirements().values()}


def test_requirements_listing_by_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    stop = [r.id for r in catalogue.requirements().values() if r.endpoint == "stop"]
    conventions = [r.id for r in catalogue.requirements().values() if r.endpoint == "conventions"]
    assert stop and conventions
    assert cli.main(["requirements", "--endpoint", "stop"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == stop
    assert cli.main(["requirements", "--endpoint", "conventions", "--endpoint", "stop", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in listing] == [r for r in catalogue.requirements() if r in stop + conventions]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["requirements", "--endpoint", "STOP"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["frobnicate"], ["requirements", "--format", "xml"], ["cleanup"], ["verify"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2, argv
    assert "usage: qoder-conformance" in capsys.readouterr().err


def test_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in cli.TOKEN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "clean.txt").write_text("Authorization: Bearer ${QODER_PAT}\n")
    assert cli.main(["scan", str(tmp_path)]) == 2  # no token configured: nothing to look for
    monkeypatch.setenv("QODER_FORBIDDEN_PAT", TOKEN)
    assert cli.main(["scan", str(tmp_path)]) == 0
    assert "clean: no trace of QODER_FORBIDDEN_PAT" in capsys.readouterr().out
    leak = tmp_path / "sub" / "log.txt"
    leak.parent.mkdir()
    leak.write_text(f"Authorization: Bearer {TOKEN}\n")
    assert cli.main(["scan", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert f"QODER_FORBIDDEN_PAT (raw) found in {leak}" in output and TOKEN not in output
    assert leak.exists()
    assert cli.main(["scan", "--remove", str(leak)]) == 1 and not leak.exists()
    assert cli.main(["scan", str(tmp_path / "absent")]) == 2


def test_cleanup(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["cleanup", "--ledger", str(tmp_path / "absent.jsonl")]) == 2
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text('{"id": "work_1"}\n')
    calls = []
    outcome: dict[str, Any] = {"stopped": ["work_1"], "already_stopped": 0, "failed": []}
    monkeypatch.setattr(cli, "load_settings", lambda config_file: {"config_file": config_file})
    monkeypatch.setattr(cli, "cleanup_items", lambda path, settings, **which: calls.append((path, settings)) or outcome)
    monkeypatch.setenv("QODER_PAT", TOKEN)
    assert cli.main(["cleanup", "--ledger", str(ledger), "--config", "suite.toml"]) == 0
    assert calls == [(ledger, {"config_file": "suite.toml"})]
    assert json.loads(capsys.readouterr().out)["stopped"] == ["work_1"]
    outcome["failed"] = [{"id": "work_2", "error": f"401 for Bearer {TOKEN}"}]
    assert cli.main(["cleanup", "--ledger", str(ledger)]) == 1
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err and "1 item(s) could not be stopped" in captured.err


def test_python_dash_m_runs_the_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "conformance", "requirements", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)) == len(catalogue.requirements())
