"""The suite-mode run as one registered plugin object: ConformanceSession holds the run's state, and its methods
are the run's hooks (like pytest's junitxml LogXML and pytest-xdist's DSession).

The package's pytest_configure builds it only in suite mode, stores it in the stash (RUN_KEY) and registers it;
pytest_unconfigure unregisters it. So no hook here needs to ask whether this is a suite run, and no module state
exists: in nested runs (pytester's in-process runs) each run's object gets its own run's hooks only.

Session start: the target (the embedded emulator, started in pytest_configure, is waited for after collection),
the ledger, the preflight. Session end: each step on its own (cleanup, reports, terminal, emulator, connections),
so the run always ends with its items cleaned, every report written and the canary run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance import catalogue, evidence, preflight, results, terminal
from conformance.client import RateLimiter, SuiteClient, close_shared_clients
from conformance.config import (
    VARIABLES,
    Settings,
    check_reports_dir,
    embedded_emulator_config,
    load_settings,
    new_run_id,
)
from conformance.embedded import EmbeddedEmulator
from conformance.errors import ConfigurationError, HarnessError
from conformance.ledger import LEDGER_NAME, Ledger
from conformance.plugin import own_items, verdicts, xdist
from conformance.plugin._keys import RUN_KEY
from conformance.plugin.options import rate_limit_line
from conformance.plugin.state import RunState, now, redacted, run_secrets, shown

SESSION_PLUGIN = "qoder-conformance-session"  # the registered object's name in the plugin manager
PREFLIGHT_EXIT_STATUS = pytest.ExitCode.USAGE_ERROR
EMBEDDED_FAILED_EXIT_STATUS = 3


def run_state(config: pytest.Config) -> RunState:
    """The run's state from the options, the environment and the config file (a worker takes the controller's run
    id, start time and emulator config). Called once, in the package's pytest_configure."""
    workerinput = xdist.from_controller(config)
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
    if controller and not config.getoption("collectonly", False):
        prepare_reports_dir(settings)  # before any item exists: a bad folder must not strand one
    state = RunState(
        settings=settings,
        controller=controller,
        runs_cases=not xdist.is_controller(config),
        started_at=workerinput["qoder_started_at"] if workerinput else now(),
        verbosity=int(config.getoption("verbose", 0) or 0),
    )
    if settings.embedded:
        state.emulator_config = workerinput["qoder_emulator_config"] if workerinput else embedded_emulator_config()
    state.redactor = evidence.Redactor(run_secrets(state))  # every secret of the run is known by now
    return state


def prepare_reports_dir(settings: Settings) -> None:
    """The reports folder is usable, and the previous run's summary.json can no longer certify anything."""
    from conformance.reporting import manifest

    try:
        check_reports_dir(settings.reports_dir)
        manifest.begin_run(settings.reports_dir, settings.run_id, now())
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    except OSError as error:
        raise pytest.UsageError(f"reports folder {settings.reports_dir} cannot be written: {error}") from None


def run_settings(config: pytest.Config) -> Settings:
    """The run's settings at collection time (for parametrizing by a budget); defaults outside suite mode."""
    run = config.stash.get(RUN_KEY, None)
    return run.state.settings if run is not None else Settings()


