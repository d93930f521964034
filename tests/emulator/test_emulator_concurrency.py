"""Concurrent stops on one item are linearizable: exactly one graceful stop wins the move to stopping."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest


def concurrent_stops(http, item, bodies: list[bytes]) -> list[httpx.Response]:
    """Fire all stops at once, each on its own connection, released together by a barrier."""
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)
    path = "/api/v1/cloud" + http.work(item["id"], suffix="/stop")

    def send(index: int) -> None:
        with httpx.Client(base_url=http.emulator.base_url, headers=http.auth(), timeout=10) as client:
            client.get("/_emulator/warm-up")  # open the connection before the race
            barrier.wait(timeout=10)
            results[index] = client.post(path, content=bodies[index], headers={"Content-Type": "application/json"})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


@pytest.mark.parametrize("clients", [2, 8])
@pytest.mark.parametrize("repeat", range(3))
def test_concurrent_graceful_stops_give_one_stopping(http, clients, repeat):
    item = http.provision("active")
    responses = concurrent_stops(http, item, [b"{}"] * clients)
    assert all(r.status_code == 200 for r in responses)
    states = Counter(r.json()["state"] for r in responses)
    assert states == Counter({"stopping": 1, "stopped": clients - 1})
    stopped = {r.json()["stopped_at"] for r in responses if r.json()["state"] == "stopped"}
    assert len(stopped) == 1  # one transition into stopped; later calls return the same stopped item
    assert http.get(item)["state"] == "stopped"


def test_concurrent_force_and_graceful_never_reopen_the_item(http):
    item = http.provision("active")
    responses = concurrent_stops(http, item, [b'{"force": true}', b"{}", b"{}", b'{"force": true}'])
    assert all(r.status_code == 200 for r in responses)
    assert sum(r.json()["state"] == "stopping" for r in responses) <= 1
    assert http.get(item)["state"] == "stopped"
