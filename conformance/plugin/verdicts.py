"""A case's verdict from pytest's phase reports (the verdict itself is judge.case_verdict's), and what the reports
of a case carry: the failure as its mismatch lines (never a traceback of our own hook), redacted text, the case
record and its JUnit properties.

Only a Checker mismatch of a case is a FAIL; a HarnessError in any phase, or any other exception (a bare `assert`
included: it names no requirement), is an *error*, shown and counted as an error by pytest and JUnit.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from conformance import catalogue, checks, evidence, judge, results
from conformance.errors import HarnessError
from conformance.plugin._keys import CASE_KEY
from conformance.plugin.requirements import requirement_ids, strongest_level
from conformance.plugin.state import CaseState, RunState, shown

HARNESS_PREFIX = "harness error (not a conformance verdict)"


class ConformanceFailure(AssertionError):
    """A case's MUST (or, under --qoder-strict, SHOULD) expectations did not hold: the one way to a FAIL verdict."""


def new_checker(state: RunState | None, ids: list[str]) -> checks.Checker:
    if state is None or state.redactor is None:
        return checks.Checker(frozenset(ids))
    return checks.Checker(frozenset(ids), redact=state.redactor.text)


def case_of(item: pytest.Item, state: RunState | None) -> CaseState:
    """The case's state, made on first use (a fixture may need it before pytest_runtest_setup ran)."""
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        ids = requirement_ids(item)
        case = CaseState(item.nodeid, ids, new_checker(state, ids))
        item.stash[CASE_KEY] = case
    return case


def raise_on_failures(case: CaseState, *, strict: bool) -> None:
    """After the case's body: its failed checks become the one exception that means FAIL."""
    failing = case.checker.failures(strict=strict)
    if failing:
        raise ConformanceFailure("\n".join(mismatch.line() for mismatch in failing))


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


def classify(call: pytest.CallInfo[None], report: pytest.TestReport, case: CaseState, *, strict: bool) -> None:
    """Update the case's verdict from one phase's report, and give pytest and JUnit the failure as text: the
    mismatch lines, not a traceback of our own hook."""
    if report.skipped:
        reason = skip_reason(report)
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


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def sanitize(report: pytest.TestReport, case: CaseState, state: RunState) -> None:
    """Whatever path a token or a control byte took into a report (an exception message, pytest's `-l` locals,
    captured output), it leaves here redacted and escaped: the terminal and JUnit show only this text."""
    if state.redactor is not None:
        case.message = state.redactor.text(case.message)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], shown(state, str(longrepr[2])))
    elif longrepr is not None:
        report.longrepr = shown(state, report.longreprtext)
    report.sections = [(title, shown(state, content)) for title, content in report.sections]


def finish(report: pytest.TestReport, case: CaseState) -> None:
    """The teardown report carries the case's verdict: as JUnit properties, and as the plain-data record the
    controller collects (it crosses from an xdist worker with the report)."""
    verdict = case.verdict or results.ERROR
    properties = [("requirement", rid) for rid in case.requirements]
    properties += [("level", strongest_level(case.requirements)), ("verdict", verdict)]
    report.user_properties.extend(properties)
    report.qoder_case = case_record(case, verdict).to_dict()  # type: ignore[attr-defined]


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
