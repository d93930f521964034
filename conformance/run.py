"""`qoder-conformance run [pytest options]`: the bundled cases of an installed copy, from any directory.

Why a command and not only `pytest --pyargs conformance`: an installed copy has no project ini file, and the
settings the repository keeps in pyproject.toml's `[tool.pytest.ini_options]` shape the run's results (JUnit
family and suite name, strict xfail, the plugins every xdist worker should not load). They are passed here as
`-o`/`-p` options, so a run from an installed wheel and `pytest` at the repository root behave alike; a self-test
checks that the two lists agree. The reports folder stays relative to the working directory (reports/).
"""

from __future__ import annotations

from collections.abc import Sequence

PACKAGE = "conformance"
# The same plugins off as pyproject.toml's addopts, and the same ini values (see the module docstring).
DISABLED_PLUGINS = ("cacheprovider", "hypothesispytest", "anyio")
INI_VALUES = {
    "python_files": "test_*.py",
    "xfail_strict": "true",
    "junit_family": "xunit1",
    "junit_suite_name": "qoder-stop-conformance",
}


def pytest_arguments(user_arguments: Sequence[str]) -> list[str]:
    """The pytest command line of an installed run: the package's cases, its ini values, then the user's options
    (last, so that a user's `-o junit_family=...` still wins)."""
    arguments = ["--pyargs", PACKAGE]
    for plugin in DISABLED_PLUGINS:
        arguments += ["-p", f"no:{plugin}"]
    for name, value in INI_VALUES.items():
        arguments += ["-o", f"{name}={value}"]
    return arguments + list(user_arguments)


def main(user_arguments: Sequence[str]) -> int:
    """Run the suite in this process; the exit status is pytest's (0 only when every MUST held, no case errored)."""
    import pytest

    return int(pytest.main(pytest_arguments(user_arguments)))
