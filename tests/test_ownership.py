"""Ownership and a fair baseline against a hostile hook: what the suite takes as its own, and what it leaves alone.

The hook here sits on loopback in front of the emulator's own hook and lies in one way per mode. Each mode must end
in a provisioning error (never a FAIL); for an answer the suite cannot prove it owns, no request at all is sent about
the ID (a lie that only the server can expose costs one read, never a write), nothing is recorded in the ledger and
no foreign item changes (read before and after). An item the server confirms is this run's (its environment and
metadata) but that is not what was asked for is recorded and cleaned.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.client import RateLimiter, SuiteClient
from conformance.config import Settings
from conformance.errors import ProvisioningError
from conformance.evidence import Exchange, Redactor
from conformance.ledger import cleanup
from conformance.provisioners import HookProvisioner, RejectedItem
from qoder_emulator import launch

REPO = Path(__file__).resolve().parents[1]
HOOK_SECRET = "hook-query-" + secrets.token_hex(8)  # in the hook URL's query string: must never be shown
RUN_METADATA = {"qoder_conformance": "1", "run": "run1", "case": "c0ffee"}


class HostileHook:
    """A provider-state hook that forwards to the emulator's hook and then lies, as `mode` says."""

    def __init__(self, emulator: Any, foreign: dict[str, dict[str, Any]]) -> None:
        self.emulator = emulator
        self.foreign = foreign  # pre-existing items: "same" (our environment), "other" (another environment)
        self.mode = "honest"
        self.answered: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = hook.answer(asked, self.headers["Authorization"])
                body = json.dumps(answer).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/setup?key={HOOK_SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def create(self, asked: dict[str, Any], authorization: str) -> dict[str, Any]:
        answer = httpx.post(self.emulator.hook_url, json=asked, headers={"Authorization": authorization}, timeout=10)
        return answer.json()

    def answer(self, asked: dict[str, Any], authorization: str) -> dict[str, Any]:
        other_environment = self.foreign["other"]["environment_id"]
        mode, lying = self.mode, dict(asked)
        if mode == "existing":  # an item of this environment that exists already, as it is
            answer = dict(self.foreign["same"])
        elif mode == "existing-claims-ours":  # the same, dressed up with the run's metadata
            answer = {**self.foreign["same"], "metadata": asked["metadata"], "state": asked["state"]}
        elif mode == "existing-other-environment":
            answer = {**self.foreign["other"], "metadata": asked["metadata"], "state": asked["state"]}
        elif mode in ("traversal", "newline"):
            hostile = {
                "traversal": f"../../{other_environment}/work/{self.foreign['other']['id']}",
                "newline": "work_x\n$(touch /tmp/qoder-pwned) `id`;rm -rf x",
            }[mode]
            answer = {**self.foreign["same"], "id": hostile, "metadata": asked["metadata"], "state": asked["state"]}
        elif mode == "wrong-environment":
            answer = self.create({**lying, "environment_id": other_environment}, authorization)
        elif mode == "wrong-state":
            answer = self.create(
                {**lying, "state": "active" if asked["state"] != "active" else "queued"}, authorization
            )
        elif mode == "partial":
            answer = self.create(asked, authorization)
            for name in ("created_at", "data", "stopped_at"):
                answer.pop(name, None)
        elif mode == "created-at":
            answer = {**self.create(asked, authorization), "created_at": "2001-01-01T00:00:00.000Z"}
        elif mode == "repeat" and self.answered:
            answer = self.answered[-1]
        else:
            answer = self.create(asked, authorization)
        self.answered.append(answer)
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    """The emulator, two pre-existing items (ours-looking and another environment's), and the hostile hook."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.environment = emulator.settings["QODER_ENVIRONMENT_ID"]
        self.other_environment = "env_00000000000000000000000000000002"  # the primary principal's second one
        self.pat = emulator.settings["QODER_PAT"]
        foreign = {
            "same": self._existing(self.environment),
            "other": self._existing(self.other_environment),
        }
        self.hook = HostileHook(emulator, foreign)
        self.settings = Settings(
            base_url=emulator.base_url,
            pat=self.pat,
            environment_id=self.environment,
            provisioner="hook",
            hook_url=self.hook.url,
            run_id="run1",
        )
        self.exchanges: list[Exchange] = []
        self.client = SuiteClient(
            self.settings, self.exchanges.append, Redactor(self.settings.secrets()), RateLimiter(0, 0)
        )
        self.created: list[tuple[str, str]] = []
        self.provisioner = HookProvisioner(
            self.settings, self.client, lambda env, work: self.created.append((env, work))
        )

    def _existing(self, environment_id: str) -> dict[str, Any]:
        answer = httpx.post(
            self.emulator.hook_url,
            json={"state": "active", "environment_id": environment_id, "metadata": {"owner": "someone else"}},
            headers={"Authorization": f"Bearer {self.emulator.settings['QODER_PAT']}"},
        )
        return answer.json()

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item of both environments as the server holds it (read straight from the emulator's API)."""
        held = {}
        for environment in (self.environment, self.other_environment):
            listed = httpx.get(
                f"{self.emulator.base_url}/api/v1/cloud/environments/{environment}/work",
                params={"limit": 100},
                headers={"Authorization": f"Bearer {self.pat}"},
            ).json()
            held.update({item["id"]: item for item in listed["data"]})
        return held

    def provision(self, state: str = "queued") -> None:
        self.provisioner.provision(state, environment_id=self.environment, metadata=RUN_METADATA)

    def after_the_hook(self) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if "/setup" not in exchange.url]


