"""Root conftest: load the suite's pytest plugin, nothing else.

Everything (options, markers, fixtures, verdicts, reports) lives in `conformance.plugin`, so that the same plugin
serves `pytest` at the repo root and an installed copy.
"""

pytest_plugins = ["conformance.plugin"]
