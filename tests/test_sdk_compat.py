"""The official SDK (`qca-sdk`, import `qca`) against the emulator: a real client must be able to use it.

Why: the emulator is only a useful stand-in if the code people actually run (the official SDK, which is what
workers are built on) works against it unchanged. Every request here goes over a loopback socket to an emulator
started with `qoder_emulator.launch()`, exactly as a user would start it; the SDK is not patched, only observed
through an httpx event hook so that the bytes it sends (`{}` on ack and stop, query parameters on heartbeat) can be
asserted as well as what it parses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

qca = pytest.importorskip("qca", reason="the official SDK is not installed: pip install -e '.[sdk]'")
from qca.managed import Managed  # noqa: E402

from qoder_emulator import RunningEmulator, launch  # noqa: E402

pytestmark = pytest.mark.sdk

API_PREFIX = "/api/v1/cloud"
WORKER_ID = "sdk-compat-worker"


@dataclass
class Sent:
    """What the SDK put on the wire, in order, so tests can assert the SDK's own request shapes."""

    requests: list[httpx.Request] = field(default_factory=list)
    responses: list[httpx.Response] = field(default_factory=list)

    def record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def record_response(self, response: httpx.Response) -> None:
        self.responses.append(response)  # the SDK reads the body; its bytes stay on the object

    def last(self, method: str, path_suffix: str) -> httpx.Request:
        for request in reversed(self.requests):
            if request.method == method and request.url.path.endswith(path_suffix):
                return request
        raise AssertionError(f"the SDK sent no {method} ...{path_suffix}")


@dataclass
class Sdk:
    client: Any
    sent: Sent
    settings: dict[str, str]

    @property
    def env(self) -> str:
        return self.settings["QODER_ENVIRONMENT_ID"]

    @property
    def work(self) -> Any:
        return self.client.environments.work


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """One emulator per test: each starts with an empty queue, so the first poll delivers the test's own item."""
    with launch() as running:
        yield running


def _client(running: RunningEmulator, pat: str, sent: Sent) -> Any:
    # max_retries=0: a retry would hide the first answer, and a test must see exactly what the emulator said.
    http_client = httpx.Client(timeout=10, event_hooks={"request": [sent.record], "response": [sent.record_response]})
    return Managed(pat=pat, base_url=f"{running.base_url}{API_PREFIX}", max_retries=0, http_client=http_client)


@pytest.fixture
def sdk(emulator: RunningEmulator) -> Iterator[Sdk]:
    sent = Sent()
    client = _client(emulator, emulator.settings["QODER_PAT"], sent)
    yield Sdk(client, sent, emulator.settings)
    client.close()


def _new_session_item(sdk: Sdk) -> Any:
    """Create a session and poll its work item (the queue is otherwise empty: one emulator per test)."""
    session = sdk.client.sessions.create(agent=sdk.settings["QODER_AGENT_ID"], environment_id=sdk.env)
    assert session.id.startswith("sess_")
    item = sdk.work.poll(sdk.env, block_ms=200, worker_id=WORKER_ID)
    assert item is not None, "poll answered null although a session was just created"
    assert item.data.id == session.id
    return item


def _active_item(sdk: Sdk) -> tuple[Any, Any]:
    item = _new_session_item(sdk)
    sdk.work.ack(item.id, environment_id=sdk.env, extra_headers={"Worker-ID": WORKER_ID})
    beat = sdk.work.heartbeat(item.id, environment_id=sdk.env, expected_last_heartbeat="NO_HEARTBEAT")
    return item, beat


