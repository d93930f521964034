"""Fixtures of the hostile-target kit: a fresh target per test, with items that existed before the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile.expect import World
from hostile.target import HostileTarget


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A hostile target whose emulator holds live items of someone else: one active and one queued in the run's
    environment, one active in the other environment of the same principal, one active of another principal."""
    with HostileTarget() as target:
        ids = target.ids
        metadata = {"owner": "a colleague", "purpose": "staging smoke test"}
        for state, environment_id in (
            ("active", ids.environment),
            ("queued", ids.environment),
            ("active", ids.other_environment),
            ("active", ids.foreign_environment),
        ):
            target.create_item(state, environment_id, metadata)
        workdir = tmp_path / "work"
        workdir.mkdir()
        yield World(target=target, workdir=workdir, reports_dir=workdir / "reports", before=target.snapshot())
