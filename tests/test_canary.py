"""Self-tests of the secret canary: every form of a planted token is found, and write_all removes the file."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest

from conformance.evidence import Redactor, Secret
from conformance.reporting import canary, html, manifest, verify, write_all
from conformance.reporting.sample import sample_run

TOKEN = "pt-Zq8/u+Xc7Lm2Na9Rt4Vy-Secret_token"
SECRETS = {"QODER_PAT": TOKEN, "QODER_EXPIRED_PAT": None}

PLANTED = {
    "raw": TOKEN,
    "authorization header": f"Authorization: Bearer {TOKEN}\r\n",
    "base64": base64.b64encode(TOKEN.encode()).decode(),
    "base64 unpadded": base64.b64encode(TOKEN.encode()).decode().rstrip("="),
    "base64 url-safe": base64.urlsafe_b64encode(TOKEN.encode()).decode(),
    "basic auth": "Authorization: Basic " + base64.b64encode(f"x:{TOKEN}".encode()).decode(),
    "basic auth, empty user": base64.b64encode(f":{TOKEN}".encode()).decode(),
    "url-encoded": "https://x.test/?token=" + urllib.parse.quote(TOKEN, safe=""),
    "form-encoded": "token=" + urllib.parse.quote_plus(TOKEN),
    "base64 inside a larger blob": base64.b64encode(json.dumps({"headers": {"pat": TOKEN}}).encode()).decode(),
    "url-safe base64 inside a blob": base64.urlsafe_b64encode(b"ab" + TOKEN.encode() + b"cd").decode(),
}


@pytest.mark.parametrize("form", list(PLANTED))
def test_each_form_is_found_in_a_file(tmp_path: Path, form: str) -> None:
    artifact = tmp_path / "evidence.txt"
    artifact.write_text(f"before\n{PLANTED[form]}\nafter\n")
    hits = canary.scan([tmp_path], SECRETS)
    assert [(hit.path, hit.variable) for hit in hits] == [(str(artifact), "QODER_PAT")]
    assert TOKEN not in repr(hits) and TOKEN not in hits[0].line()


def test_found_in_binary_files_and_terminal_text(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff" + TOKEN.encode() + b"\xfe")
    assert len(canary.scan([tmp_path / "blob.bin"], SECRETS)) == 1
    assert [hit.path for hit in canary.scan_text(f"$ curl -H 'Bearer {TOKEN}'", SECRETS)] == ["<terminal output>"]
    assert canary.scan_text("Authorization: Bearer ${QODER_PAT}", SECRETS) == []


def test_clean_artifacts_give_no_hit(tmp_path: Path) -> None:
    write_all(sample_run(), tmp_path, {"QODER_PAT": "pt-emulator-primary", "QODER_FORBIDDEN_PAT": "pt-other-x"})
    assert canary.scan([tmp_path], {"QODER_PAT": "pt-emulator-primary", "QODER_FORBIDDEN_PAT": "pt-other-x"}) == []


@pytest.mark.parametrize("form", ["raw", "authorization header", "base64", "url-encoded"])
def test_write_all_removes_a_leaking_file(tmp_path: Path, form: str) -> None:
    (tmp_path / "junit.xml").write_text(f"<testsuites><system-out>{PLANTED[form]}</system-out></testsuites>")
    (tmp_path / "ledger.jsonl").write_text('{"id": "work_1"}\n')
    run = sample_run()
    run.cases[0].exchanges[1]["response_body"] = f"echoed: {PLANTED[form]}"  # a leak into report.html
    hits = write_all(run, tmp_path, SECRETS, also_scan=[tmp_path / "junit.xml", tmp_path / "ledger.jsonl"])
    leaked = {Path(hit.path).name for hit in hits}
    assert leaked == {"junit.xml", "report.html"}
    assert all(hit.removed and hit.variable == "QODER_PAT" for hit in hits)
    assert not (tmp_path / "junit.xml").exists() and not (tmp_path / "report.html").exists()
    assert (tmp_path / "ledger.jsonl").exists() and (tmp_path / "summary.json").exists()
    assert all(TOKEN not in hit.line() for hit in hits)


def test_short_embedded_fragments_are_not_searched() -> None:
    """Base64 of a very short token at an arbitrary offset would match unrelated text: only exact forms count."""
    assert not any(label.startswith("base64 (embedded") for label in canary.forms("pt-ab").values())
    assert any(label.startswith("base64 (embedded") for label in canary.forms(TOKEN).values())


@pytest.mark.parametrize("form", list(PLANTED))
def test_the_redactor_removes_every_form_the_canary_finds(form: str) -> None:
    """One table of encodings for both: whatever the canary would find, redaction has already replaced."""
    redacted = Redactor({"QODER_PAT": Secret(TOKEN)}).text(f"before {PLANTED[form]} after")
    assert canary.scan_text(redacted, SECRETS) == [], redacted
    assert "${QODER_PAT}" in redacted


def test_only_files_the_run_wrote_are_scanned_and_removed(tmp_path: Path) -> None:
    """A reports folder shared with the user's files (`--reports-dir=.`): theirs hold the token and stay as they
    are; the run's own leaking file is removed and reported."""
    users = {
        ".env": f"QODER_PAT={TOKEN}\n",
        "qoder-conformance.toml": f'pat = "{TOKEN}"\n',
        "ci-secret.b64": base64.b64encode(TOKEN.encode()).decode(),
        "repro/mine.sh": f"curl -H 'Authorization: Bearer {TOKEN}'\n",
    }
    for name, text in users.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    before = {name: (tmp_path / name).stat().st_mtime_ns for name in users}
    run = sample_run()
    run.cases[0].exchanges[1]["response_body"] = f"echoed: {TOKEN}"  # a leak into report.html (redaction bypassed)
    hits = write_all(run, tmp_path, SECRETS)
    assert {Path(hit.path).name for hit in hits} == {"report.html"}
    assert not (tmp_path / "report.html").exists()
    for name, text in users.items():
        assert (tmp_path / name).read_text() == text and (tmp_path / name).stat().st_mtime_ns == before[name]
    written = json.loads((tmp_path / manifest.MANIFEST_NAME).read_text())["files"]
    assert "report.html" not in written and "summary.json" in written and ".env" not in written


