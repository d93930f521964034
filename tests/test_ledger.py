"""The ledger: one line per created item at creation, cleanup of exactly the ledger's live items."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import httpx
import pytest

from conformance import evidence
from conformance.client import RateLimiter, SuiteClient
from conformance.config import Settings
from conformance.errors import HarnessError
from conformance.evidence import Redactor
from conformance.ledger import Ledger, cleanup, cleanup_from_ledger, read_entries
from conformance.provisioners import HookProvisioner
from qoder_emulator import launch


def settings(base_url: str = "http://t.test", pat: str = "pt-ledger-test", **changes) -> Settings:
    return Settings(base_url=base_url, pat=pat, environment_id="env_1", provisioner="hook", run_id="run1", **changes)


def test_append_from_threads_gives_one_whole_line_each(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "reports" / "ledger.jsonl", settings())
    threads = [threading.Thread(target=ledger.record, args=("env_1", f"work_{i}", "case")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    lines = ledger.path.read_text().splitlines()
    assert len(lines) == 20
    entry = json.loads(lines[0])
    assert set(entry) == {"base_url", "environment_id", "work_id", "created_by", "at", "run", "embedded"}
    assert entry["run"] == "run1" and entry["base_url"] == "http://t.test"


def test_read_entries_skips_a_torn_line_and_filters_by_run(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        json.dumps({"work_id": "work_a", "environment_id": "env_1", "run": "r1"})
        + "\n"
        + json.dumps({"work_id": "work_b", "environment_id": "env_1", "run": "r2"})
        + '\n{"wo'
    )
    assert [e["work_id"] for e in read_entries(path)] == ["work_a", "work_b"]
    assert [e["work_id"] for e in read_entries(path, "r2")] == ["work_b"]


def test_cleanup_stops_live_items_only_and_touches_nothing_else() -> None:
    states = {"work_live": "active", "work_done": "stopped", "work_stuck": "stopping"}
    touched: list[str] = []

    def target(request: httpx.Request) -> httpx.Response:
        work_id = request.url.path.split("/")[7]
        touched.append(f"{request.method} {work_id}")
        if work_id not in states:
            return httpx.Response(404, json={"error": {"type": "not_found_error"}})
        if request.method == "POST":
            assert json.loads(request.content) == {"force": True}
            if work_id == "work_stuck":
                return httpx.Response(500, json={})
            states[work_id] = "stopped"
        return httpx.Response(200, json={"id": work_id, "state": states[work_id]})

    recorded: list[evidence.Exchange] = []
    client = SuiteClient(settings(), recorded.append, Redactor({}), RateLimiter(0, 0),
                         http=httpx.Client(transport=httpx.MockTransport(target)))  # fmt: skip
    entries = [{"environment_id": "env_1", "work_id": w} for w in ("work_live", "work_done", "work_gone", "work_stuck")]
    outcome = cleanup(entries, client)
    assert outcome["stopped"] == ["work_live"]
    assert outcome["already_stopped"] == ["work_done", "work_gone"]
    assert outcome["failed"] == [{"work_id": "work_stuck", "reason": "force stop answered 500 with state None"}]
    assert {t.split()[1] for t in touched} == {"work_live", "work_done", "work_gone", "work_stuck"}
    assert all(exchange.role == evidence.CLEANUP for exchange in recorded)


def test_cleanup_from_ledger_against_the_emulator(tmp_path: Path) -> None:
    with launch() as emulator:
        target = settings(emulator.base_url, emulator.settings["QODER_PAT"], hook_url=emulator.hook_url)
        ledger = Ledger(tmp_path / "ledger.jsonl", target)
        client = SuiteClient(target, lambda e: None, Redactor(target.secrets()), RateLimiter(0, 0))
        hook = HookProvisioner(target, client, lambda env, work: ledger.record(env, work, "test"))
        environment = emulator.settings["QODER_ENVIRONMENT_ID"]
        live = hook.provision("active", environment_id=environment, metadata={"k": "v"})
        done = hook.provision("stopped", environment_id=environment, metadata={"k": "v"})
        unrelated = hook.provision("active", environment_id=environment, metadata={})  # recorded, then forgotten
        lines = ledger.path.read_text().splitlines()
        ledger.path.write_text("\n".join(line for line in lines if unrelated["id"] not in line) + "\n")

        outcome = cleanup_from_ledger(ledger.path, target)
        assert outcome == {
            "run": "run1",
            "stopped": [live["id"]],
            "already_stopped": [done["id"]],
            "failed": [],
            "skipped": [],
            "discarded": [],
            "other_runs": {},
        }
        still = client.get(environment, unrelated["id"]).json()
        assert still["state"] == "active", "cleanup touched an item that is not in the ledger"


# ------------------------------------------------------------------------ hostile input: the file and the target


class _CountingServer:
    """A loopback server that must never be contacted: it counts requests and the Authorization headers it saw."""

    def __init__(self) -> None:
        import http.server

        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                seen.append(f"GET {self.path} {self.headers.get('Authorization')}")
                self.send_response(404)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _line(work_id: str, run: str, base_url: str, **more: object) -> str:
    entry = {"base_url": base_url, "environment_id": "env_00000000000000000000000000000001", "work_id": work_id}
    return json.dumps({**entry, "run": run, "created_by": "case", "at": "2026-01-01T00:00:00.000Z", **more})


def _live_item(emulator, metadata: dict[str, str] | None = None) -> str:
    answer = httpx.post(
        emulator.hook_url,
        json={
            "state": "active",
            "environment_id": emulator.settings["QODER_ENVIRONMENT_ID"],
            "metadata": metadata or {},
        },
        headers={"Authorization": f"Bearer {emulator.settings['QODER_PAT']}"},
    )
    return answer.json()["id"]


def _state_of(emulator, work_id: str) -> str:
    environment = emulator.settings["QODER_ENVIRONMENT_ID"]
    return httpx.get(
        f"{emulator.base_url}/api/v1/cloud/environments/{environment}/work/{work_id}",
        headers={"Authorization": f"Bearer {emulator.settings['QODER_PAT']}"},
    ).json()["state"]


def _cleanup_command(monkeypatch, capsys, emulator, *arguments: str) -> tuple[int, dict, str]:
    from conformance import cli

    for name in [name for name in os.environ if name.startswith("QODER_")]:
        monkeypatch.delenv(name)
    for name, value in emulator.settings.items():
        monkeypatch.setenv(name, value)
    status = cli.main(["cleanup", *arguments])
    captured = capsys.readouterr()
    return status, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def test_the_cleanup_command_survives_a_hostile_ledger_and_never_sends_the_pat_elsewhere(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    elsewhere = _CountingServer()
    try:
        with launch() as emulator:
            ours = _live_item(emulator)
            foreign = _live_item(emulator, {"owner": "someone else"})
            lines = [
                _line(ours, "r1", emulator.base_url),
                _line(foreign, "r1", elsewhere.url),  # another origin: never contacted, never sent the PAT
                _line(foreign, "r1", emulator.base_url.replace("127.0.0.1", "localhost")),  # another origin too
                '{"wo',  # a torn line
                "[1, 2]",
                json.dumps({"work_id": 5, "environment_id": "env_1", "run": "r1"}),
                json.dumps({"work_id": "work_a\n$(id)", "environment_id": "env_1", "run": "r1"}),
                json.dumps({"work_id": "../../env_2/work/" + foreign, "environment_id": "env_1", "run": "r1"}),
                json.dumps({"work_id": "work_a", "environment_id": "env_1/../env_2", "run": "r1"}),
                "[" * 20000,
                "x" * 10000,
            ]
            path = tmp_path / "ledger.jsonl"
            path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\x1b]0;owned\x07\n")
            status, outcome, err = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path))
            assert status == 1, err
            assert outcome["stopped"] == [ours] and outcome["failed"] == []
            assert _state_of(emulator, foreign) == "active", "an item outside the configured target's ledger lines"
            skipped_lines = sorted(entry["line"] for entry in outcome["skipped"] if "line" in entry)
            assert skipped_lines == list(range(4, 13)), outcome["skipped"]
            other_targets = [entry for entry in outcome["skipped"] if "work_id" in entry]
            assert [entry["work_id"] for entry in other_targets] == [foreign, foreign]
            assert all("not contacted" in entry["reason"] for entry in other_targets)
            assert "skipped" in err and "\x1b" not in err + json.dumps(outcome)
    finally:
        elsewhere.close()
    assert elsewhere.requests == [], "the PAT was sent to a ledger line's base_url that is not the configured target"


def test_the_cleanup_command_takes_the_latest_run_unless_told(tmp_path: Path, monkeypatch, capsys) -> None:
    with launch() as emulator:
        old, new = _live_item(emulator), _live_item(emulator)
        path = tmp_path / "ledger.jsonl"
        path.write_text(_line(old, "r1", emulator.base_url) + "\n" + _line(new, "r2", emulator.base_url) + "\n")

        status, outcome, err = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path))
        assert status == 0 and outcome["run"] == "r2" and outcome["stopped"] == [new]
        assert outcome["other_runs"] == {"r1": 1} and "--run-id" in err
        assert _state_of(emulator, old) == "active", "an older run's item is not this cleanup's"

        status, outcome, _ = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path), "--run-id", "r1")
        assert status == 0 and outcome["stopped"] == [old] and outcome["other_runs"] == {"r2": 1}

        status, outcome, _ = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path), "--all")
        assert status == 0 and outcome["run"] == "all" and outcome["already_stopped"] == [old, new]

        status, _, err = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path), "--run-id", "nope")
        assert status == 2 and "r1, r2" in err


def test_embedded_emulator_entries_are_discarded_not_contacted(tmp_path: Path, monkeypatch, capsys) -> None:
    with launch() as emulator:
        path = tmp_path / "ledger.jsonl"
        path.write_text(_line("work_gone", "r1", "http://127.0.0.1:9", embedded=True) + "\n")
        status, outcome, _ = _cleanup_command(monkeypatch, capsys, emulator, "--ledger", str(path))
    assert status == 0 and outcome["discarded"] == ["work_gone"] and not outcome["skipped"]


def test_cleanup_ends_every_entry_in_an_outcome_whatever_the_target_answers() -> None:
    def target(request: httpx.Request) -> httpx.Response:
        work_id = request.url.path.split("/")[7]
        if work_id == "work_deep":
            return httpx.Response(200, content=b"[" * 100000)
        if work_id == "work_ansi":
            return httpx.Response(200, json={"state": "\x1b]0;owned\x07" * 50})
        raise RuntimeError("the transport broke")

    client = SuiteClient(settings(), lambda e: None, Redactor({}), RateLimiter(0, 0),
                         http=httpx.Client(transport=httpx.MockTransport(target)))  # fmt: skip
    entries = [
        {"environment_id": "env_1", "work_id": work_id, "base_url": "http://t.test"}
        for work_id in ("work_deep", "work_ansi", "work_broken")
    ]
    entries.append({"environment_id": "env_1", "work_id": "work_x", "base_url": "http://elsewhere.test"})
    entries.append({"environment_id": "env_1", "work_id": "../work_x"})
    outcome = cleanup(entries, client)
    assert [failure["work_id"] for failure in outcome["failed"]] == ["work_deep", "work_ansi", "work_broken"]
    assert "\x1b" not in json.dumps(outcome, ensure_ascii=False)
    assert [skip["work_id"] for skip in outcome["skipped"]] == ["work_x", "../work_x"]


def test_the_ledger_refuses_an_id_of_another_form(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl", settings())
    for environment_id, work_id in [("env_1", "work_a\n"), ("env_1/..", "work_a"), ("env_1", "../work_a")]:
        with pytest.raises(HarnessError):
            ledger.record(environment_id, work_id, "case")
    assert not ledger.path.exists()
