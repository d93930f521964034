"""The Stop endpoint over a real socket: every transition row, every body form, every error row, bad inputs."""

from __future__ import annotations

import json

import pytest
from emulator_helpers import assert_error

from qoder_emulator.inputs import MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}
GRACEFUL_FORMS = {
    "no-body": (None, {}),
    "empty-body-json": (b"", JSON),
    "empty-object": (b"{}", JSON),
    "force-false": (b'{"force": false}', JSON),
    "charset": (b"{}", {"Content-Type": "application/json; charset=utf-8"}),
    "no-content-type": (b"{}", {}),
}
FORCE_FORM = (b'{"force": true}', JSON)
# Stop page "State transitions": (force, current) -> result
TRANSITIONS = [
    (False, "queued", "stopped"),
    (False, "starting", "stopping"),
    (False, "active", "stopping"),
    (False, "stopping", "stopped"),
    (False, "stopped", "stopped"),
    (True, "queued", "stopped"),
    (True, "starting", "stopped"),
    (True, "active", "stopped"),
    (True, "stopping", "stopped"),
    (True, "stopped", "stopped"),  # default dialect: the stopped item, unchanged
]
UNCHANGED = ("id", "type", "environment_id", "data", "created_at", "acknowledged_at", "started_at", "metadata")


@pytest.mark.parametrize(("force", "current", "result"), TRANSITIONS)
def test_transition_table(http, force, current, result):
    item = http.provision(current, metadata={"row": f"{force}-{current}"})
    content, headers = FORCE_FORM if force else GRACEFUL_FORMS["empty-object"]
    response = http.stop(item, content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["state"] == result
    for name in UNCHANGED:
        assert body[name] == item[name], name
    assert (body["stopped_at"] is None) == (result != "stopped")
    if current == "stopped":
        assert body == item  # "Returns the existing stopped item"
    if result == "stopping":
        assert body["stop_requested_at"] is not None
    assert http.get(item) == body  # persisted


@pytest.mark.parametrize("form", sorted(GRACEFUL_FORMS))
def test_every_graceful_form_means_force_false(http, form):
    content, headers = GRACEFUL_FORMS[form]
    item = http.provision("active")
    assert http.stop(item, content=content, headers=headers).json()["state"] == "stopping"
    assert http.stop(item, content=content, headers=headers).json()["state"] == "stopped"


def test_graceful_drain_is_the_same_call_twice_and_then_idempotent(http):
    item = http.provision("active")
    first = http.stop(item, content=b"{}", headers=JSON).json()
    second = http.stop(item, content=b"{}", headers=JSON).json()
    third = http.stop(item, content=b"{}", headers=JSON).json()
    assert [first["state"], second["state"], third["state"]] == ["stopping", "stopped", "stopped"]
    assert second["stop_requested_at"] == first["stop_requested_at"]
    assert third == second


def test_unknown_request_headers_are_ignored(http):
    item = http.provision("active")
    headers = {
        **JSON,
        "Worker-ID": "w1",
        "x-qoder-beta": "a,b",
        "qoder-workspace-id": "ws_1",
        "Idempotency-Key": "k1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert http.stop(item, content=b"{}", headers=headers).json()["state"] == "stopping"


BAD_BODIES = {
    "malformed": b'{"force": tru',
    "trailing-garbage": b"{} x",
    "invalid-utf8": b'{"force": "\xff"}',
    "nan": b'{"force": NaN}',
    "bom": b'\xef\xbb\xbf{"force": true}',
    "array": b"[]",
    "scalar": b"true",
    "null": b"null",
    "force-string": b'{"force": "true"}',
    "force-number": b'{"force": 1}',
    "force-null": b'{"force": null}',
    "deep": b"[" * 100000 + b"]" * 100000,
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_400_and_change_nothing(http, case):
    item = http.provision("active")
    error = assert_error(http.stop(item, content=BAD_BODIES[case], headers=JSON), 400, "invalid_request_error")
    if case.startswith("force-"):
        assert error["param"] == "force"
    assert http.get(item) == item


def test_body_over_32_mb_is_400(http):
    item = http.provision("active")
    content = b'{"force": false, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = http.stop(item, content=content, headers=JSON)
    assert_error(response, 400, "invalid_request_error")
    assert http.get(item) == item


def test_unknown_body_fields_are_ignored_by_default(http):
    item = http.provision("active")
    response = http.stop(item, content=json.dumps({"force": False, "reason": "x"}).encode(), headers=JSON)
    assert response.json()["state"] == "stopping"


# ------------------------------------------------------------------------------------------------- error rows


def stop_path(http, item, env=None):
    return http.work(item["id"], env=env or item["environment_id"], suffix="/stop")


def test_401_rows(http):
    item = http.provision("active")
    path = stop_path(http, item)
    assert_error(http.request("POST", path, anonymous=True), 401, "authentication_error")
    assert_error(http.request("POST", path, token="pt-unknown"), 401, "authentication_error")
    assert_error(http.request("POST", path, token=http.settings["QODER_EXPIRED_PAT"]), 401, "authentication_error")
    basic = {"Authorization": f"Basic {http.pat}"}
    assert_error(http.request("POST", path, anonymous=True, headers=basic), 401, "authentication_error")
    api_key = {"x-api-key": http.pat}
    assert_error(http.request("POST", path, anonymous=True, headers=api_key), 401, "authentication_error")
    assert http.get(item) == item


def test_auth_is_checked_before_the_body(http):
    item = http.provision("active")
    response = http.request("POST", stop_path(http, item), anonymous=True, content=b"{bad", headers=JSON)
    assert_error(response, 401, "authentication_error")


def test_403_for_a_principal_without_access(http):
    item = http.provision("active")
    response = http.request("POST", stop_path(http, item), token=http.settings["QODER_FORBIDDEN_PAT"])
    assert_error(response, 403, "permission_error")
    assert http.get(item) == item


def test_404_rows(http):
    item = http.provision("active")
    assert_error(http.request("POST", stop_path(http, item, env="env_" + "f" * 32)), 404, "not_found_error")
    missing = {"id": "work_" + "0" * 32, "environment_id": http.env}
    assert_error(http.request("POST", stop_path(http, missing)), 404, "not_found_error")
    malformed = {"id": "not-a-work-id", "environment_id": http.env}
    assert_error(http.request("POST", stop_path(http, malformed)), 404, "not_found_error")
    other = http.settings["QODER_OTHER_ENVIRONMENT_ID"]
    assert_error(http.request("POST", stop_path(http, item, env=other)), 404, "not_found_error")
    assert http.get(item) == item


def test_400_for_a_cloud_environment(http):
    item = http.provision("active")
    cloud = http.settings["QODER_CLOUD_ENVIRONMENT_ID"]
    error = assert_error(http.request("POST", stop_path(http, item, env=cloud)), 400, "invalid_request_error")
    assert error["message"] == "The Environment is not self_hosted"
