"""The suite's fixtures, registered by the plugin only for its own runs (see plugin.register_fixtures).

The plugin is loaded into every pytest run of an environment where the package is installed (its `pytest11` entry
point). Fixtures defined in the plugin module itself would be global there: `settings` would collide with another
plugin's fixture of that name (pytest-django's, for one). So the functions live in plugin.py as plain functions,
and this module, registered as a plugin in suite mode and the suite's own self-test runs, makes them fixtures.
"""

from __future__ import annotations

import pytest

from conformance import plugin

settings = pytest.fixture(scope="session", name="settings")(plugin.settings)
check = pytest.fixture(name="check")(plugin.check)
api = pytest.fixture(name="api")(plugin.api)
provision = pytest.fixture(name="provision")(plugin.provision)
