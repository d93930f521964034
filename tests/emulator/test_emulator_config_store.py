"""Configuration from dicts, and the store's atomicity under real threads (no HTTP in between)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from qoder_emulator import config, launch
from qoder_emulator.machine import ACTIVE
from qoder_emulator.store import Store

RANDOM_CONFIG = {
    "principal": [
        {"name": "suite", "tokens": ["pt-r4nd0m"], "expired_tokens": ["pt-old"]},
        {"name": "stranger", "tokens": ["pt-str4ng3r"]},
    ],
    "environment": [
        {"id": "env_aaa", "type": "self_hosted", "owner": "suite"},
        {"id": "env_bbb", "type": "self_hosted", "owner": "suite"},
        {"id": "env_ccc", "type": "cloud", "owner": "suite"},
        {"id": "env_ddd", "type": "self_hosted", "owner": "stranger"},
    ],
    "agent": [{"id": "agent_x"}],
}


def test_defaults_match_internals_md():
    loaded = config.load(None)
    settings = loaded.settings("http://h:1", "http://h:1/_emulator/hook")
    assert settings == {
        "QODER_BASE_URL": "http://h:1",
        "QODER_PAT": "pt-emulator-primary",
        "QODER_ENVIRONMENT_ID": "env_00000000000000000000000000000001",
        "QODER_CLOUD_ENVIRONMENT_ID": "env_000000000000000000000000000000c1",
        "QODER_OTHER_ENVIRONMENT_ID": "env_00000000000000000000000000000002",
        "QODER_FORBIDDEN_PAT": "pt-emulator-other",
        "QODER_EXPIRED_PAT": "pt-emulator-expired",
        "QODER_PROVISIONER": "hook",
        "QODER_HOOK_URL": "http://h:1/_emulator/hook",
        "QODER_AGENT_ID": "agent_00000000000000000000000000000001",
    }
    assert loaded.environment("env_00000000000000000000000000000101").owner == "other"


def test_a_dict_config_is_served(make_http):
    http = make_http(config=RANDOM_CONFIG)
    s = http.settings
    assert (s["QODER_PAT"], s["QODER_ENVIRONMENT_ID"], s["QODER_OTHER_ENVIRONMENT_ID"]) == (
        "pt-r4nd0m",
        "env_aaa",
        "env_bbb",
    )
    assert (s["QODER_CLOUD_ENVIRONMENT_ID"], s["QODER_FORBIDDEN_PAT"], s["QODER_EXPIRED_PAT"]) == (
        "env_ccc",
        "pt-str4ng3r",
        "pt-old",
    )
    item = http.provision("active")
    assert http.stop(item, content=b"{}").json()["state"] == "stopping"
    assert http.request("GET", http.work(item["id"]), token="pt-emulator-primary").status_code == 401
    assert http.request("GET", http.work(item["id"]), token="pt-str4ng3r").status_code == 403


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ({"principal": []}, "at least one"),
        ({"principal": [{"name": "a", "tokens": ["t"]}, {"name": "a", "tokens": ["u"]}]}, "unique"),
        ({"principal": [{"name": "a", "tokens": ["t"]}, {"name": "b", "tokens": ["t"]}]}, "more than once"),
        ({"agent": [{"id": "ag_1"}]}, "agent_"),
        ({"environment": {"id": "env_1"}}, "array of tables"),
    ],
)
def test_bad_dict_config_names_the_problem(mutation, message):
    with pytest.raises(config.ConfigError, match=message) as raised:
        config.load({**RANDOM_CONFIG, **mutation})
    assert str(raised.value).startswith("config dict: ")
    with pytest.raises(config.ConfigError):
        launch(config={**RANDOM_CONFIG, **mutation})


@pytest.mark.parametrize("threads", [2, 8])
def test_store_stop_is_atomic_under_threads(threads):
    store = Store(config.load(None))
    environment = store.config.environment("env_00000000000000000000000000000001")
    for _ in range(20):
        item = store.provision(environment, ACTIVE, {})
        barrier = threading.Barrier(threads)
        states: list[str] = []

        def stop(item_id: str, barrier: threading.Barrier, states: list[str]) -> None:
            barrier.wait(timeout=5)
            states.append(store.stop(environment.id, item_id, force=False).state)

        workers = [threading.Thread(target=stop, args=(item.id, barrier, states)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=5)
        assert Counter(states) == Counter({"stopping": 1, "stopped": threads - 1})
