"""What the run prints: the footer (one line per requirement that is not pass) and the short form of a failure.

A vendor reads the terminal first, so it must say at a glance which rules broke and where the evidence is, and
stay short when one broken rule fails dozens of cases: at default verbosity a failed case shows its mismatch lines
only and the footer one line per failed, errored or warned requirement; `-v` adds the cases behind each line and
the exchanges; the reports carry everything. Lines are written whole (never cut at the terminal width) but
bounded in length, since they quote what the target sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance import judge, results

MAX_LINE = 400  # characters of one footer line: whole sentences, but a target's 1 MB body is not printed
MAX_CAUSE = 300  # characters of the cause in a requirement's line (its case count and repro path always follow)
MAX_BRIEF_LINES = 12  # mismatch lines of one failed case at default verbosity
MAX_LISTED = 10  # not-verified reasons, errored cases, cleanup items
# Verdicts the footer explains, in the order it lists them, with the word it starts their lines with.
EXPLAINED = ((results.FAIL, "FAIL"), (results.ERROR, "ERROR"), (results.WARN, "warn"))


def clip(text: str, limit: int = MAX_LINE) -> str:
    """One line of at most `limit` characters, its indentation kept."""
    text = str(text)
    indent = text[: len(text) - len(text.lstrip(" "))]
    text = indent + " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def brief_failure(mismatch_lines: str) -> str:
    """A failed case's terminal text below -v: its mismatch lines (bounded), and where the rest is."""
    lines = [line for line in mismatch_lines.splitlines() if line.strip()]
    shown = [clip(judge.one_line(line) if line.startswith("[") else line) for line in lines[:MAX_BRIEF_LINES]]
    if len(lines) > MAX_BRIEF_LINES:
        shown.append(f"… and {len(lines) - MAX_BRIEF_LINES} more mismatch lines")
    shown.append("(exchanges and the quoted docs: -v, junit.xml or report.html)")
    return "\n".join(shown)


def requirement_line(verdict: results.RequirementVerdict, word: str, repro: str | None) -> str:
    """`FAIL STOP-X (MUST): <its cause> · 3 cases · repro reports/repro/x.sh`, the count and path never cut."""
    parts = [f"{word} {verdict.id} ({verdict.level})"]
    if verdict.consequence_of:
        parts[0] += f", probably a consequence of {verdict.consequence_of}"
    count = len(verdict.flagged_cases)
    tail = f" · {count} case{'s' if count != 1 else ''}" + (f" · repro {repro}" if repro else "")
    cause = verdict.cause.removeprefix(f"[{verdict.id} {verdict.level}] ")  # the line already starts with both
    cause = clip(cause or "(no detail)", MAX_CAUSE)
    return f"{parts[0]}: {cause}{tail}"


ENDPOINT_WORDS = (
    (results.PASS, "pass"),
    (results.FAIL, "FAIL"),
    (results.WARN, "warn"),
    (results.RECORDED, "recorded"),
    (results.NOT_VERIFIED, "not verified"),
    (results.ERROR, "error"),
)


def endpoint_tally(endpoint: str, tally: dict[str, int]) -> str:
    """`stop 30 pass, 1 FAIL`: an endpoint's non-zero requirement counts, in the first line's order."""
    shown = [f"{tally[verdict]} {word}" for verdict, word in ENDPOINT_WORDS if tally.get(verdict)]
    return f"{endpoint} {', '.join(shown) or 'nothing'}"


def footer(
    verdicts: Sequence[results.RequirementVerdict],
    cases: Sequence[results.CaseRecord],
    *,
    cleanup_failed: Sequence[Any] = (),
    notes: Sequence[str] = (),
    reports: Sequence[str] = (),
    reports_dir: str = "reports",
    verbose: int = 0,
) -> list[str]:
    exercised = [v for v in verdicts if v.cases]
    tally = results.counts(exercised)
    lines = [
        f"requirements exercised: {len(exercised)}  pass {tally['pass']}  FAIL {tally['fail']}  warn {tally['warn']}  "
        f"recorded {tally['recorded']}  not verified {tally['not_verified']}  error {tally['error']}"
    ]
    by_endpoint = results.counts_by_endpoint(exercised)
    if len(by_endpoint) > 1:
        lines.append("by endpoint: " + "; ".join(endpoint_tally(name, found) for name, found in by_endpoint.items()))
    repro_of = {case.nodeid: case.repro for case in cases if case.repro}
    for verdict_name, word in EXPLAINED:
        chosen = judge.by_likely_cause(v for v in exercised if v.verdict == verdict_name)
        if verdict_name == results.WARN and chosen:
            lines.append("SHOULD not met (--qoder-strict makes these failures):")
        for verdict in chosen:
            repro = next((repro_of[n] for n in verdict.flagged_cases if n in repro_of), None)
            lines.append(requirement_line(verdict, word, f"{reports_dir}/{repro}" if repro else None))
            if verbose >= 1:
                lines += [f"    {nodeid}" for nodeid in verdict.flagged_cases]
    errored = [case for case in cases if case.verdict == results.ERROR]
    if errored:
        lines.append(f"errored cases ({len(errored)}; an error is never a verdict on the target):")
        lines += _bounded([clip(f"  {case.nodeid}: {judge.one_line(case.message)}") for case in errored], verbose)
    reasons = sorted({case.message for case in cases if case.verdict == results.NOT_VERIFIED})
    if reasons:
        lines.append("not verified:")
        lines += _bounded([clip(f"  {reason.removeprefix('not verified: ')}") for reason in reasons], verbose)
    if cleanup_failed:
        lines.append(f"cleanup: {len(cleanup_failed)} item(s) may still be live:")
        lines += _bounded([clip(f"  {item}") for item in cleanup_failed], verbose)
    lines += [clip(note) for note in notes]
    if reports:
        lines.append("reports: " + ", ".join(reports))
        if tally["fail"] or tally["warn"] or tally["error"]:
            lines.append(
                f"full evidence (every case's exchanges and the quoted docs): {reports_dir}/report.html; "
                "-v prints the cases behind each line and the exchanges here"
            )
    return lines


def _bounded(lines: list[str], verbose: int) -> list[str]:
    if verbose >= 1 or len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"  … and {len(lines) - MAX_LISTED} more (-v lists them all)"]


def fold_case_sections(config: Any, verbose: int) -> None:
    """Below -v, leave out pytest's per-case failure and error sections (one broken rule fails dozens of cases):
    the footer says the same per requirement, and `FAILED`/`ERROR` lines still name every case. Called at session
    end, after every report (and junit.xml) got its complete text; an explicit --tb is the user's choice.

    The `FAILED` lines stay one line each: on CI (the CI variable set) pytest would otherwise append a failure's
    whole text to its line, dozens of mismatch lines again (pytest 8.4+ `--force-short-summary`; older pytest
    cuts at the terminal width anyway)."""
    if verbose < 1 and getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "no"
        if hasattr(config.option, "force_short_summary"):
            config.option.force_short_summary = True


def was_interrupted(session: Any) -> bool:
    """Not every selected case ran: Ctrl-C (exit status 2), -x / --maxfail, or a plugin asked the run to stop."""
    stopped_early = getattr(session, "shouldfail", False) or getattr(session, "shouldstop", False)
    return int(session.exitstatus) == 2 or bool(stopped_early)
