"""Fixtures for the emulator self-tests: real emulators on loopback sockets (one per module, or one per test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from emulator_helpers import Http

from qoder_emulator import RunningEmulator, launch


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with launch() as running:
        yield running


@pytest.fixture(scope="module")
def http(emulator: RunningEmulator) -> Iterator[Http]:
    helper = Http(emulator)
    yield helper
    helper.client.close()


@pytest.fixture
def make_http() -> Iterator[Any]:
    """Start an emulator with given options for one test; stopped at the end."""
    started: list[tuple[RunningEmulator, Http]] = []

    def start(**options: Any) -> Http:
        running = launch(**options)
        helper = Http(running)
        started.append((running, helper))
        return helper

    yield start
    for running, helper in started:
        helper.client.close()
        running.stop()
