"""Each fault turns the emulator into a plausible wrong server, and only in the way it says."""

from __future__ import annotations

import dataclasses

import pytest
from emulator_helpers import assert_error

from qoder_emulator import faults, launch, rules

JSON = {"Content-Type": "application/json"}


def test_fault_list_names_every_fault_with_a_description_and_a_known_seam():
    known = faults.known_faults()
    assert {
        "graceful-active-stops",
        "stop-not-persisted",
        "force-false-as-force",
        "x-api-key-accepted",
        "cross-environment-lookup",
    } <= set(known)
    for fault in known.values():
        assert fault.description and fault.seam in rules.SEAMS
    assert len(known) == len(faults.FAULTS)  # an explicit list: nothing registers itself on import


def test_every_fault_changes_the_rules_it_names_and_no_other():
    conforming = rules.Rules()
    for name, fault in faults.known_faults().items():
        changed = faults.resolve([name])
        assert changed.names == (name,)
        differing = [
            f.name for f in dataclasses.fields(rules.Rules) if getattr(changed, f.name) != getattr(conforming, f.name)
        ]
        assert differing and "names" in differing, name  # a fault that changes nothing would be caught by no case
        assert all(field in rules.SEAMS[fault.seam] for field in differing if field != "names"), (name, differing)


def test_unknown_fault_is_a_start_up_error_listing_the_known_ones():
    with pytest.raises(faults.FaultError, match=r"known faults: .*graceful-active-stops"):
        launch(faults=["nope"])


def test_graceful_active_stops(make_http):
    good, bad = make_http(), make_http(faults=["graceful-active-stops"])
    for state in ("starting", "active"):
        assert good.stop(good.provision(state), content=b"{}").json()["state"] == "stopping"
        assert bad.stop(bad.provision(state), content=b"{}").json()["state"] == "stopped"
    assert bad.stop(bad.provision("queued"), content=b"{}").json()["state"] == "stopped"  # unaffected row


def test_stop_not_persisted(make_http):
    bad = make_http(faults=["stop-not-persisted"])
    item = bad.provision("active")
    assert bad.stop(item, content=b"{}").json()["state"] == "stopping"
    assert bad.get(item) == item  # the answer was never stored
    assert bad.stop(item, content=b"{}").json()["state"] == "stopping"  # so the drain never completes


def test_force_false_as_force(make_http):
    good, bad = make_http(), make_http(faults=["force-false-as-force"])
    assert good.stop(good.provision("active"), content=b'{"force": false}', headers=JSON).json()["state"] == "stopping"
    assert bad.stop(bad.provision("active"), content=b'{"force": false}', headers=JSON).json()["state"] == "stopped"
    assert bad.stop(bad.provision("active"), content=b"{}", headers=JSON).json()["state"] == "stopping"


def test_x_api_key_accepted(make_http):
    good, bad = make_http(), make_http(faults=["x-api-key-accepted"])
    for http, status in ((good, 401), (bad, 200)):
        item = http.provision("active")
        response = http.stop(item, content=b"{}", anonymous=True, headers={"x-api-key": http.pat})
        assert response.status_code == status


def test_cross_environment_lookup(make_http):
    good, bad = make_http(), make_http(faults=["cross-environment-lookup"])
    for http, status in ((good, 404), (bad, 200)):
        item = http.provision("active")
        other = http.settings["QODER_OTHER_ENVIRONMENT_ID"]
        response = http.request("GET", http.work(item["id"], env=other))
        assert response.status_code == status
    assert_error(good.request("GET", good.work("work_" + "0" * 32)), 404, "not_found_error")


def test_faults_combine_and_are_reported(make_http):
    http = make_http(faults=["graceful-active-stops", "x-api-key-accepted"])
    assert http.emulator.assembly.overrides.names == ("graceful-active-stops", "x-api-key-accepted")
    item = http.provision("active")
    response = http.stop(item, content=b"{}", anonymous=True, headers={"x-api-key": http.pat})
    assert response.json()["state"] == "stopped"


def test_two_faults_on_one_seam_are_refused(monkeypatch):
    rival = faults.Fault("rival-stop", "another wrong stop", "machine.stop", faults.use("stop_cells", {}), ("X",))
    monkeypatch.setattr(faults, "FAULTS", (*faults.FAULTS, rival))
    with pytest.raises(faults.FaultError, match=r"both replace machine\.stop"):
        faults.resolve(["graceful-active-stops", "rival-stop"])


def test_confirm_clears_stop_requested_at(make_http):
    good, bad = make_http(), make_http(faults=["confirm-clears-stop-requested-at"])
    for http, kept in ((good, True), (bad, False)):
        item = http.provision("active")
        requested = http.stop(item, content=b"{}").json()["stop_requested_at"]
        assert requested is not None  # the move to stopping records the request either way
        confirmed = http.stop(item, content=b"{}").json()
        assert confirmed["state"] == "stopped"
        assert (confirmed["stop_requested_at"] == requested) is kept
    item = bad.provision("stopping")
    assert bad.stop(item, content=b'{"force": true}', headers=JSON).json()["stop_requested_at"] is not None


def test_timestamps_in_local_zone(make_http):
    good, bad = make_http(), make_http(faults=["timestamps-in-local-zone"])
    assert good.provision("active")["created_at"].endswith("Z")
    item = bad.provision("active")
    for name in ("created_at", "acknowledged_at", "started_at", "latest_heartbeat_at"):
        assert item[name].endswith("+08:00"), name
    assert bad.stop(item, content=b"{}").json()["stop_requested_at"].endswith("+08:00")


def test_metadata_faults_change_one_clause(make_http):
    patch = {"metadata": {"change": "c1", "drop": None}}
    metadata = {"keep": "k", "change": "c0", "drop": "d"}
    expected = {
        "metadata-no-overwrite": {"keep": "k", "change": "c0"},
        "metadata-null-ignored": {"keep": "k", "change": "c1", "drop": "d"},
        "metadata-replaces-instead-of-merge": {"change": "c1"},
    }
    for name, merged in expected.items():
        http = make_http(faults=[name])
        item = http.provision("active", metadata=metadata)
        assert http.request("POST", http.work(item["id"]), json=patch).json()["metadata"] == merged, name


def test_metadata_update_not_persisted(make_http):
    http = make_http(faults=["metadata-update-not-persisted"])
    item = http.provision("active", metadata={"a": "b"})
    assert http.request("POST", http.work(item["id"]), json={"metadata": {"a": "c"}}).json()["metadata"] == {"a": "c"}
    assert http.get(item) == item


def test_get_last_seen_as_heartbeat_shows_on_the_second_read(make_http):
    http = make_http(faults=["get-last-seen-as-heartbeat"])
    item = http.provision("active")
    assert http.get(item) == item  # the first read answers the item as stored
    assert http.get(item)["latest_heartbeat_at"] != item["latest_heartbeat_at"]
    queued = http.provision("queued")  # no lease: never stamped
    assert http.get(queued) == http.get(queued) == queued


def test_accept_json_refused_only_where_the_fault_says(make_http):
    http = make_http(faults=["get-refuses-accept-json"])
    item = http.provision("active")
    accept = {"Accept": "application/json"}
    assert http.request("GET", http.work(item["id"]), headers=accept).status_code == 406
    assert http.get(item) == item  # without that Accept header
    assert http.request("POST", http.work(item["id"], suffix="/ack"), headers=accept).status_code == 200