def test_a_manifest_cannot_point_outside_the_reports_folder(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    victim = tmp_path / "victim.sh"
    victim.write_text("keep me\n")
    hostile = {"run_id": "x", "files": ["../victim.sh", str(victim), "repro/../../victim.sh", "repro/ok.sh"]}
    (reports / manifest.MANIFEST_NAME).write_text(json.dumps(hostile))
    assert manifest.read(reports).files == ["repro/ok.sh"]
    write_all(sample_run(failing=False), reports, {})
    assert victim.read_text() == "keep me\n"


def test_a_killed_run_leaves_a_summary_that_verify_refuses(tmp_path: Path) -> None:
    write_all(sample_run(failing=False), tmp_path, {})
    summary_path = tmp_path / "summary.json"
    assert json.loads(summary_path.read_text())["format"]  # a complete summary of the earlier run
    manifest.begin_run(tmp_path, "run2", "2026-01-01T00:00:00Z")  # the next run starts ... and is killed
    found = verify.problems(verify.load(summary_path))
    assert len(found) == 1 and "did not finish" in found[0]


def test_a_report_that_cannot_be_rendered_costs_no_other_report(tmp_path: Path, monkeypatch) -> None:
    def broken(vetted: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(html, "render", broken)
    write_all(sample_run(), tmp_path, {})
    assert (tmp_path / "summary.md").is_file() and not (tmp_path / "report.html").exists()
    document = json.loads((tmp_path / "summary.json").read_text())
    assert any("report.html could not be written: RecursionError" in p for p in document["record_problems"])
    assert verify.problems(document)
