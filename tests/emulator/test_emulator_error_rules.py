"""The other work pages' input and access rules (rules.QUERY_INTEGERS, EXCLUSIVE_CURSORS, endpoint_checks, the
expected_last_heartbeat and metadata readers): the conforming emulator answers each row, and each fault of
faults.ERROR_FAULTS changes exactly its own row."""

from __future__ import annotations

import pytest
from emulator_helpers import assert_error

from qoder_emulator import faults, rules


def test_every_integer_parameter_of_the_pages_has_its_row():
    assert set(rules.QUERY_INTEGERS) == {
        ("list", "limit"),
        ("poll", "block_ms"),
        ("poll", "reclaim_older_than_ms"),
        ("heartbeat", "desired_ttl_seconds"),
    }


@pytest.mark.parametrize(
    ("suffix", "params", "refused"),
    [
        ("", {"limit": "0"}, True),
        ("", {"limit": "-1"}, True),
        ("", {"limit": "1"}, False),
        ("/poll", {"block_ms": "1000"}, True),
        ("/poll", {"block_ms": "1"}, False),
        ("/poll", {"reclaim_older_than_ms": "-1"}, True),
        ("/poll", {"reclaim_older_than_ms": "1.5"}, True),
        ("/poll", {"reclaim_older_than_ms": "0"}, False),
        ("", {"page": "work_a", "before_id": "work_b"}, True),
    ],
)
def test_environment_level_inputs(http, suffix, params, refused):
    response = http.request("GET", http.work(suffix=suffix), params=params)
    if refused:
        assert_error(response, 400, "invalid_request_error")
    else:
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("fault", "suffix", "params", "still_refused"),
    [
        ("list-limit-zero-accepted", "", {"limit": "0"}, {"limit": "abc"}),
        ("list-page-cursor-not-exclusive", "", {"page": "work_a", "after_id": "work_b"}, {"limit": "-1"}),
        ("poll-block-ms-unbounded", "/poll", {"block_ms": "1000"}, {"block_ms": "0"}),
        ("reclaim-negative-accepted", "/poll", {"reclaim_older_than_ms": "-1"}, {"reclaim_older_than_ms": "x"}),
    ],
)
def test_input_fault_accepts_only_its_own_bad_value(make_http, fault, suffix, params, still_refused):
    bad = make_http(faults=[fault])
    assert bad.request("GET", bad.work(suffix=suffix), params=params).status_code == 200
    assert_error(bad.request("GET", bad.work(suffix=suffix), params=still_refused), 400, "invalid_request_error")


def test_heartbeat_faults(make_http):
    good = make_http()
    ttl, garbage = make_http(faults=["ttl-zero-accepted"]), make_http(faults=["expected-heartbeat-garbage-accepted"])
    for http in (good, ttl, garbage):
        item = http.provision("active")
        path = http.work(item["id"], suffix="/heartbeat")
        zero = http.request("POST", path, params={"desired_ttl_seconds": "0"})
        word = http.request("POST", path, params={"expected_last_heartbeat": "yesterday"})
        if http is ttl:
            assert zero.status_code == 200 and zero.json()["ttl_seconds"] == 10  # clamped, not refused
        else:
            assert_error(zero, 400, "invalid_request_error")
        if http is garbage:
            assert_error(word, 412, "precondition_failed_error")  # compared with the lease instead
        else:
            assert_error(word, 400, "invalid_request_error")


def test_metadata_number_accepted_stores_json_text(make_http):
    good, bad = make_http(), make_http(faults=["metadata-number-accepted"])
    for http in (good, bad):
        item = http.provision("active")
        response = http.request("POST", http.work(item["id"]), json={"metadata": {"n": 1, "b": True}})
        if http is good:
            assert_error(response, 400, "invalid_request_error")
            assert http.get(item)["metadata"] == item["metadata"]
        else:
            assert response.json()["metadata"] == {**item["metadata"], "n": "1", "b": "true"}
        assert_error(
            http.request("POST", http.work(item["id"]), json={"metadata": {"o": {}}}), 400, "invalid_request_error"
        )


def test_endpoint_checks_change_one_endpoint_only(make_http):
    good = make_http()
    ack, stats = make_http(faults=["ack-skips-self-hosted-check"]), make_http(faults=["stats-unknown-env-500"])
    cloud = good.settings["QODER_CLOUD_ENVIRONMENT_ID"]
    unknown = "env_" + "0" * 32
    for http in (good, ack, stats):
        item = http.provision("starting")
        acked = http.request("POST", http.work(item["id"], env=cloud, suffix="/ack"))
        got = http.request("GET", http.work(item["id"], env=cloud))
        counted = http.request("GET", http.work(env=unknown, suffix="/stats"))
        listed = http.request("GET", http.work(env=unknown))
        assert_error(acked, *((404, "not_found_error") if http is ack else (400, "invalid_request_error")))
        assert_error(got, 400, "invalid_request_error")
        assert_error(counted, *((500, "api_error") if http is stats else (404, "not_found_error")))
        assert_error(listed, 404, "not_found_error")


def test_shared_rule_faults_name_the_rows_they_break_on_every_page():
    known = faults.known_faults()
    assert "GET-ERR-NOT-FOUND-CROSS-ENV" in known["cross-environment-lookup"].violates
    assert "STOP-ERR-NOT-FOUND-CROSS-ENV" in known["cross-environment-lookup"].violates  # the Stop entry kept
    assert "CONV-ERR-X-API-KEY" in known["x-api-key-accepted"].violates
    assert set(faults.ALSO_VIOLATES) <= set(known)
