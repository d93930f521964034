"""Each dialect switch changes exactly the behaviour it names (and the defaults are what the docs table says)."""

from __future__ import annotations

import re

import pytest
from emulator_helpers import assert_error

from qoder_emulator import dialects

JSON = {"Content-Type": "application/json"}


def test_defaults_are_the_first_value_of_each_choice():
    assert dialects.resolve().as_dict() == {c.name: c.values[0] for c in dialects.CHOICES}
    assert all(len(c.meanings) == len(c.values) and c.answers.startswith("§") for c in dialects.CHOICES)


def test_unknown_names_and_values_are_start_up_errors():
    with pytest.raises(dialects.DialectError, match="known dialects"):
        dialects.resolve({"nope": "x"})
    with pytest.raises(dialects.DialectError, match="choose one of"):
        dialects.resolve({"content-type": "x"})
    with pytest.raises(ValueError):
        pytest.importorskip("qoder_emulator").launch(dialect={"nope": "x"})


def test_force_on_stopped(make_http):
    default, conflict = make_http(), make_http(dialect={"force-on-stopped": "conflict"})
    item = default.provision("stopped")
    assert default.stop(item, content=b'{"force": true}', headers=JSON).json() == item
    item = conflict.provision("stopped")
    assert_error(conflict.stop(item, content=b'{"force": true}', headers=JSON), 409, "invalid_request_error")
    assert conflict.stop(item, content=b"{}", headers=JSON).json() == item  # graceful stays documented


@pytest.mark.parametrize(
    ("policy", "graceful_queued", "force_active"),
    [("graceful-only", True, False), ("never-direct", False, False), ("always", True, True)],
)
def test_stop_requested_at(make_http, policy, graceful_queued, force_active):
    http = make_http(dialect={"stop-requested-at": policy})
    queued = http.stop(http.provision("queued"), content=b"{}", headers=JSON).json()
    assert (queued["stop_requested_at"] is not None) is graceful_queued
    active = http.stop(http.provision("active"), content=b'{"force": true}', headers=JSON).json()
    assert (active["stop_requested_at"] is not None) is force_active
    assert http.stop(http.provision("active"), content=b"{}", headers=JSON).json()["stop_requested_at"] is not None


def test_unknown_body_fields(make_http):
    http = make_http(dialect={"unknown-body-fields": "reject"})
    item = http.provision("active")
    error = assert_error(
        http.stop(item, content=b'{"force": false, "why": "x"}', headers=JSON), 400, "invalid_request_error"
    )
    assert error["param"] == "why"
    update = http.request("POST", http.work(item["id"]), content=b'{"metadata": {}, "extra": 1}', headers=JSON)
    assert_error(update, 400, "invalid_request_error")
    assert http.get(item) == item
    assert http.stop(item, content=b'{"force": false}', headers=JSON).json()["state"] == "stopping"


def test_non_boolean_force(make_http):
    http = make_http(dialect={"non-boolean-force": "null-as-default"})
    assert http.stop(http.provision("active"), content=b'{"force": null}', headers=JSON).json()["state"] == "stopping"
    assert_error(
        http.stop(http.provision("active"), content=b'{"force": 1}', headers=JSON), 400, "invalid_request_error"
    )


def test_non_object_body(make_http):
    http = make_http(dialect={"non-object-body": "ignore"})
    assert http.stop(http.provision("active"), content=b"[]", headers=JSON).json()["state"] == "stopping"
    assert_error(http.stop(http.provision("active"), content=b"[", headers=JSON), 400, "invalid_request_error")


def test_content_type(make_http):
    sniff, strict = make_http(), make_http(dialect={"content-type": "require-json"})
    assert sniff.stop(sniff.provision("active"), content=b'{"force": true}').json()["state"] == "stopped"
    item = strict.provision("active")
    assert_error(strict.stop(item, content=b"{}", headers={"Content-Type": "text/plain"}), 400, "invalid_request_error")
    assert_error(strict.stop(item, content=b"{}"), 400, "invalid_request_error")
    assert strict.stop(item).json()["state"] == "stopping"  # no body: still the documented default
    assert strict.stop(item, content=b"", headers={}).json()["state"] == "stopped"
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert strict.stop(strict.provision("active"), content=b"{}", headers=charset).json()["state"] == "stopping"


def test_timestamp_precision(make_http):
    http = make_http(dialect={"timestamp-precision": "seconds"})
    item = http.provision("starting")
    hb = http.request("POST", http.work(item["id"], suffix="/heartbeat")).json()
    body = http.stop(item, content=b"{}", headers=JSON).json()
    whole = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    assert whole.match(hb["last_heartbeat"])
    for name in ("created_at", "acknowledged_at", "started_at", "latest_heartbeat_at", "stop_requested_at"):
        assert whole.match(body[name]), name
    micro = make_http()
    assert re.search(r"\.\d{6}Z$", micro.stop(micro.provision("active"), content=b"{}").json()["stop_requested_at"])


