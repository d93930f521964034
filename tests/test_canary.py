"""Self-tests of the secret canary: every form of a planted token is found, and write_all removes the file."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest

from conformance.reporting import canary, write_all
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
