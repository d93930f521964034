"""The suite's pytest plugin: options, markers, fixtures, verdicts, JUnit properties, reports and exit status.

Suite mode (emulator, preflight, reports, JUnit path) is on only when the collected paths lie inside the
`conformance/` package (as paths, or as `--pyargs conformance[.module]`; or `--qoder-suite` forces it, for the
harness's own tests); `pytest tests/...` only gets the options and the marker handling. The plugin is loaded for
every pytest run of an environment where the package is installed (its `pytest11` entry point), so outside its
own runs (is_own_run: suite mode, runs rooted at the repository, `-p conformance.plugin`) it stays inert: options
and markers only, no fixtures, no requirement-ID checks.

Verdicts (decided in judge.py): only a Checker mismatch of a case is a FAIL; a HarnessError in any phase, or any
other exception (a bare `assert` included: it names no requirement), is an *error*, shown and counted as an error
by pytest and JUnit. A failure's representation is its mismatch lines (with the doc sentences and exchanges for
JUnit and -v), never a traceback of this plugin's hooks; terminal.py writes the footer.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance import catalogue, checks, evidence, judge, preflight, results, terminal
from conformance.client import RateLimiter, SuiteClient, close_shared_clients
from conformance.config import (
    BY_FIELD,
    VARIABLES,
    Settings,
    check_reports_dir,
    embedded_emulator_config,
    is_loopback_origin,
    load_settings,
    new_run_id,
)
from conformance.embedded import EmbeddedEmulator
from conformance.errors import ConfigurationError, HarnessError
from conformance.ledger import LEDGER_NAME, Ledger, cleanup
from conformance.provisioners import case_metadata, make_provisioner

PACKAGE_DIR = Path(conformance.__file__).resolve().parent
LEVEL_ORDER = ("MUST", "SHOULD", "UNSPECIFIED")
PREFLIGHT_EXIT_STATUS = pytest.ExitCode.USAGE_ERROR
EMBEDDED_FAILED_EXIT_STATUS = 3
HARNESS_PREFIX = "harness error (not a conformance verdict)"
FLAG_VARIABLES = ("QODER_STRICT",)  # `--qoder-strict`, not `--qoder-strict VALUE` (pytest's --strict is its own)
# What end-of-run cleanup did with each item of the ledger. "discarded": the item lived in this process's embedded
# emulator, which ends with the run and takes its items with it, so there was nothing to stop.
CLEANUP_OUTCOMES = ("stopped", "already_stopped", "failed", "discarded")


class ConformanceFailure(AssertionError):
    """A case's MUST (or, under --qoder-strict, SHOULD) expectations did not hold: the one way to a FAIL verdict."""


@dataclass
class CaseState:
    """What the plugin keeps for one case while it runs."""

    nodeid: str
    requirements: list[str]
    checker: checks.Checker
    exchanges: list[evidence.Exchange] = field(default_factory=list)
    verdict: str | None = None
    message: str = ""
    duration_s: float = 0.0

    def record(self, exchange: evidence.Exchange) -> None:
        self.exchanges.append(exchange)  # list.append is atomic: safe from the concurrency cases' threads


@dataclass
class RunState:
    """Per-process state of a suite-mode run."""

    settings: Settings
    controller: bool  # the process that owns the terminal and the reports (xdist controller or sole process)
    runs_cases: bool  # not the xdist controller
    started_at: str
    emulator_config: dict[str, Any] | None = None
    emulator: Any = None
    redactor: evidence.Redactor | None = None
    limiter: RateLimiter | None = None
    ledger: Ledger | None = None
    list_cursors: dict[str, str] = field(default_factory=dict)  # the lifecycle provisioner's, per environment
    seen_work_ids: set[str] = field(default_factory=set)  # work IDs the provisioners accepted in this run
    cleaned: set[tuple[str, str]] = field(default_factory=set)  # (environment, work) already cleaned up
    preflight: dict[str, Any] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    cleanup: dict[str, Any] = field(default_factory=lambda: {outcome: [] for outcome in CLEANUP_OUTCOMES})
    report_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # harness failures of the session, recorded in summary.json
    verbosity: int = 0  # pytest's -v count: below 1 the terminal shows mismatch lines, not exchanges
    stop_reason: str = ""  # why the run was stopped early (preflight, embedded emulator), for the reports
    vetted: Any = None  # reporting.cases.Vetted: the judged run every report and the terminal footer render