def test_extra_response_fields(make_http):
    off, on = make_http(), make_http(dialect={"extra-response-fields": "on"})
    assert "secret" not in off.provision("active")
    item = on.provision("active")
    assert item["secret"] is None and on.get(item)["secret"] is None
    assert on.stop(item, content=b"{}").json()["secret"] is None


def test_heartbeat_on_stopping(make_http):
    accept, conflict = make_http(), make_http(dialect={"heartbeat-on-stopping": "conflict"})
    item = accept.provision("stopping")
    assert accept.request("POST", accept.work(item["id"], suffix="/heartbeat")).json()["state"] == "stopping"
    item = conflict.provision("stopping")
    response = conflict.request("POST", conflict.work(item["id"], suffix="/heartbeat"))
    assert_error(response, 409, "invalid_request_error")


def _error_of(response, status: int, error_type: str) -> dict:
    """The error object, read directly: under error-optional-fields=null it carries fields assert_error refuses."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    return body["error"]


def test_error_optional_fields(make_http):
    omit, null = make_http(), make_http(dialect={"error-optional-fields": "null"})
    error = _error_of(omit.stop(omit.provision("active"), content=b"{", headers=JSON), 400, "invalid_request_error")
    assert set(error) == {"type", "message"}
    error = _error_of(null.stop(null.provision("active"), content=b"{", headers=JSON), 400, "invalid_request_error")
    assert error == {**error, "param": None, "feature": None, "available_from": None}
    named = null.stop(null.provision("active"), content=b'{"force": "yes"}', headers=JSON)
    assert _error_of(named, 400, "invalid_request_error")["param"] == "force"  # a value that exists is kept
    unknown = null.request("GET", null.work("work_" + "0" * 32))
    assert _error_of(unknown, 404, "not_found_error")["param"] is None


def test_response_charset(make_http):
    off, on = make_http(), make_http(dialect={"response-charset": "on"})
    assert off.stop(off.provision("active"), content=b"{}").headers["content-type"] == "application/json"
    item = on.provision("active")
    answer = on.stop(item, content=b"{}")
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json()["state"] == "stopping" and int(answer.headers["content-length"]) == len(answer.content)
    error = on.stop(item, content=b"{", headers=JSON)
    assert error.status_code == 400 and error.headers["content-type"] == "application/json; charset=utf-8"


def test_utc_designator(make_http):
    http = make_http(dialect={"utc-designator": "+00:00"})
    item = http.provision("starting")
    assert item["created_at"].endswith("+00:00") and item["acknowledged_at"].endswith("+00:00")
    heartbeat = http.work(item["id"], suffix="/heartbeat")
    first = http.request("POST", heartbeat, params={"expected_last_heartbeat": "NO_HEARTBEAT"}).json()
    assert first["last_heartbeat"].endswith("+00:00")
    echoed = http.request("POST", heartbeat, params={"expected_last_heartbeat": first["last_heartbeat"]})
    assert echoed.status_code == 200  # the exact echo of what the server wrote
    z_form = echoed.json()["last_heartbeat"].removesuffix("+00:00") + "Z"
    assert http.request("POST", heartbeat, params={"expected_last_heartbeat": z_form}).status_code == 412
    body = http.stop(item, content=b"{}", headers=JSON).json()
    assert body["stop_requested_at"].endswith("+00:00") and body["stopped_at"] is None


def test_ack_retry_acknowledged_at(make_http):
    keep, rewrite = make_http(), make_http(dialect={"ack-retry-acknowledged-at": "rewrite"})
    for http, kept in ((keep, True), (rewrite, False)):
        item = http.provision("active")
        answer = http.request("POST", http.work(item["id"], suffix="/ack")).json()
        assert answer["state"] == "active"
        assert (answer["acknowledged_at"] == item["acknowledged_at"]) is kept
        assert http.get(item) == answer


def test_update_metadata_on_stopped(make_http):
    merge, conflict = make_http(), make_http(dialect={"update-metadata-on-stopped": "conflict"})
    patch = {"metadata": {"added": "yes"}}
    item = merge.provision("stopped")
    assert merge.request("POST", merge.work(item["id"]), json=patch).json()["metadata"]["added"] == "yes"
    item = conflict.provision("stopped")
    assert_error(conflict.request("POST", conflict.work(item["id"]), json=patch), 409, "invalid_request_error")
    assert conflict.get(item) == item
    live = conflict.provision("stopping")  # only stopped items are refused
    assert conflict.request("POST", conflict.work(live["id"]), json=patch).json()["metadata"]["added"] == "yes"
