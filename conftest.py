"""Root conftest: load the suite's pytest plugin, nothing else.

Everything (options, markers, fixtures, verdicts, reports) lives in `conformance.plugin`, so that the same plugin
serves `pytest` at the repo root and an installed copy. An installed package (editable or not) also registers the
plugin through its `pytest11` entry point, under the same name, `conformance.plugin`: pytest then sees one plugin,
not two. Naming it here keeps a checkout working where entry points are not loaded
(PYTEST_DISABLE_PLUGIN_AUTOLOAD=1).
"""

pytest_plugins = ["conformance.plugin"]