@pytest.fixture
def world() -> Iterator[World]:
    with launch() as emulator:
        made = World(emulator)
        try:
            yield made
        finally:
            made.hook.close()


REJECTED_WITHOUT_A_REQUEST = ["existing", "existing-other-environment", "traversal", "newline", "wrong-environment"]


@pytest.mark.parametrize("mode", REJECTED_WITHOUT_A_REQUEST)
def test_an_answer_the_suite_cannot_own_is_rejected_without_any_request_about_it(world: World, mode: str) -> None:
    world.hook.mode = mode
    before = world.items()
    with pytest.raises(RejectedItem) as raised:
        world.provision()
    message = str(raised.value)
    assert not world.after_the_hook(), [f"{e.method} {e.url}" for e in world.after_the_hook()]
    assert world.created == [], "a rejected item must never reach the ledger"
    after = world.items()
    for work_id, item in before.items():
        assert after[work_id] == item, f"a pre-existing item changed: {work_id}"
    assert "/setup" in message and HOOK_SECRET not in message, message
    assert "\n" not in message and "\x1b" not in message
    if mode == "wrong-environment":
        # The item the hook made in the other environment: named so the user can stop it; never touched or counted.
        made = world.hook.answered[-1]
        assert made["id"] in message and world.other_environment in message and "stop it yourself" in message
        assert after[made["id"]]["state"] == "queued" and made["id"] not in before


def test_an_existing_item_dressed_as_ours_is_exposed_by_one_read_and_left_alone(world: World) -> None:
    world.hook.mode = "existing-claims-ours"
    before = world.items()
    with pytest.raises(RejectedItem, match="not this run's"):
        world.provision()
    sent = [(e.method, e.url.split("/api/v1/cloud")[-1]) for e in world.after_the_hook()]
    existing = world.hook.foreign["same"]
    assert sent == [("GET", f"/environments/{world.environment}/work/{existing['id']}")]
    assert world.created == [] and world.items() == before


def test_an_item_answered_twice_is_not_new(world: World) -> None:
    world.hook.mode = "repeat"
    world.provision()
    first = list(world.created)
    mark = len(world.exchanges)
    with pytest.raises(RejectedItem, match="not new"):
        world.provision()
    assert world.created == first and len(world.exchanges) == mark + 1  # the hook call, nothing about the item