class ConformanceSession:
    """The suite-mode run of one pytest process (the xdist controller, a worker, or a sole process)."""

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state

    # ---------------------------------------------------------------------------------------- configure, xdist

    def begin(self) -> None:
        """Right after registration, still in pytest_configure: the embedded emulator starts booting (it is
        waited for after collection), and junit.xml goes to the reports folder unless --junitxml says otherwise
        (junitxml's own pytest_configure, which runs after ours, reads the path)."""
        state, config = self.state, self.config
        collect_only = config.getoption("collectonly", False)
        if state.settings.embedded and state.runs_cases and not collect_only:
            self._start_embedded()
        if state.controller and not collect_only and not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(state.settings.reports_dir / "junit.xml")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers share the controller's run id, start time and embedded tokens (one canary for all)."""
        xdist.to_worker(node.workerinput, self.state)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: merge each worker's cleanup outcome into the controller's."""
        xdist.merge_from_worker(getattr(node, "workeroutput", {}), self.state)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.state.settings
        target = settings.base_url or "embedded emulator (one per process)"
        return [
            f"qoder: target {target}, provisioner {settings.provisioner}, run {settings.run_id}, "
            f"strict {settings.strict}, reports {settings.reports_dir}",
            rate_limit_line(settings),
        ]

    # ---------------------------------------------------------------------------- session start: target, preflight

    @pytest.hookimpl(trylast=True)  # after xdist has started its workers: they boot while the preflight runs
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if session.config.getoption("collectonly", False):
            return
        self.state.limiter = RateLimiter.for_settings(self.state.settings)
        if not self.state.settings.embedded:
            self._target_ready()  # an embedded emulator is waited for after collection: it boots meanwhile

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.state.emulator is not None:  # an embedded emulator, started in this process
            self._target_ready()

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Long cases (marked slow: many requests one after another) first. xdist hands out cases in collection
        order as workers free up, so a long case collected last would run alone at the end; first, the short ones
        fill the gaps around it (longest-processing-time-first). The sort is stable, so each worker's collection
        agrees."""
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """A failed preflight stops the run here, not in sessionstart: pytest then still finishes the session, so
        junit.xml and the reports (with the preflight's findings) are written."""
        state = self.state
        if state.preflight and not state.preflight.get("ok"):
            state.stop_reason = shown(state, preflight.message(state.preflight))
            pytest.exit(state.stop_reason, returncode=PREFLIGHT_EXIT_STATUS)

    def _target_ready(self) -> None:
        """The target's settings are final: open the ledger and run the preflight (once: in the controller for a
        remote target; per process for the embedded emulators)."""
        state = self.state
        if state.emulator is not None:
            try:
                state.settings = state.settings.with_target(state.emulator.wait_ready())
            except HarnessError as error:
                state.stop_reason = shown(state, str(error))
                pytest.exit(state.stop_reason, returncode=EMBEDDED_FAILED_EXIT_STATUS)
        state.ledger = Ledger(state.settings.reports_dir / LEDGER_NAME, state.settings)
        if state.controller or state.settings.embedded:
            assert state.redactor is not None
            exchanges: list[evidence.Exchange] = []
            client = SuiteClient(state.settings, exchanges.append, state.redactor, state.limiter)
            state.preflight = preflight.run(state.settings, client)
            state.preflight["exchanges"] = [exchange.summary() for exchange in exchanges]

    def _start_embedded(self) -> None:
        state = self.state
        assert state.emulator_config is not None and state.redactor is not None
        try:
            state.emulator = EmbeddedEmulator(state.emulator_config, redact=state.redactor.text)
        except HarnessError as error:
            state.stop_reason = shown(state, str(error))
            pytest.exit(state.stop_reason, returncode=EMBEDDED_FAILED_EXIT_STATUS)

    # -------------------------------------------------------------------------------------------------- cases

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        verdicts.case_of(item, self.state)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        result = yield
        verdicts.raise_on_failures(verdicts.case_of(item, self.state), strict=self.state.settings.strict)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        report = yield
        case = verdicts.case_of(item, self.state)
        case.duration_s += report.duration
        verdicts.classify(call, report, case, strict=self.state.settings.strict)
        verdicts.sanitize(report, case, self.state)
        if report.when == "teardown":
            verdicts.finish(report, case)
        return report

    @pytest.hookimpl(trylast=True)  # after JUnit has taken the complete failure text
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect case records (in the controller they arrive from the workers as plain dicts), and below -v
        shorten a failure's terminal text to its mismatch lines (its exchanges are in the reports)."""
        case = getattr(report, "qoder_case", None)
        if isinstance(case, dict) and report.when == "teardown":
            self.state.cases[case["nodeid"]] = case
        brief = getattr(report, "qoder_brief", None)
        if isinstance(brief, str) and report.failed and self.state.verbosity < 1:
            report.longrepr = terminal.brief_failure(brief)

    # --------------------------------------------------------------------------------------------- session end

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = session.config, self.state
        if config.getoption("collectonly", False):
            return
        if state.runs_cases:
            self.guarded(session, "cleanup of the run's items", lambda: own_items.clean_up_what_is_left(state))
            xdist.to_controller(config, state)
        if state.controller:
            self.guarded(session, "writing the reports", lambda: self._write_reports(session))
            if not state.report_paths:  # it broke before writing anything: reports without the case records, then
                self.guarded(session, "writing the reports", lambda: self._write_reports(session, with_cases=False))
            self.guarded(
                session,
                "shortening the terminal's failure sections",
                lambda: terminal.fold_case_sections(config, state.verbosity),
            )
        if state.emulator is not None:
            self.guarded(session, "stopping the embedded emulator", state.emulator.stop)
            state.emulator = None
        self.guarded(session, "closing HTTP connections", close_shared_clients)

    def guarded(self, session: pytest.Session, what: str, step: Callable[[], Any]) -> None:
        """Run one end-of-session step; an unexpected exception becomes a harness error with a clear message (and
        a non-zero exit status), never a crash that skips the steps after it."""
        state = self.state
        try:
            step()
        except Exception as error:  # whatever a hostile target provoked: report it, go on
            message = shown(state, f"{verdicts.HARNESS_PREFIX}: {what} failed: {error.__class__.__name__}: {error}")
            message = message[:2000]
            state.problems.append(message)
            state.notes.append(message)
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_reports(self, session: pytest.Session, *, with_cases: bool = True) -> None:
        state = self.state
        settings = state.settings
        cases = [results.CaseRecord(**case) for case in state.cases.values()] if with_cases else []
        run = results.RunRecord(
            suite_version=conformance.__version__,
            spec_digest=catalogue.spec_digest(),
            target=settings.base_url or "embedded emulator",
            provisioner=settings.provisioner,
            config=settings.redacted(),
            started_at=state.started_at,
            finished_at=now(),
            strict=settings.strict,
            cases=cases,
            exit_status=int(session.exitstatus),
            # Built from answers outside any case's capture (e.g. a cleanup reason quoting the state a server
            # sent): redacted here, at the door of the reports.
            preflight=redacted(state, state.preflight),
            cleanup=redacted(state, state.cleanup),
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
        # The run's other files (pytest's junit.xml, the run's ledger) are scanned by the canary too; nothing else.
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
            shown_lines = [shown(state, line) for line in lines]
            sys.stderr.write("\n".join(["", "!" * 30 + " secret canary " + "!" * 30, *shown_lines, ""]) + "\n")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        state = self.state
        if not state.controller or config.getoption("collectonly", False):
            return
        terminalreporter.section("Qoder work API conformance")
        if state.vetted is not None:
            verdict_rows, cases = state.vetted.verdicts, state.vetted.cases
        else:  # no reports were written: judge the records here, the same way
            cases = [results.CaseRecord(**case) for case in state.cases.values()]
            verdict_rows = results.requirement_verdicts(cases, strict=state.settings.strict)
        reports = [path for path in state.report_paths if os.path.exists(path)]
        lines = terminal.footer(
            verdict_rows,
            cases,
            cleanup_failed=state.cleanup.get("failed") or [],
            notes=[f"preflight note: {note}" for note in state.preflight.get("notes", [])] + state.notes,
            reports=reports,
            reports_dir=str(state.settings.reports_dir),
            verbose=state.verbosity,
        )
        for line in lines:
            terminalreporter.write_line(shown(state, line))
