"""The ledger: one line per created item at creation, cleanup of exactly the ledger's live items."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from conformance import evidence
from conformance.client import RateLimiter, SuiteClient
from conformance.config import Settings
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