def test_an_answer_in_another_state_is_rejected_before_any_request_about_it(world: World) -> None:
    world.hook.mode = "wrong-state"
    before = world.items()
    with pytest.raises(RejectedItem, match="not the item asked for"):
        world.provision("queued")
    assert world.after_the_hook() == [] and world.created == []
    made = world.hook.answered[-1]["id"]
    assert {k: v for k, v in world.items().items() if k != made} == before


@pytest.mark.parametrize(
    ("mode", "named"),
    [("partial", "created_at (hook absent"), ("created-at", "created_at (hook '2001")],
)
def test_a_proven_item_that_is_not_what_was_asked_is_an_error_and_is_cleaned(
    world: World, mode: str, named: str
) -> None:
    world.hook.mode = mode
    before = world.items()
    with pytest.raises(ProvisioningError) as raised:
        world.provision("queued")
    assert not isinstance(raised.value, RejectedItem)
    assert named in str(raised.value) and "recorded and cleaned" in str(raised.value)
    made = world.hook.answered[-1]["id"]
    assert world.created == [(world.environment, made)], "the server proved it ours: it must be recorded"
    writes = [e for e in world.after_the_hook() if e.method != "GET"]
    assert not writes, "provisioning reads the item back; it never writes to it"
    outcome = cleanup([{"environment_id": world.environment, "work_id": made}], world.client)
    assert outcome["stopped"] == [made]
    after = world.items()
    assert all(after[work_id] == item for work_id, item in before.items()), "a pre-existing item changed"


def test_the_baseline_is_the_servers_item(world: World) -> None:
    item = world.provisioner.provision("active", environment_id=world.environment, metadata=RUN_METADATA)
    assert item == world.items()[item["id"]]
    assert [e.method for e in world.exchanges] == ["POST", "GET"], "the hook and one read-back: two requests an item"


# ----------------------------------------------------------------------------------------- a whole run, end to end


def run_suite(world: World, reports: Path, selection: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("QODER_", "PYTEST_"))}
    env.update(world.emulator.settings, QODER_HOOK_URL=world.hook.url, QODER_WRITE_RATE="0", QODER_READ_RATE="0")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--reports-dir={reports}"]
    command += ["-k", selection]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["traversal", "existing-claims-ours", "wrong-environment", "partial", "created-at"])
def test_a_run_with_a_hostile_hook_errors_touches_nothing_foreign_and_leaves_nothing_live(
    world: World, tmp_path: Path, mode: str
) -> None:
    world.hook.mode = mode
    before = world.items()
    done = run_suite(world, tmp_path, "STOP-TR-FORCE and active and not model")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "INTERNALERROR" not in output, output[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    verdicts = {case["nodeid"]: case["verdict"] for case in summary["cases"]}
    assert verdicts and set(verdicts.values()) == {"error"}, verdicts
    for case in summary["cases"]:  # each error names the hook, without its query string
        assert "/setup" in case["message"] and HOOK_SECRET not in case["message"], case["message"]
    after = world.items()
    assert all(after[work_id] == item for work_id, item in before.items()), "a pre-existing item changed"
    made = {work_id: item for work_id, item in after.items() if work_id not in before}
    ledger_file = tmp_path / "ledger.jsonl"
    ledger = [json.loads(line) for line in ledger_file.read_text().splitlines()] if ledger_file.exists() else []
    recorded = {entry["work_id"] for entry in ledger}
    cleaned = summary["cleanup"]["stopped"] + summary["cleanup"]["already_stopped"]
    if mode == "wrong-environment":
        # Made by the hook in the other environment: named in each error, never recorded, touched or counted.
        assert made and all(item["environment_id"] == world.other_environment for item in made.values())
        as_made = {answer["id"]: answer for answer in world.hook.answered}
        assert made == {work_id: as_made[work_id] for work_id in made}, "the suite touched an item it cannot own"
        assert not recorded and not set(made) & set(cleaned)
        assert all(any(work_id in case["message"] for work_id in made) for case in summary["cases"])
    else:
        assert all(item["state"] == "stopped" for item in made.values()), f"items of the run left live: {made}"
        assert recorded == set(made), "recorded = created and proved"
        assert (mode in ("traversal", "existing-claims-ours")) == (not made)
