"""Conformance suite for the Qoder Cloud Agents self-hosted work API (Stop work item).

PYTEST_DONT_REWRITE: this file only. `qoder-conformance run` has imported the package before pytest starts, so
pytest could not rewrite it anyway and would warn about it on every installed run; the marker says that is meant.
The cases (conformance/test_*.py) are imported by pytest itself and are rewritten as usual.
"""

__version__ = "0.1.0"  # the one place the version is kept (pyproject.toml reads it: dynamic = ["version"])
