"""The other work endpoints, sessions and the hook, over a real socket, with their documented error rows."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest
from emulator_helpers import assert_error

ID = re.compile(r"^(work|sess)_[0-9a-f]{32}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
JSON = {"Content-Type": "application/json"}

# endpoint name -> (method, path suffix builder, item-scoped?)
ENDPOINTS = {
    "list": ("GET", lambda h, e, w: h.work(env=e), False),
    "poll": ("GET", lambda h, e, w: h.work(env=e, suffix="/poll"), False),
    "stats": ("GET", lambda h, e, w: h.work(env=e, suffix="/stats"), False),
    "get": ("GET", lambda h, e, w: h.work(w, env=e), True),
    "update": ("POST", lambda h, e, w: h.work(w, env=e), True),
    "ack": ("POST", lambda h, e, w: h.work(w, env=e, suffix="/ack"), True),
    "heartbeat": ("POST", lambda h, e, w: h.work(w, env=e, suffix="/heartbeat"), True),
    "stop": ("POST", lambda h, e, w: h.work(w, env=e, suffix="/stop"), True),
}


def call(http, name, *, env=None, work_id="work_" + "0" * 32, **kwargs):
    method, path, _ = ENDPOINTS[name]
    return http.request(method, path(http, env or http.env, work_id), **kwargs)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_common_error_rows(http, name):
    item = http.provision("starting")
    wid = item["id"]
    assert_error(call(http, name, work_id=wid, anonymous=True), 401, "authentication_error")
    assert_error(call(http, name, work_id=wid, token=http.settings["QODER_EXPIRED_PAT"]), 401, "authentication_error")
    assert_error(
        call(http, name, work_id=wid, anonymous=True, headers={"x-api-key": http.pat}), 401, "authentication_error"
    )
    assert_error(call(http, name, work_id=wid, token=http.settings["QODER_FORBIDDEN_PAT"]), 403, "permission_error")
    assert_error(call(http, name, env="env_" + "e" * 32, work_id=wid), 404, "not_found_error")
    cloud = call(http, name, env=http.settings["QODER_CLOUD_ENVIRONMENT_ID"], work_id=wid)
    assert assert_error(cloud, 400, "invalid_request_error")["message"] == "The Environment is not self_hosted"
    if ENDPOINTS[name][2]:
        assert_error(call(http, name), 404, "not_found_error")
        other = http.settings["QODER_OTHER_ENVIRONMENT_ID"]
        assert_error(call(http, name, env=other, work_id=wid), 404, "not_found_error")
    assert http.get(item) == item


def test_get_returns_the_full_work_object(http):
    item = http.provision("active", metadata={"job": "daily-report"})
    response = http.request("GET", http.work(item["id"]), headers={"qoder-workspace-id": "ws", "x-qoder-beta": "b"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == item
    assert ID.match(body["id"]) and ID.match(body["data"]["id"]) and body["metadata"] == {"job": "daily-report"}
    for name in ("created_at", "acknowledged_at", "started_at", "latest_heartbeat_at"):
        assert STAMP.match(body[name]), name


# ------------------------------------------------------------------------------------------------- update metadata


def update(http, item, content, headers=JSON):
    return http.request("POST", http.work(item["id"]), content=content, headers=headers)


def test_update_is_a_merge_patch(http):
    item = http.provision("active", metadata={"job": "daily-report", "obsolete_key": "x"})
    body = b'{"metadata": {"worker": "byoc-worker-01", "obsolete_key": null, "never_there": null}}'
    response = update(http, item, body)
    assert response.status_code == 200
    assert response.json()["metadata"] == {"job": "daily-report", "worker": "byoc-worker-01"}
    assert http.get(item)["metadata"] == {"job": "daily-report", "worker": "byoc-worker-01"}
    assert {k: v for k, v in response.json().items() if k != "metadata"} == {
        k: v for k, v in item.items() if k != "metadata"
    }


@pytest.mark.parametrize("content", [b"", b"{}", b'{"metadata": null}'])
def test_update_without_metadata_returns_the_item_unchanged(http, content):
    item = http.provision("stopped")
    response = update(http, item, content)
    assert response.status_code == 200 and response.json() == item


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"{nope", None),
        (b'{"metadata": {"n": 1}}', "metadata"),
        (b'{"metadata": {"n": {"x": "y"}}}', "metadata"),
        (b'{"metadata": ["a"]}', "metadata"),
        (b'{"metadata": "a"}', "metadata"),
        (b"[]", None),
    ],
)
def test_update_bad_inputs_are_400_and_change_nothing(http, content, param):
    item = http.provision("active", metadata={"keep": "me"})
    error = assert_error(update(http, item, content), 400, "invalid_request_error")
    assert error.get("param") == param
    assert http.get(item) == item


def test_update_with_a_mixed_patch_is_all_or_nothing(http):
    item = http.provision("active", metadata={"keep": "me"})
    assert_error(update(http, item, b'{"metadata": {"a": "b", "n": 3}}'), 400, "invalid_request_error")
    assert http.get(item)["metadata"] == {"keep": "me"}


# ------------------------------------------------------------------------------------------------- ack


def ack(http, item, headers=None, content=None):
    return http.request("POST", http.work(item["id"], suffix="/ack"), headers=headers, content=content)


@pytest.mark.parametrize(("state", "status"), [("starting", 200), ("active", 200), ("stopping", 409), ("stopped", 409)])
def test_ack_by_state(http, state, status):
    item = http.provision(state)
    response = ack(http, item, headers=JSON, content=b"{}")
    if status == 200:
        assert response.json() == item  # safe to retry: nothing changes
    else:
        assert_error(response, 409, "invalid_request_error")
        assert http.get(item) == item


def test_ack_moves_queued_to_starting_and_sets_acknowledged_at(http):
    item = http.provision("queued")
    body = ack(http, item).json()
    assert body["state"] == "starting" and STAMP.match(body["acknowledged_at"])
    assert body["started_at"] is None and body["latest_heartbeat_at"] is None
    assert ack(http, item).json() == body


# ------------------------------------------------------------------------------------------------- heartbeat


def beat(http, item, **params):
    return http.request("POST", http.work(item["id"], suffix="/heartbeat"), params=params)


def test_heartbeat_lifecycle(http):
    item = http.provision("starting")
    first = beat(http, item, expected_last_heartbeat="NO_HEARTBEAT", desired_ttl_seconds="60")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    hb = first.json()
    assert set(hb) == {"type", "last_heartbeat", "lease_extended", "state", "ttl_seconds"}
    assert (hb["type"], hb["state"], hb["lease_extended"], hb["ttl_seconds"]) == ("work_heartbeat", "active", True, 60)
    stored = http.get(item)
    assert stored["state"] == "active"
    assert stored["latest_heartbeat_at"] == hb["last_heartbeat"] and stored["started_at"] == hb["last_heartbeat"]
    second = beat(http, item, expected_last_heartbeat=hb["last_heartbeat"]).json()
    assert second["state"] == "active" and http.get(item)["started_at"] == stored["started_at"]
    stale = beat(http, item, expected_last_heartbeat=hb["last_heartbeat"])
    if second["last_heartbeat"] != hb["last_heartbeat"]:
        assert_error(stale, 412, "precondition_failed_error")
    assert_error(beat(http, item, expected_last_heartbeat="NO_HEARTBEAT"), 412, "precondition_failed_error")
    assert beat(http, item).status_code == 200  # unconditional


def test_heartbeat_on_a_provisioned_active_item_accepts_its_echo(http):
    item = http.provision("active")
    assert beat(http, item, expected_last_heartbeat=item["latest_heartbeat_at"]).status_code == 200


@pytest.mark.parametrize("state", ["queued", "stopped"])
def test_heartbeat_conflicts_on_queued_and_stopped(http, state):
    item = http.provision(state)
    assert_error(beat(http, item), 409, "invalid_request_error")
    assert http.get(item) == item


def test_heartbeat_on_stopping_reports_stopping(http):
    item = http.provision("stopping")
    hb = beat(http, item).json()
    assert (hb["state"], hb["lease_extended"]) == ("stopping", False)


@pytest.mark.parametrize(("ttl", "effective"), [("1", 10), ("10", 10), ("300", 300), ("601", 600), ("99999", 600)])
def test_heartbeat_ttl_is_clamped(http, ttl, effective):
    assert beat(http, http.provision("active"), desired_ttl_seconds=ttl).json()["ttl_seconds"] == effective


@pytest.mark.parametrize(
    "params",
    [
        {"desired_ttl_seconds": "0"},
        {"desired_ttl_seconds": "-5"},
        {"desired_ttl_seconds": "1.5"},
        {"desired_ttl_seconds": "abc"},
        {"desired_ttl_seconds": ""},
        {"expected_last_heartbeat": "yesterday"},
        {"expected_last_heartbeat": ""},
        {"expected_last_heartbeat": "no_heartbeat"},
        {"expected_last_heartbeat": "2026-13-01T00:00:00Z"},
        {"expected_last_heartbeat": "2026-07-01 08:15:06Z"},
    ],
)
def test_heartbeat_bad_query_is_400(http, params):
    item = http.provision("starting")
    error = assert_error(beat(http, item, **params), 400, "invalid_request_error")
    assert error["param"] == next(iter(params))
    assert http.get(item) == item


def test_heartbeat_rfc3339_that_is_not_the_echo_is_412(http):
    item = http.provision("active")
    assert_error(
        beat(http, item, expected_last_heartbeat="2020-01-01T00:00:00+00:00"), 412, "precondition_failed_error"
    )


# ------------------------------------------------------------------------------------------------- list


def test_list_pages_in_ascending_id_order(make_http):
    http = make_http()
    created = [http.provision(s)["id"] for s in ("queued", "active", "stopped", "stopping", "starting")]
    assert created == sorted(created)
    seen, params = [], {"limit": "2"}
    while True:
        page = http.request("GET", http.work(), params=params).json()
        assert set(page) == {"data", "first_id", "last_id", "has_more", "next_page"}
        ids = [i["id"] for i in page["data"]]
        seen += ids
        assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
        if not page["has_more"]:
            assert page["next_page"] is None
            break
        assert page["next_page"] == page["last_id"]
        params = {"limit": "2", "page": page["next_page"]}
    assert seen == created  # every state is listed
    after = http.request("GET", http.work(), params={"after_id": created[1]}).json()
    assert [i["id"] for i in after["data"]] == created[2:]
    before = http.request("GET", http.work(), params={"before_id": created[3], "limit": "2"}).json()
    assert [i["id"] for i in before["data"]] == created[1:3] and before["has_more"] is True
    default = http.request("GET", http.work()).json()
    assert len(default["data"]) == 5 and default["has_more"] is False
    empty = http.request("GET", http.work(), params={"after_id": created[-1]}).json()
    assert empty == {"data": [], "first_id": None, "last_id": None, "has_more": False, "next_page": None}


def test_list_limit_is_capped_at_100(make_http):
    http = make_http()
    for _ in range(101):
        http.provision("queued")
    page = http.request("GET", http.work(), params={"limit": "1000"}).json()
    assert len(page["data"]) == 100 and page["has_more"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "2.5"},
        {"page": "work_a", "after_id": "work_b"},
        {"before_id": "work_a", "after_id": "work_b"},
        {"page": "work_a", "before_id": "work_b"},
    ],
)
def test_list_bad_query_is_400(http, params):
    assert_error(http.request("GET", http.work(), params=params), 400, "invalid_request_error")


# ------------------------------------------------------------------------------------------------- poll and stats


def test_poll_queue_fifo_reclaim_worker_id_and_stats(make_http):
    http = make_http()
    env = http.env
    poll_path = http.work(suffix="/poll")

    def poll(worker=None, **params):
        headers = {"Worker-ID": worker} if worker else {}
        return http.request("GET", poll_path, params=params, headers=headers)

    empty = poll()
    assert (empty.status_code, empty.headers["content-type"], empty.content) == (200, "application/json", b"null")
    stats = http.request("GET", http.work(suffix="/stats")).json()
    assert stats == {
        "type": "work_queue_stats",
        "depth": 0,
        "pending": 0,
        "oldest_queued_at": None,
        "workers_polling": 0,
    }

    first, second = http.provision("queued"), http.provision("queued")
    http.provision("active")  # never delivered by poll
    assert poll("w1").json() == first
    stats = http.request("GET", http.work(suffix="/stats")).json()
    assert (stats["depth"], stats["pending"], stats["workers_polling"]) == (1, 1, 1)
    assert stats["oldest_queued_at"] == first["created_at"]
    assert poll().json() == second  # first is pending; Worker-ID-less polls are not counted
    assert poll("w2").json() is None
    assert http.request("GET", http.work(suffix="/stats")).json()["workers_polling"] == 2

    redelivered = poll("w2", reclaim_older_than_ms="0")
    assert redelivered.json()["id"] == first["id"]  # reclaimed: now delivered to w2
    assert_error(ack(http, first, headers={"Worker-ID": "w1"}), 409, "invalid_request_error")
    assert ack(http, first, headers={"Worker-ID": "w2"}).json()["state"] == "starting"
    assert ack(http, second, headers={"Worker-ID": "anyone"}).json()["state"] == "starting"  # poll had no Worker-ID
    assert poll(reclaim_older_than_ms="0").json() is None  # acked items leave the queue
    assert http.request("GET", http.work(suffix="/stats")).json()["depth"] == 0
    assert env == http.settings["QODER_ENVIRONMENT_ID"]


def test_stopped_queued_items_leave_the_queue(make_http):
    http = make_http()
    item = http.provision("queued")
    http.stop(item, content=b"{}", headers=JSON)
    assert http.request("GET", http.work(suffix="/poll"), params={"reclaim_older_than_ms": "0"}).json() is None


def test_long_poll_waits_at_most_block_ms_and_wakes_up_on_new_work(make_http):
    http = make_http()
    started = time.monotonic()
    assert http.request("GET", http.work(suffix="/poll"), params={"block_ms": "300"}).json() is None
    assert 0.25 <= time.monotonic() - started < 2.0
    started = time.monotonic()
    assert http.request("GET", http.work(suffix="/poll"), params={"block_ms": "1"}).json() is None
    assert time.monotonic() - started < 1.0
    timer = threading.Timer(0.2, http.provision, args=("queued",))
    timer.start()
    started = time.monotonic()
    with httpx.Client(base_url=http.emulator.base_url, headers=http.auth(), timeout=5) as other_connection:
        woken = other_connection.get("/api/v1/cloud" + http.work(suffix="/poll"), params={"block_ms": "999"})
    timer.join()
    assert woken.json()["state"] == "queued"
    assert 0.15 <= time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    "params",
    [
        {"block_ms": "0"},
        {"block_ms": "1000"},
        {"block_ms": "abc"},
        {"block_ms": "-1"},
        {"block_ms": ""},
        {"reclaim_older_than_ms": "-1"},
        {"reclaim_older_than_ms": "1.5"},
        {"reclaim_older_than_ms": "x"},
    ],
)
def test_poll_bad_query_is_400(http, params):
    error = assert_error(http.request("GET", http.work(suffix="/poll"), params=params), 400, "invalid_request_error")
    assert error["param"] == next(iter(params))


# ------------------------------------------------------------------------------------------------- sessions, hook


def test_session_create_enqueues_one_work_item(make_http):
    http = make_http()
    body = {"agent": http.settings["QODER_AGENT_ID"], "environment_id": http.env, "metadata": {"ticket": "T-1"}}
    response = http.request("POST", "/sessions", json=body)
    assert response.status_code == 201 and response.headers["content-type"] == "application/json"
    session = response.json()
    assert ID.match(session["id"]) and session["id"].startswith("sess_") and session["type"] == "session"
    item = http.request("GET", http.work(suffix="/poll")).json()
    assert item["data"] == {"type": "session", "id": session["id"]}
    assert item["state"] == "queued" and item["metadata"] == {"ticket": "T-1"}
    for name in ("acknowledged_at", "started_at", "latest_heartbeat_at", "stop_requested_at", "stopped_at"):
        assert item[name] is None
    cloud = {
        "agent": {"id": http.settings["QODER_AGENT_ID"]},
        "environment_id": http.settings["QODER_CLOUD_ENVIRONMENT_ID"],
    }
    assert http.request("POST", "/sessions", json=cloud).status_code == 201
    assert http.request("GET", http.work()).json()["data"] == [item]  # one item, none for the cloud session


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"environment_id": "ENV"}, 400, "invalid_request_error"),
        ({"agent": "AGENT"}, 400, "invalid_request_error"),
        ({"agent": "agent_unknown", "environment_id": "ENV"}, 404, "not_found_error"),
        ({"agent": "AGENT", "environment_id": "env_unknown"}, 404, "not_found_error"),
        ({"agent": "AGENT", "environment_id": "ENV", "metadata": {"n": 1}}, 400, "invalid_request_error"),
        ({"agent": "AGENT", "environment_id": "OTHER_PRINCIPAL_ENV"}, 403, "permission_error"),
    ],
)
def test_session_create_errors(http, body, status, error_type):
    names = {
        "ENV": http.env,
        "AGENT": http.settings["QODER_AGENT_ID"],
        "OTHER_PRINCIPAL_ENV": "env_" + "0" * 29 + "101",
    }
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    assert_error(http.request("POST", "/sessions", json=body), status, error_type)


@pytest.mark.parametrize(
    ("body", "token", "status", "error_type"),
    [
        ({"state": "active", "environment_id": "ENV"}, None, 401, "authentication_error"),
        ({"state": "active", "environment_id": "ENV"}, "FORBIDDEN", 403, "permission_error"),
        ({"state": "paused", "environment_id": "ENV"}, "PAT", 400, "invalid_request_error"),
        ({"environment_id": "ENV"}, "PAT", 400, "invalid_request_error"),
        ({"state": "active"}, "PAT", 400, "invalid_request_error"),
        ({"state": "active", "environment_id": "env_nope"}, "PAT", 404, "not_found_error"),
        ({"state": "active", "environment_id": "CLOUD"}, "PAT", 400, "invalid_request_error"),
        ({"state": "active", "environment_id": "ENV", "metadata": {"a": 1}}, "PAT", 400, "invalid_request_error"),
    ],
)
def test_hook_errors(http, body, token, status, error_type):
    names = {"ENV": http.env, "CLOUD": http.settings["QODER_CLOUD_ENVIRONMENT_ID"]}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    tokens = {"PAT": http.pat, "FORBIDDEN": http.settings["QODER_FORBIDDEN_PAT"]}
    response = http.request("POST", "/_emulator/hook", json=body, anonymous=token is None, token=tokens.get(token))
    assert_error(response, status, error_type)


def test_hook_provisions_every_state_in_any_owned_self_hosted_environment(http):
    other = http.settings["QODER_OTHER_ENVIRONMENT_ID"]
    for state in ("queued", "starting", "active", "stopping", "stopped"):
        item = http.provision(state, env=other, metadata={"k": state})
        assert (item["state"], item["environment_id"], item["metadata"]) == (state, other, {"k": state})
        assert http.get(item) == item


# ------------------------------------------------------------------------------------------------- routing, latency


def test_unknown_routes_and_methods_get_the_envelope(http):
    assert_error(http.request("GET", "/nothing/here"), 404, "not_found_error")
    assert_error(http.request("DELETE", http.work("work_" + "0" * 32)), 405, "invalid_request_error")


def test_latency_is_added_to_every_response(make_http):
    http = make_http(latency_ms=150)
    started = time.monotonic()
    http.request("GET", http.work(suffix="/stats"))
    assert time.monotonic() - started >= 0.15


def test_the_sdk_can_drive_a_whole_lifecycle(make_http):
    managed = pytest.importorskip("qca.managed")
    emulator = make_http().emulator
    s = emulator.settings
    client = managed.Managed(pat=s["QODER_PAT"], base_url=emulator.api_url, max_retries=0)
    env = s["QODER_OTHER_ENVIRONMENT_ID"]
    session = client.sessions.create(agent=s["QODER_AGENT_ID"], environment_id=env, metadata={"m": "1"})
    work = client.environments.work.poll(env, block_ms=100, worker_id="sdk-worker")
    assert work is not None and work.data.id == session.id
    assert client.environments.work.ack(work.id, environment_id=env).state == "starting"
    hb = client.environments.work.heartbeat(work.id, environment_id=env, expected_last_heartbeat="NO_HEARTBEAT")
    client.environments.work.heartbeat(work.id, environment_id=env, expected_last_heartbeat=hb.last_heartbeat)
    assert client.environments.work.update(work.id, environment_id=env, metadata={"m": None}).metadata == {}
    assert client.environments.work.stop(work.id, environment_id=env).state == "stopping"
    assert client.environments.work.stop(work.id, environment_id=env, force=True).state == "stopped"
    assert client.environments.work.retrieve(work.id, environment_id=env).state == "stopped"
    assert work.id in [w.id for w in client.environments.work.list(env)]
    assert client.environments.work.stats(env).depth == 0
    with pytest.raises(Exception) as raised:
        client.environments.work.ack(work.id, environment_id=env)
    assert getattr(raised.value, "status_code", None) == 409