RUN_KEY = pytest.StashKey[RunState]()
CASE_KEY = pytest.StashKey[CaseState]()


# ------------------------------------------------------------------------------------------------ options, modes


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qoder", "Qoder Stop work item conformance")
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


# Registered by the plugin itself (not only in pyproject.toml): an installed copy has no project ini file.
MARKERS = (
    "req(*ids): the requirement IDs a case verifies (see conformance/catalogue/requirements.toml)",
    "must: the case verifies at least one MUST requirement",
    "should: the case verifies at least one SHOULD requirement",
    "unspecified: the case records behaviour the docs leave open; it asserts nothing",
    "sdk: needs the official SDK (pip install 'qoder-work-conformance[sdk]')",
    "slow: takes more than a few seconds",
)


def register_markers(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


OWN_RUN_KEY = pytest.StashKey[bool]()
FIXTURES_PLUGIN = "conformance.fixtures"


def register_fixtures(config: pytest.Config) -> None:
    """The suite's fixtures (`settings`, `check`, `api`, `provision`) for the plugin's own runs only: as global
    plugin fixtures they would shadow, or be shadowed by, another plugin's fixture of the same name (pytest-django
    has a `settings`) in every project of the environment. Registered before the session parses fixtures."""
    from conformance import fixtures

    if not config.pluginmanager.has_plugin(FIXTURES_PLUGIN):
        config.pluginmanager.register(fixtures, FIXTURES_PLUGIN)


def is_own_run(config: pytest.Config) -> bool:
    """Runs where the plugin does more than add options and markers (requirement-ID checks, level markers, the
    assertion-rewriting exemption): suite mode, runs rooted at this repository, and runs that name the plugin
    (`-p conformance.plugin`, as the self-tests' inner runs do). Any other project of an environment where the
    package is installed loads the plugin through its entry point and must not feel it (e.g. its own `req`
    marker)."""
    if is_suite_mode(config) or Path(config.rootpath).resolve() == PACKAGE_DIR.parent:
        return True
    arguments = [str(argument) for argument in config.invocation_params.args]
    named = any(flag == "-p" and name == __name__ for flag, name in itertools.pairwise(arguments))
    return named or f"-p{__name__}" in arguments


def _is_xdist_controller(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return False
    return getattr(config.option, "dist", "no") != "no" and bool(getattr(config.option, "numprocesses", 0))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# Libraries the suite imports that also ship a pytest plugin. pytest marks every module of such a distribution
# for assertion rewriting; where bytecode is not written (PYTHONDONTWRITEBYTECODE=1, usual in CI containers) it
# then recompiles all of Hypothesis (~120 modules, 0.7 s) in every process and every xdist worker, for asserts
# that are Hypothesis' own internals, not ours.
LIBRARIES_NOT_TO_REWRITE = ("hypothesis", "anyio")


def exempt_libraries_from_assertion_rewriting(config: pytest.Config) -> None:
    """Best effort: pytest has no public way to unmark a package, so an unknown pytest layout changes nothing."""
    marked = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.difference_update(LIBRARIES_NOT_TO_REWRITE)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    config.stash[OWN_RUN_KEY] = is_own_run(config)
    if config.stash[OWN_RUN_KEY]:
        exempt_libraries_from_assertion_rewriting(config)  # other projects keep pytest's default
        register_fixtures(config)
    if not is_suite_mode(config):
        return
    workerinput = getattr(config, "workerinput", None)
    options = {v.dest: config.getoption(v.dest, None) for v in VARIABLES}
    try:
        settings = load_settings(
            options=options,
            config_file=config.getoption("qoder_config", None),
            rootdir=config.rootpath,
            run_id=workerinput["qoder_run_id"] if workerinput else new_run_id(),
        )
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    controller = workerinput is None
    collect_only = config.getoption("collectonly", False)
    if controller and not collect_only:
        _prepare_reports_dir(settings)  # before any item exists: a bad folder must not strand one
    state = RunState(
        settings=settings,
        controller=controller,
        runs_cases=not _is_xdist_controller(config),
        started_at=workerinput["qoder_started_at"] if workerinput else _now(),
        verbosity=int(config.getoption("verbose", 0) or 0),
    )
    if settings.embedded:
        state.emulator_config = workerinput["qoder_emulator_config"] if workerinput else embedded_emulator_config()
    state.redactor = evidence.Redactor(run_secrets(state))  # every secret of the run is known by now
    config.stash[RUN_KEY] = state
    _ACTIVE_RUNS.append(state)
    if settings.embedded and state.runs_cases and not collect_only:
        _start_embedded(state)  # it boots while the tests are collected; _target_ready() waits for it
    if controller and not collect_only and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(settings.reports_dir / "junit.xml")


def _prepare_reports_dir(settings: Settings) -> None:
    """The reports folder is usable, and the previous run's summary.json can no longer certify anything."""
    from conformance.reporting import manifest

    try:
        check_reports_dir(settings.reports_dir)
        manifest.begin_run(settings.reports_dir, settings.run_id, _now())
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    except OSError as error:
        raise pytest.UsageError(f"reports folder {settings.reports_dir} cannot be written: {error}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: workers share the controller's run id, start time and embedded tokens (one canary for all)."""
    state = node.config.stash.get(RUN_KEY, None)
    if state is None:
        return
    node.workerinput["qoder_run_id"] = state.settings.run_id
    node.workerinput["qoder_started_at"] = state.started_at
    node.workerinput["qoder_emulator_config"] = state.emulator_config


def embedded_secrets(emulator_config: Mapping[str, Any]) -> dict[str, str]:
    """The token variables the embedded emulator will print, known before it starts (we chose its tokens)."""
    primary, other = emulator_config["principal"][0], emulator_config["principal"][1]
    return {
        "QODER_PAT": primary["tokens"][0],
        "QODER_EXPIRED_PAT": primary["expired_tokens"][0],
        "QODER_FORBIDDEN_PAT": other["tokens"][0],
    }


def run_secrets(state: RunState) -> dict[str, str]:
    secrets = dict(state.settings.secrets())
    if state.emulator_config is not None:
        secrets.update(embedded_secrets(state.emulator_config))
    return secrets


# ------------------------------------------------------------------------------------- session start: target, preflight


@pytest.hookimpl(trylast=True)  # after xdist has started its workers: they boot while the preflight runs
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(RUN_KEY, None)
    if state is None or session.config.getoption("collectonly", False):
        return
    state.limiter = RateLimiter.for_settings(state.settings)
    if not state.settings.embedded:
        _target_ready(state)  # an embedded emulator is waited for after collection: it boots meanwhile


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(RUN_KEY, None)
    if state is not None and state.emulator is not None:  # an embedded emulator, started in this process
        _target_ready(state)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long cases (marked slow: many requests one after another) first. xdist hands out cases in collection order
    as workers free up, so a long case collected last would run alone at the end; first, the short ones fill the
    gaps around it (longest-processing-time-first). The sort is stable, so each worker's collection agrees."""
    if config.stash.get(RUN_KEY, None) is not None:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _target_ready(state: RunState) -> None:
    """The target's settings are final: open the ledger and run the preflight (once: in the controller for a
    remote target; per process for the embedded emulators)."""
    if state.emulator is not None:
        try:
            state.settings = state.settings.with_target(state.emulator.wait_ready())
        except HarnessError as error:
            state.stop_reason = _shown(state, str(error))
            pytest.exit(state.stop_reason, returncode=EMBEDDED_FAILED_EXIT_STATUS)
    state.ledger = Ledger(state.settings.reports_dir / LEDGER_NAME, state.settings)
    if state.controller or state.settings.embedded:
        assert state.redactor is not None
        exchanges: list[evidence.Exchange] = []
        client = SuiteClient(state.settings, exchanges.append, state.redactor, state.limiter)
        state.preflight = preflight.run(state.settings, client)
        state.preflight["exchanges"] = [exchange.summary() for exchange in exchanges]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """A failed preflight stops the run here, not in sessionstart: pytest then still finishes the session, so
    junit.xml and the reports (with the preflight's findings) are written."""
    state = session.config.stash.get(RUN_KEY, None)
    if state is not None and state.preflight and not state.preflight.get("ok"):
        state.stop_reason = _shown(state, preflight.message(state.preflight))
        pytest.exit(state.stop_reason, returncode=PREFLIGHT_EXIT_STATUS)


def _start_embedded(state: RunState) -> None:
    assert state.emulator_config is not None and state.redactor is not None
    try:
        state.emulator = EmbeddedEmulator(state.emulator_config, redact=state.redactor.text)
    except HarnessError as error:
        state.stop_reason = _shown(state, str(error))
        pytest.exit(state.stop_reason, returncode=EMBEDDED_FAILED_EXIT_STATUS)


def _shown(state: RunState, text: str) -> str:
    """Text (of target or hook origin, or an exception's) as it may reach the terminal: redacted and with control
    bytes escaped. Every terminal line of the plugin goes through here."""
    if state.redactor is None:
        return evidence.printable(text)
    return state.redactor.for_terminal(text)


def _new_checker(config: pytest.Config, ids: list[str]) -> checks.Checker:
    state = config.stash.get(RUN_KEY, None)
    if state is None or state.redactor is None:
        return checks.Checker(frozenset(ids))
    return checks.Checker(frozenset(ids), redact=state.redactor.text)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(RUN_KEY, None)
    if state is None:
        return []
    settings = state.settings
    target = settings.base_url or "embedded emulator (one per process)"
    return [
        f"qoder: target {target}, provisioner {settings.provisioner}, run {settings.run_id}, "
        f"strict {settings.strict}, reports {settings.reports_dir}",
        rate_limit_line(settings),
    ]


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


# --------------------------------------------------------------------------------------------- markers, keywords


def requirement_ids(item: pytest.Item) -> list[str]:
    found: list[str] = []
    for marker in item.iter_markers("req"):
        for rid in marker.args:
            if rid not in found:
                found.append(rid)
    return found


def strongest_level(ids: list[str]) -> str:
    levels = {catalogue.get(rid).level for rid in ids if rid in catalogue.requirements()}
    return next((level for level in LEVEL_ORDER if level in levels), "")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """An unknown requirement ID is a collection error of the file that uses it, naming the ID."""
    report = yield
    if report.outcome != "passed" or not collector.config.stash.get(OWN_RUN_KEY, False):
        return report
    known = catalogue.requirements()
    unknown = sorted(
        {rid for node in report.result or [] if isinstance(node, pytest.Item) for rid in requirement_ids(node)}
        - set(known)
    )
    if unknown:
        report.outcome = "failed"
        report.longrepr = (
            f"unknown requirement ID(s) {', '.join(unknown)} in @pytest.mark.req; "
            f"every ID must be in {catalogue.CATALOGUE_PATH}"
        )
    return report


def pytest_itemcollected(item: pytest.Item) -> None:
    """Level markers and ID keywords, before -m/-k deselection: `-m must`, `-k STOP-TR-FORCE` select."""
    if not item.config.stash.get(OWN_RUN_KEY, False):
        return
    for rid in requirement_ids(item):
        if rid not in catalogue.requirements():
            continue
        item.add_marker(catalogue.get(rid).marker)
        item.extra_keyword_matches.add(rid)


# ---------------------------------------------------------------------------------------------------- fixtures
# Plain functions here; conformance/fixtures.py makes them fixtures, registered only for the plugin's own runs.


def _run_state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(RUN_KEY, None)
    if state is None:
        raise ConfigurationError("the conformance fixtures run only in suite mode (tests under conformance/)")
    return state


def run_settings(config: pytest.Config) -> Settings:
    """The run's settings at collection time (for parametrizing by a budget); defaults outside suite mode."""
    state = config.stash.get(RUN_KEY, None)
    return state.settings if state is not None else Settings()


def _case_state(request: pytest.FixtureRequest) -> CaseState:
    item = request.node
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        ids = requirement_ids(item)
        case = CaseState(item.nodeid, ids, _new_checker(item.config, ids))
        item.stash[CASE_KEY] = case
    return case


def settings(request: pytest.FixtureRequest) -> Settings:
    return _run_state(request).settings


def check(request: pytest.FixtureRequest) -> checks.Checker:
    return _case_state(request).checker


def api(request: pytest.FixtureRequest) -> SuiteClient:
    state = _run_state(request)
    assert state.redactor is not None
    return SuiteClient(state.settings, _case_state(request).record, state.redactor, state.limiter)


def provision(request: pytest.FixtureRequest, api: SuiteClient) -> Iterator[Callable[..., dict[str, Any]]]:
    """`provision(state)`: a new item in that state. After the case, its live items are force-stopped: a target's
    queue stays short (the lifecycle provisioner's poll wades through every queued item), and a run killed later
    leaves less behind. What fails here is retried by the end-of-run cleanup."""
    state = _run_state(request)
    nodeid = request.node.nodeid
    ledger = state.ledger
    assert ledger is not None
    entries: list[dict[str, Any]] = []

    def created(environment_id: str, work_id: str) -> None:
        entries.append(ledger.record(environment_id, work_id, nodeid))

    provisioner = make_provisioner(state.settings, api, created, state.list_cursors, state.seen_work_ids)

    def provision_item(
        state_name: str, *, environment_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        environment = environment_id or state.settings.environment_id or ""
        return provisioner.provision(
            state_name, environment_id=environment, metadata=case_metadata(state.settings, nodeid, metadata)
        )

    yield provision_item
    if entries and not state.settings.embedded:
        _clean_up(state, entries, final=False)


# ----------------------------------------------------------------------------------------------------- verdicts


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.stash.get(RUN_KEY, None) is not None and CASE_KEY not in item.stash:
        ids = requirement_ids(item)
        item.stash[CASE_KEY] = CaseState(item.nodeid, ids, _new_checker(item.config, ids))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    state = item.config.stash.get(RUN_KEY, None)
    case = item.stash.get(CASE_KEY, None)
    if state is not None and case is not None:
        failing = case.checker.failures(strict=state.settings.strict)
        if failing:
            raise ConformanceFailure("\n".join(mismatch.line() for mismatch in failing))
    return result


def failure_text(case: CaseState, failing: list[checks.Mismatch]) -> str:
    """One line per mismatch, each failing requirement's quote and page, then the case's (redacted) exchanges."""
    lines = [mismatch.line() for mismatch in failing]
    for rid in dict.fromkeys(m.requirement for m in failing):
        requirement = catalogue.get(rid)
        lines += [
            "",
            f"{rid} ({requirement.level}, {requirement.page}):",
            f'  "{catalogue.normalize(requirement.quote)}"',
        ]
    lines += ["", "exchanges:", *exchange_lines(case.exchanges)]
    return "\n".join(lines)


def exchange_lines(exchanges: list[evidence.Exchange]) -> list[str]:
    lines = []
    for exchange in exchanges:
        lines.append(f"  [{exchange.role}] {exchange.summary()}")
        if exchange.role not in (evidence.UNDER_TEST, evidence.READ_BACK):
            continue
        lines += [f"    > {name}: {value}" for name, value in exchange.request_headers.items()]
        if exchange.request_body is not None:
            lines.append(f"    > {exchange.request_body}")
        lines += [f"    < {name}: {value}" for name, value in exchange.response_headers.items()]
        if exchange.response_body is not None:
            lines.append(f"    < {exchange.response_body}")
    return lines


def _classify(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, case: CaseState) -> None:
    """Update the case's verdict from one phase's report (the verdict itself is judge.case_verdict's), and give
    pytest and JUnit the failure as text: the mismatch lines, not a traceback of our own hook."""
    strict = item.config.stash[RUN_KEY].settings.strict
    if report.skipped:
        reason = _skip_reason(report)
        case.verdict, case.message = judge.case_verdict(judge.SKIPPED, case.requirements, [], strict=strict), reason
        if not reason.startswith("not verified"):
            case.message = f"not verified: {reason}"
        return
    if report.failed:
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance(ConformanceFailure) and report.when == "call":
            failing = case.checker.failures(strict=strict)
            case.verdict = judge.case_verdict(judge.RAN, case.requirements, case.checker.mismatches, strict=strict)
            case.message = str(excinfo.value)
            report.longrepr = failure_text(case, failing)  # complete, for JUnit; the terminal may shorten it
            report.qoder_brief = case.message  # type: ignore[attr-defined]
            return
        if case.verdict == results.ERROR:
            return  # the first error explains the case; a teardown error after it adds nothing
        what = f"{excinfo.typename}: {excinfo.value}" if excinfo is not None else str(report.longrepr)
        harness = excinfo is not None and excinfo.errisinstance(HarnessError)
        prefix = HARNESS_PREFIX if harness else "error in the case itself (not a conformance verdict)"
        case.verdict = judge.case_verdict(judge.ERRORED, case.requirements, [], strict=strict)
        case.message = f"{prefix}: {what}"
        if report.when == "call":
            report.when = "setup"  # pytest and JUnit count a failed setup as an error, never a failure
            if harness:
                report.longrepr = f"{HARNESS_PREFIX}: {what}\n\nexchanges:\n" + "\n".join(
                    exchange_lines(case.exchanges)
                )
        return
    if report.when == "call":
        case.verdict = judge.case_verdict(judge.RAN, case.requirements, case.checker.mismatches, strict=strict)
        case.message = "\n".join(m.line() for m in case.checker.warnings(strict=strict))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    state = item.config.stash.get(RUN_KEY, None)
    if state is None:
        return report
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        ids = requirement_ids(item)
        case = CaseState(item.nodeid, ids, _new_checker(item.config, ids))
        item.stash[CASE_KEY] = case
    case.duration_s += report.duration
    _classify(item, call, report, case)
    _sanitize(report, case, state)
    if report.when == "teardown":
        verdict = case.verdict or results.ERROR
        properties = [("requirement", rid) for rid in case.requirements]
        properties += [("level", strongest_level(case.requirements)), ("verdict", verdict)]
        report.user_properties.extend(properties)
        report.qoder_case = case_record(case, verdict).to_dict()  # type: ignore[attr-defined]
    return report


def _sanitize(report: pytest.TestReport, case: CaseState, state: RunState) -> None:
    """Whatever path a token or a control byte took into a report (an exception message, pytest's `-l` locals,
    captured output), it leaves here redacted and escaped: the terminal and JUnit show only this text."""
    if state.redactor is not None:
        case.message = state.redactor.text(case.message)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], _shown(state, str(longrepr[2])))
    elif longrepr is not None:
        report.longrepr = _shown(state, report.longreprtext)
    report.sections = [(title, _shown(state, content)) for title, content in report.sections]


def case_record(case: CaseState, verdict: str) -> results.CaseRecord:
    checker = case.checker
    return results.CaseRecord(
        nodeid=case.nodeid,
        requirements=list(case.requirements),
        verdict=verdict,
        message=case.message,
        mismatches=[asdict(m) for m in checker.mismatches],
        observations=[asdict(o) for o in checker.observations],
        exchanges=[exchange.to_dict() for exchange in case.exchanges],
        duration_s=round(case.duration_s, 3),
    )


@pytest.hookimpl(trylast=True)  # after JUnit has taken the complete failure text
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect case records (in the controller they arrive from the workers as plain dicts), and below -v shorten
    a failure's terminal text to its mismatch lines (its exchanges are in the reports)."""
    if not _ACTIVE_RUNS:
        return
    state = _ACTIVE_RUNS[-1]
    case = getattr(report, "qoder_case", None)
    if isinstance(case, dict) and report.when == "teardown":
        state.cases[case["nodeid"]] = case
    brief = getattr(report, "qoder_brief", None)
    if isinstance(brief, str) and report.failed and state.verbosity < 1:
        report.longrepr = terminal.brief_failure(brief)


# The hook above gets no config; runs nest only under pytester (an inner in-process run), hence a stack.
_ACTIVE_RUNS: list[RunState] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is not None and state in _ACTIVE_RUNS:
        _ACTIVE_RUNS.remove(state)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: merge each worker's cleanup outcome into the controller's."""
    state = node.config.stash.get(RUN_KEY, None)
    workeroutput = getattr(node, "workeroutput", {})
    outcome = workeroutput.get("qoder_cleanup")
    if state is not None:
        state.problems += [str(problem) for problem in workeroutput.get("qoder_problems") or []]
    if state is None or not isinstance(outcome, dict):
        return
    for key in CLEANUP_OUTCOMES:
        state.cleanup[key] = state.cleanup.get(key, []) + list(outcome.get(key, []))


# ------------------------------------------------------------------------------------------------- session end


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(RUN_KEY, None)
    if state is None or config.getoption("collectonly", False):
        return
    # Each step on its own: a failure in one (a hostile answer, a full disk) is reported and the others still run,
    # so the session always ends with the run's items cleaned, every report written and the canary run.
    if state.runs_cases:
        _guarded(session, state, "cleanup of the run's items", lambda: _cleanup_own_items(state))
        if hasattr(config, "workeroutput"):
            config.workeroutput["qoder_cleanup"] = state.cleanup
            config.workeroutput["qoder_problems"] = list(state.problems)
    if state.controller:
        _guarded(session, state, "writing the reports", lambda: _write_reports(session, state))
        if not state.report_paths:  # it broke before writing anything: reports without the case records, then
            _guarded(session, state, "writing the reports", lambda: _write_reports(session, state, with_cases=False))
        _guarded(
            session,
            state,
            "shortening the terminal's failure sections",
            lambda: terminal.fold_case_sections(config, state.verbosity),
        )
    if state.emulator is not None:
        _guarded(session, state, "stopping the embedded emulator", state.emulator.stop)
        state.emulator = None
    _guarded(session, state, "closing HTTP connections", close_shared_clients)


def _redacted(state: RunState, data: Any) -> Any:
    return data if state.redactor is None else state.redactor.value(data)


def _guarded(session: pytest.Session, state: RunState, what: str, step: Callable[[], Any]) -> None:
    """Run one end-of-session step; an unexpected exception becomes a harness error with a clear message (and a
    non-zero exit status), never a crash that skips the steps after it."""
    try:
        step()
    except Exception as error:  # whatever a hostile target provoked: report it, go on
        message = _shown(state, f"{HARNESS_PREFIX}: {what} failed: {error.__class__.__name__}: {error}")[:2000]
        state.problems.append(message)
        state.notes.append(message)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _cleanup_own_items(state: RunState) -> None:
    if state.ledger is None or not state.ledger.entries or state.redactor is None:
        return
    if state.settings.embedded:
        state.cleanup["discarded"] += [entry["work_id"] for entry in state.ledger.entries]
        return
    left = [e for e in state.ledger.entries if (e["environment_id"], e["work_id"]) not in state.cleaned]
    if left:
        _clean_up(state, left, final=True)


def _clean_up(state: RunState, entries: list[dict[str, Any]], *, final: bool) -> None:
    """Force-stop the live items among `entries` (the suite's own). An item that cannot be cleaned after its case
    is tried again at the end of the run, and only that last attempt reports it as failed."""
    assert state.redactor is not None
    client = SuiteClient(state.settings, lambda exchange: None, state.redactor, state.limiter)
    outcome = cleanup(entries, client)
    failed = {failure["work_id"] for failure in outcome["failed"]}
    state.cleaned.update((e["environment_id"], e["work_id"]) for e in entries if e["work_id"] not in failed)
    for key in ("stopped", "already_stopped") + (("failed",) if final else ()):
        state.cleanup[key] += outcome[key]


def _write_reports(session: pytest.Session, state: RunState, *, with_cases: bool = True) -> None:
    settings = state.settings
    cases = [results.CaseRecord(**case) for case in state.cases.values()] if with_cases else []
    run = results.RunRecord(
        suite_version=conformance.__version__,
        spec_digest=catalogue.spec_digest(),
        target=settings.base_url or "embedded emulator",
        provisioner=settings.provisioner,
        config=settings.redacted(),
        started_at=state.started_at,
        finished_at=_now(),
        strict=settings.strict,
        cases=cases,
        exit_status=int(session.exitstatus),
        # Built from answers outside any case's capture (e.g. a cleanup reason quoting the state a server sent):
        # redacted here, at the door of the reports.
        preflight=_redacted(state, state.preflight),
        cleanup=_redacted(state, state.cleanup),
        embedded=settings.embedded,
        interrupted=terminal.was_interrupted(session),
        stop_reason=state.stop_reason,
    )
    try:
        from conformance import reporting
    except ImportError as error:
        state.notes.append(f"reports not written: conformance.reporting is not available ({error})")
        return
    state.vetted = reporting.vet(run)  # judged once: the reports and the terminal footer all render this
    # The run's other files (pytest's junit.xml, the run's ledger) are scanned by the canary too; nothing else is.
    others = [session.config.option.xmlpath, getattr(state.ledger, "path", None)]
    hits = reporting.write_all(
        run,
        settings.reports_dir,
        run_secrets(state),
        also_scan=[Path(path) for path in others if path],
        problems=state.problems,
        vetted=state.vetted,
    )
    state.report_paths = [
        str(settings.reports_dir / name) for name in ("junit.xml", "report.html", "summary.json", "summary.md")
    ]
    if hits:
        lines = [getattr(hit, "line", lambda h=hit: str(h))() for hit in hits]
        state.notes.append("SECRET CANARY: a token was found in the reports; the files were removed:")
        state.notes += [f"  {line}" for line in lines]
        shown = [_shown(state, line) for line in lines]
        sys.stderr.write("\n".join(["", "!" * 30 + " secret canary " + "!" * 30, *shown, ""]) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ----------------------------------------------------------------------------------------------- terminal summary


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is None or not state.controller or config.getoption("collectonly", False):
        return
    terminalreporter.section("Qoder Stop conformance")
    if state.vetted is not None:
        verdicts, cases = state.vetted.verdicts, state.vetted.cases
    else:  # no reports were written: judge the records here, the same way
        cases = [results.CaseRecord(**case) for case in state.cases.values()]
        verdicts = results.requirement_verdicts(cases, strict=state.settings.strict)
    reports = [path for path in state.report_paths if os.path.exists(path)]
    lines = terminal.footer(
        verdicts,
        cases,
        cleanup_failed=state.cleanup.get("failed") or [],
        notes=[f"preflight note: {note}" for note in state.preflight.get("notes", [])] + state.notes,
        reports=reports,
        reports_dir=str(state.settings.reports_dir),
        verbose=state.verbosity,
    )
    for line in lines:
        terminalreporter.write_line(_shown(state, line))
