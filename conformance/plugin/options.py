"""Always-on parts of the plugin: its command-line options, its markers, and which kind of run this is.

Every pytest run of an environment where the package is installed gets these (the `pytest11` entry point), so
nothing here may change a run that is not the suite's own: options and markers only.
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

import conformance
from conformance.catalogue import ENDPOINTS
from conformance.config import BY_FIELD, VARIABLES, Settings, is_loopback_origin

PLUGIN_NAME = "conformance.plugin"  # the entry point's, conftest.py's and `-p`'s name for the plugin
PACKAGE_DIR = Path(conformance.__file__).resolve().parent
FLAG_VARIABLES = ("QODER_STRICT",)  # `--qoder-strict`, not `--qoder-strict VALUE` (pytest's --strict is its own)

# Registered by the plugin itself (not only in pyproject.toml): an installed copy has no project ini file.
MARKERS = (
    "req(*ids): the requirement IDs a case verifies (see conformance/catalogue/*.toml)",
    "must: the case verifies at least one MUST requirement",
    "should: the case verifies at least one SHOULD requirement",
    "unspecified: the case records behaviour the docs leave open; it asserts nothing",
    "sdk: needs the official SDK (pip install 'qoder-work-conformance[sdk]')",
    "slow: takes more than a few seconds",
    # one per endpoint, from the catalogue's own list so the two cannot drift apart
    *(
        f"{endpoint}: the case verifies at least one {prefix}-* requirement (conformance/catalogue/{endpoint}.toml)"
        for prefix, endpoint in ENDPOINTS.items()
    ),
)

# Libraries the suite imports that also ship a pytest plugin. pytest marks every module of such a distribution
# for assertion rewriting; where bytecode is not written (PYTHONDONTWRITEBYTECODE=1, usual in CI containers) it
# then recompiles all of Hypothesis (~120 modules, 0.7 s) in every process and every xdist worker, for asserts
# that are Hypothesis' own internals, not ours.
LIBRARIES_NOT_TO_REWRITE = ("hypothesis", "anyio")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("qoder", "Qoder work API conformance")
    for variable in VARIABLES:
        hint = f"(also {variable.name}, or '{variable.key}' in the config file; default: {variable.default_text()})"
        if variable.kind == "secret":
            hint += "; prefer the environment variable or the config file: command lines are visible to others"
        if variable.name in FLAG_VARIABLES:  # a switch without a value
            group.addoption(variable.flag, dest=variable.dest, action="store_true", help=f"{variable.meaning} {hint}")
            continue
        group.addoption(
            variable.flag, dest=variable.dest, default=None, metavar="VALUE", help=f"{variable.meaning} {hint}"
        )
    group.addoption(
        "--qoder-config",
        dest="qoder_config",
        default=None,
        metavar="PATH",
        help="TOML config file (default: QODER_CONFIG, then qoder-conformance.toml in the rootdir)",
    )
    group.addoption(
        "--qoder-suite",
        dest="qoder_suite",
        action="store_true",
        default=False,
        help="suite mode for test files outside conformance/ (the harness's own tests; default: off, suite mode "
        "is on only for the conformance package's own cases)",
    )


def register_markers(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def is_suite_mode(config: pytest.Config) -> bool:
    if config.getoption("qoder_suite", False):
        return True
    base = Path(config.invocation_params.dir)
    pyargs = bool(config.getoption("pyargs", False))
    for arg in config.args:
        target = str(arg).split("::")[0]
        path = (module_path(target) if pyargs else None) or (base / target).resolve()
        if path == PACKAGE_DIR or PACKAGE_DIR in path.parents:
            return True
    return False


def module_path(name: str) -> Path | None:
    """Where `--pyargs NAME` points (a package's folder, a module's file), or None when NAME is not a module.

    Resolved through the import system, like pytest does, so `--pyargs conformance` means this plugin's own
    package and not another distribution's `conformance`."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin else None


def is_own_run(config: pytest.Config) -> bool:
    """Runs where the plugin does more than add options and markers (requirement-ID checks, level markers, the
    assertion-rewriting exemption, the fixtures): suite mode, runs rooted at this repository, and runs that name
    the plugin (`-p conformance.plugin`, as the self-tests' inner runs do). Any other project of an environment
    where the package is installed loads the plugin through its entry point and must not feel it (e.g. its own
    `req` marker)."""
    if is_suite_mode(config) or Path(config.rootpath).resolve() == PACKAGE_DIR.parent:
        return True
    arguments = [str(argument) for argument in config.invocation_params.args]
    named = any(flag == "-p" and name == PLUGIN_NAME for flag, name in itertools.pairwise(arguments))
    return named or f"-p{PLUGIN_NAME}" in arguments


def exempt_libraries_from_assertion_rewriting(config: pytest.Config) -> None:
    """Best effort: pytest has no public way to unmark a package, so an unknown pytest layout changes nothing."""
    marked = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.difference_update(LIBRARIES_NOT_TO_REWRITE)


def rate_limit_line(settings: Settings) -> str:
    """The client-side rate limits in force (as RateLimiter.for_settings applies them) and how to change them."""
    write, read = BY_FIELD["write_rate"], BY_FIELD["read_rate"]
    if settings.embedded:
        return "qoder: rate limits off (embedded emulator)"
    where = "loopback target" if is_loopback_origin(settings.base_url) else "remote target"
    how = f"{write.name} / {read.name} (or {write.flag} / {read.flag}; requests per second, 0 = off)"
    if not settings.write_rate and not settings.read_rate:
        return f"qoder: rate limits off ({where}); to turn them on, set {how}"
    shown = [
        f"{kind} {rate:g}/s" if rate else f"{kind} unlimited"
        for kind, rate in (("writes", settings.write_rate), ("reads", settings.read_rate))
    ]
    return f"qoder: rate limits {', '.join(shown)} ({where}); to change them, set {how}"