def test_worker_lifecycle_with_graceful_drain(sdk: Sdk) -> None:
    """create -> poll -> ack {} -> heartbeat NO_HEARTBEAT -> echo -> stop {} -> stop {} -> retrieve: stopped."""
    item = _new_session_item(sdk)
    assert item.type == "work"
    assert item.state == "queued"
    assert item.data.type == "session"
    assert item.environment_id == sdk.env
    assert item.acknowledged_at is None and item.stopped_at is None
    poll_request = sdk.sent.last("GET", "/work/poll")
    assert poll_request.headers["Worker-ID"] == WORKER_ID
    assert poll_request.url.params["block_ms"] == "200"

    acked = sdk.work.ack(item.id, environment_id=sdk.env, extra_headers={"Worker-ID": WORKER_ID})
    assert acked.state == "starting"
    assert acked.acknowledged_at is not None
    assert sdk.sent.last("POST", "/ack").content == b"{}"

    first = sdk.work.heartbeat(
        item.id, environment_id=sdk.env, expected_last_heartbeat="NO_HEARTBEAT", desired_ttl_seconds=60
    )
    assert first.type == "work_heartbeat"
    assert first.state == "active"
    assert first.lease_extended is True
    assert first.ttl_seconds == 60
    heartbeat_request = sdk.sent.last("POST", "/heartbeat")
    assert heartbeat_request.url.params["expected_last_heartbeat"] == "NO_HEARTBEAT"
    assert heartbeat_request.url.params["desired_ttl_seconds"] == "60"

    second = sdk.work.heartbeat(item.id, environment_id=sdk.env, expected_last_heartbeat=first.last_heartbeat)
    assert second.state == "active"
    assert second.last_heartbeat >= first.last_heartbeat

    draining = sdk.work.stop(item.id, environment_id=sdk.env)
    assert sdk.sent.last("POST", "/stop").content == b"{}"
    assert draining.state == "stopping"
    assert draining.stop_requested_at is not None
    assert draining.stopped_at is None

    # A worker still heartbeating learns it must wind down.
    winding_down = sdk.work.heartbeat(item.id, environment_id=sdk.env, expected_last_heartbeat=second.last_heartbeat)
    assert winding_down.state == "stopping"

    confirmed = sdk.work.stop(item.id, environment_id=sdk.env)
    assert confirmed.state == "stopped"
    assert confirmed.stopped_at is not None

    retrieved = sdk.work.retrieve(item.id, environment_id=sdk.env)
    assert retrieved.state == "stopped"
    assert retrieved.id == item.id
    assert retrieved.stopped_at == confirmed.stopped_at


def test_force_stop_from_active(sdk: Sdk) -> None:
    item, _ = _active_item(sdk)
    stopped = sdk.work.stop(item.id, environment_id=sdk.env, force=True)
    assert json.loads(sdk.sent.last("POST", "/stop").content) == {"force": True}
    assert stopped.state == "stopped"
    assert stopped.stopped_at is not None


def test_graceful_stop_of_a_stopped_item_returns_it_unchanged(sdk: Sdk) -> None:
    item, _ = _active_item(sdk)
    first = sdk.work.stop(item.id, environment_id=sdk.env, force=True)
    again = sdk.work.stop(item.id, environment_id=sdk.env)
    assert again.state == "stopped"
    assert again.stopped_at == first.stopped_at


def test_empty_poll_is_none(emulator: RunningEmulator) -> None:
    sent = Sent()
    client = _client(emulator, emulator.settings["QODER_PAT"], sent)
    try:
        other_env = emulator.settings["QODER_OTHER_ENVIRONMENT_ID"]
        assert client.environments.work.poll(other_env, block_ms=1) is None
        assert sent.requests[-1].url.path.endswith("/work/poll")
        # What workers rely on (real-clients.md): 200, JSON, the literal null; a 204 would also give None here.
        answer = sent.responses[-1]
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.content.strip() == b"null"
    finally:
        client.close()


def test_list_pagination_follows_every_page(sdk: Sdk) -> None:
    created = {
        sdk.client.sessions.create(agent=sdk.settings["QODER_AGENT_ID"], environment_id=sdk.env).id for _ in range(7)
    }
    first_page = sdk.work.list(sdk.env, limit=3)
    assert len(first_page.data) == 3
    assert first_page.has_more is True
    assert first_page.next_page == first_page.last_id

    pages = list(first_page.iter_pages())
    assert len(pages) >= 3
    for page in pages[:-1]:
        assert len(page.data) == 3
        assert page.has_more is True
    assert pages[-1].has_more is False
    assert pages[-1].next_page is None
    follow_up = [request for request in sdk.sent.requests if request.url.params.get("page")]
    assert len(follow_up) == len(pages) - 1

    ids = [item.id for page in pages for item in page.data]
    assert len(ids) == len(set(ids)), "an item appeared on two pages"
    assert ids == sorted(ids), "list is documented as ascending ID order"
    listed_sessions = {item.data.id for page in pages for item in page.data}
    assert created <= listed_sessions


def test_stats(sdk: Sdk) -> None:
    sdk.client.sessions.create(agent=sdk.settings["QODER_AGENT_ID"], environment_id=sdk.env)
    stats = sdk.work.stats(sdk.env)
    assert stats.type == "work_queue_stats"
    assert isinstance(stats.depth, int) and stats.depth >= 1
    assert isinstance(stats.pending, int) and stats.pending >= 0
    assert stats.oldest_queued_at is not None
    assert isinstance(stats.workers_polling, int)


