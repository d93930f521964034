"""The lifecycle provisioner against the emulator: every state through the documented API only, and what it costs.

The cost is the point of the list cursor: once a process has listed an environment, finding a new session's item
takes one list request however many items the environment holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.client import RateLimiter, SuiteClient
from conformance.config import Settings
from conformance.evidence import Exchange, Redactor
from conformance.provisioners import STATES, HookProvisioner, LifecycleProvisioner
from qoder_emulator import launch


class Target:
    def __init__(self, emulator) -> None:
        self.environment = emulator.settings["QODER_ENVIRONMENT_ID"]
        self.settings = Settings(
            base_url=emulator.base_url,
            pat=emulator.settings["QODER_PAT"],
            environment_id=self.environment,
            provisioner="lifecycle",
            hook_url=emulator.hook_url,
            agent_id=emulator.settings["QODER_AGENT_ID"],
            run_id="run1",
        )
        self.exchanges: list[Exchange] = []
        self.client = SuiteClient(
            self.settings, self.exchanges.append, Redactor(self.settings.secrets()), RateLimiter(0, 0)
        )
        self.created: list[str] = []
        self.cursors: dict[str, str] = {}

    def lifecycle(self) -> LifecycleProvisioner:
        """A provisioner as each case gets one: new, but sharing the process's list cursors."""
        return LifecycleProvisioner(
            self.settings, self.client, lambda env, work: self.created.append(work), cursors=self.cursors
        )

    def list_requests(self, since: int) -> list[str]:
        return [e.url for e in self.exchanges[since:] if e.method == "GET" and e.url.split("?")[0].endswith("/work")]


@pytest.fixture
def target() -> Iterator[Target]:
    with launch() as emulator:
        yield Target(emulator)


@pytest.mark.parametrize("state", STATES)
def test_every_state_through_the_documented_api(target: Target, state: str) -> None:
    item = target.lifecycle().provision(state, environment_id=target.environment, metadata={"case": state})
    assert item["state"] == state and item["metadata"]["case"] == state
    assert target.created == [item["id"]], "the new item reaches the ledger callback once, before any other step"
    hook_calls = [e for e in target.exchanges if "/_emulator/" in e.url]
    assert not hook_calls, "the lifecycle provisioner must use the documented API only"


def test_a_full_environment_costs_one_list_request_once_the_cursor_is_set(target: Target) -> None:
    hook = HookProvisioner(target.settings, target.client, lambda env, work: None)
    for _ in range(250):  # three pages of 100 before the suite's first item
        hook.provision("stopped", environment_id=target.environment, metadata={})
    first_mark = len(target.exchanges)
    target.lifecycle().provision("queued", environment_id=target.environment, metadata={"n": "1"})
    first = target.list_requests(first_mark)
    assert len(first) == 3 and all("limit=100" in url for url in first)

    for _ in range(150):  # other clients keep adding items
        hook.provision("stopped", environment_id=target.environment, metadata={})
    for n in range(2, 5):
        mark = len(target.exchanges)
        target.lifecycle().provision("queued", environment_id=target.environment, metadata={"n": str(n)})
        searched = target.list_requests(mark)
        assert all("after_id=work_" in url for url in searched[:1]), searched
        assert len(searched) <= 2, f"provisioning {n} listed {len(searched)} pages: {searched}"


def test_a_cursor_the_target_does_not_honour_falls_back_to_a_full_search(target: Target) -> None:
    target.cursors[target.environment] = "work_ffffffffffffffffffffffffffffffff"  # after every real ID
    item = target.lifecycle().provision("queued", environment_id=target.environment, metadata={"k": "v"})
    assert item["state"] == "queued"
    searched = target.list_requests(0)
    assert "after_id=work_ffff" in searched[0] and "after_id" not in searched[1]


def test_the_whole_suite_passes_with_the_lifecycle_provisioner(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    with launch() as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QODER_", "PYTEST_"))}
        env.update(emulator.settings, QODER_PROVISIONER="lifecycle", QODER_WRITE_RATE="0", QODER_READ_RATE="0")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--reports-dir={tmp_path}"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        environment = emulator.settings["QODER_ENVIRONMENT_ID"]
        live = [item.id for item in emulator.store.items_of(environment) if item.state != "stopped"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["target"]["provisioner"] == "lifecycle"
    assert {r["verdict"] for r in summary["requirements"]} <= {"pass", "recorded"}
    assert not live, f"items left live: {live}"


@pytest.mark.parametrize(
    ("listed_id", "listed_environment"),
    [
        ("../../env_2/work/work_foreign", "env_1"),
        ("work_x\n$(id)", "env_1"),
        ("work_0123456789abcdef", "env_2"),  # the session's item, but the list puts it in another environment
        ("work_seen", "env_1"),  # an item this run already had
    ],
)
def test_lifecycle_rejects_a_listed_item_it_cannot_own_without_a_request_about_it(
    listed_id: str, listed_environment: str
) -> None:
    import httpx

    from conformance.provisioners import RejectedItem

    sent: list[str] = []

    def target(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.raw_path.decode()}")
        if request.url.path.endswith("/sessions"):
            return httpx.Response(201, json={"id": "sess_1"})
        if request.url.path.endswith("/work"):
            item = {"id": listed_id, "environment_id": listed_environment, "state": "queued", "metadata": {},
                    "data": {"type": "session", "id": "sess_1"}}  # fmt: skip
            return httpx.Response(200, json={"data": [item], "has_more": False})
        return httpx.Response(500, json={})

    settings = Settings(base_url="http://t.test", pat="pt-x", environment_id="env_1", provisioner="lifecycle",
                        agent_id="agent_1", run_id="run1")  # fmt: skip
    client = SuiteClient(settings, lambda e: None, Redactor({}), RateLimiter(0, 0),
                         http=httpx.Client(transport=httpx.MockTransport(target)))  # fmt: skip
    created: list[str] = []
    provisioner = LifecycleProvisioner(settings, client, lambda env, work: created.append(work), seen={"work_seen"})
    with pytest.raises(RejectedItem):
        provisioner.provision("active", environment_id="env_1", metadata={"k": "v"})
    assert created == []
    assert [request.split("?")[0] for request in sent] == ["POST /api/v1/cloud/sessions",
                                                           "GET /api/v1/cloud/environments/env_1/work"]  # fmt: skip


def test_a_hook_error_body_reaches_the_message_without_control_bytes_or_the_query() -> None:
    import httpx

    from conformance.errors import ProvisioningError

    def hook(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=b"\x1b]0;owned\x07\x1b[2Jbroken")

    settings = Settings(base_url="http://t.test", pat="pt-x", environment_id="env_1", provisioner="hook",
                        hook_url="http://user:pw@hook.test/setup?key=sekrit", run_id="run1")  # fmt: skip
    client = SuiteClient(settings, lambda e: None, Redactor({}), RateLimiter(0, 0),
                         http=httpx.Client(transport=httpx.MockTransport(hook)))  # fmt: skip
    with pytest.raises(ProvisioningError) as raised:
        HookProvisioner(settings, client, lambda env, work: None).provision(
            "active", environment_id="env_1", metadata={}
        )
    message = str(raised.value)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;owned" in message
    assert "http://<redacted>@hook.test/setup?<redacted>" in message and "sekrit" not in message and "pw" not in message
