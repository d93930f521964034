"""The plugin's stash keys, in one place (hooks, fixtures and self-tests all reach the run through these).

RUN_KEY holds the run's one registered plugin object (session.ConformanceSession) in `config.stash`, only in suite
mode; CASE_KEY holds a case's state in `item.stash`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conformance.plugin.state import CaseState

if TYPE_CHECKING:
    from conformance.plugin.session import ConformanceSession  # it imports this module

RUN_KEY: pytest.StashKey[ConformanceSession] = pytest.StashKey()
CASE_KEY = pytest.StashKey[CaseState]()