def test_update_metadata_is_a_merge_patch(sdk: Sdk) -> None:
    item = _new_session_item(sdk)
    first = sdk.work.update(item.id, environment_id=sdk.env, metadata={"job": "daily-report", "obsolete_key": "x"})
    assert first.metadata == {"job": "daily-report", "obsolete_key": "x"}
    patched = sdk.work.update(
        item.id, environment_id=sdk.env, metadata={"worker": "byoc-worker-01", "obsolete_key": None}
    )
    assert json.loads(sdk.sent.last("POST", item.id).content) == {
        "metadata": {"worker": "byoc-worker-01", "obsolete_key": None}
    }
    assert patched.metadata == {"job": "daily-report", "worker": "byoc-worker-01"}
    assert sdk.work.retrieve(item.id, environment_id=sdk.env).metadata == patched.metadata


def test_ack_on_a_stopped_item_raises_conflict(sdk: Sdk) -> None:
    item, _ = _active_item(sdk)
    sdk.work.stop(item.id, environment_id=sdk.env, force=True)
    with pytest.raises(qca.ConflictError) as raised:
        sdk.work.ack(item.id, environment_id=sdk.env)
    assert raised.value.status_code == 409
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_heartbeat_on_a_stopped_item_raises_conflict(sdk: Sdk) -> None:
    item, _ = _active_item(sdk)
    sdk.work.stop(item.id, environment_id=sdk.env, force=True)
    with pytest.raises(qca.ConflictError):
        sdk.work.heartbeat(item.id, environment_id=sdk.env)


def test_stale_heartbeat_echo_raises_412(sdk: Sdk) -> None:
    item, first = _active_item(sdk)
    sdk.work.heartbeat(item.id, environment_id=sdk.env, expected_last_heartbeat=first.last_heartbeat)
    with pytest.raises(qca.APIStatusError) as raised:
        sdk.work.heartbeat(item.id, environment_id=sdk.env, expected_last_heartbeat="NO_HEARTBEAT")
    assert raised.value.status_code == 412
    assert raised.value.body["error"]["type"] == "precondition_failed_error"


def test_unknown_item_raises_not_found(sdk: Sdk) -> None:
    missing = "work_" + "0" * 32
    with pytest.raises(qca.NotFoundError):
        sdk.work.retrieve(missing, environment_id=sdk.env)
    with pytest.raises(qca.NotFoundError):
        sdk.work.stop(missing, environment_id=sdk.env)


def test_invalid_pat_raises_authentication_error(emulator: RunningEmulator) -> None:
    for pat in ("pt-not-a-known-token", emulator.settings["QODER_EXPIRED_PAT"]):
        client = _client(emulator, pat, Sent())
        try:
            with pytest.raises(qca.AuthenticationError):
                client.environments.work.stats(emulator.settings["QODER_ENVIRONMENT_ID"])
        finally:
            client.close()


def test_other_principal_raises_permission_denied(emulator: RunningEmulator) -> None:
    client = _client(emulator, emulator.settings["QODER_FORBIDDEN_PAT"], Sent())
    try:
        with pytest.raises(qca.PermissionDeniedError):
            client.environments.work.stats(emulator.settings["QODER_ENVIRONMENT_ID"])
    finally:
        client.close()


def test_cloud_environment_raises_bad_request(sdk: Sdk) -> None:
    with pytest.raises(qca.BadRequestError) as raised:
        sdk.work.stats(sdk.settings["QODER_CLOUD_ENVIRONMENT_ID"])
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_explicit_force_false_is_a_graceful_stop(sdk: Sdk) -> None:
    item, _ = _active_item(sdk)
    draining = sdk.work.stop(item.id, environment_id=sdk.env, force=False)
    assert json.loads(sdk.sent.last("POST", "/stop").content) == {"force": False}
    assert draining.state == "stopping"


def test_ack_with_another_worker_id_is_a_conflict_and_redelivery_uses_reclaim(sdk: Sdk) -> None:
    """The queue's Worker-ID rule as an SDK worker meets it: the SDK's poll sends reclaim_older_than_ms, a second
    worker gets the item back with 0, and an ack from the first worker (whose delivery was taken over) raises the
    SDK's ConflictError (409, error.type invalid_request_error); the item stays queued."""
    item = _new_session_item(sdk)
    again = sdk.work.poll(sdk.env, reclaim_older_than_ms=0, worker_id="sdk-compat-other-worker")
    assert again is not None and again.id == item.id
    assert sdk.sent.last("GET", "/work/poll").url.params["reclaim_older_than_ms"] == "0"
    with pytest.raises(qca.ConflictError) as refused:
        sdk.work.ack(item.id, environment_id=sdk.env, extra_headers={"Worker-ID": WORKER_ID})
    assert refused.value.status_code == 409
    assert sdk.work.retrieve(item.id, environment_id=sdk.env).state == "queued"
    acked = sdk.work.ack(item.id, environment_id=sdk.env, extra_headers={"Worker-ID": "sdk-compat-other-worker"})
    assert acked.state == "starting"
