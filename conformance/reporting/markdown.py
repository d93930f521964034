"""summary.md: a short result page for a CI job summary (e.g. `$GITHUB_STEP_SUMMARY`); report.html has the rest.

It is read at a glance, and a job summary has a size limit (GitHub's: 1 MiB per step), so the page holds only the
verdict, the target, the counts (also per endpoint), one table row per failed, errored or warned requirement with its
one-line cause (grouped by endpoint; likely causes first, "probably a consequence of X" for the rest), and why a run
stopped early. No exchange is
ever printed here, every cell is bounded, and the whole page is cut at MAX_BYTES with "and N more".
"""

from __future__ import annotations

import json
import re

from conformance import judge, results
from conformance.reporting.cases import VERDICT_LABELS, Vetted, result_word
from conformance.results import RequirementVerdict

MAX_BYTES = 64 * 1024
MAX_CELL = 300  # characters of one table cell: a cause quotes what the target sent
MAX_LISTED = 20  # lines of a list section (not-verified reasons, cleanup, record problems, a stop reason)
TABLES = (
    (results.FAIL, "Failed requirements"),
    (results.ERROR, "Errored requirements (could not be verified: never a verdict on the target)"),
    (results.WARN, "Warnings (SHOULD not met; `--qoder-strict` makes them failures)"),
)
PREFLIGHT_FAILED, EMBEDDED_FAILED, INTERRUPTED = 4, 3, 2  # the exit statuses a run stops early with


def escape(text: str) -> str:
    """Make text inert in Markdown (and in the HTML that job summaries allow): one line, no markup."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", text)


def cell(text: str) -> str:
    text = " ".join(str(text).split())
    return escape(text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…")


def render(vetted: Vetted) -> str:
    run = vetted.run
    head = [
        f"## Qoder work API conformance: {headline(vetted)} (exit status {run.exit_status})",
        "",
        f"Target {cell(run.target)} ({cell(run.provisioner)}){' · bundled emulator' if run.embedded else ''} · "
        f"suite {cell(run.suite_version)} · spec {cell(run.spec_digest[:12])} · "
        f"strict: {'yes' if run.strict else 'no'} · {cell(run.started_at)} – {cell(run.finished_at)}",
    ]
    body = _stopped_early(vetted) + _counts(vetted)
    for verdict, title in TABLES:
        groups = results.by_endpoint(v for v in vetted.verdicts if v.verdict == verdict and v.cases)
        if groups:
            body += ["", f"### {title}"]
        for endpoint, chosen in groups.items():
            if len(groups) > 1:  # one endpoint: no sub-heading, the table reads as before
                body += ["", f"#### {cell(endpoint)}"]
            body += ["", "| requirement | level | cases | cause |", "|---|---|---:|---|"]
            body += [_row(requirement) for requirement in judge.by_likely_cause(chosen)]
    reasons = sorted({case.message for case in vetted.cases if case.verdict == results.NOT_VERIFIED})
    unexercised = [v.id for v in vetted.verdicts if not v.cases]
    if reasons or unexercised:
        body += ["", "### Not verified", ""]
        body += _listed([f"- {cell(reason)}" for reason in reasons])
        if unexercised:
            body.append(f"- no case ran for: {cell(', '.join(unexercised))}")
    failed_cleanup = run.cleanup.get("failed") if isinstance(run.cleanup, dict) else None
    if failed_cleanup:
        body += ["", "### Cleanup: items left live", ""]
        body += _listed([f"- {cell(json.dumps(item, default=str))}" for item in failed_cleanup])
    if vetted.problems:
        body += ["", "### Unusable case records", ""]
        body += _listed([f"- {cell(problem)}" for problem in vetted.problems])
    tail = [
        "",
        "Evidence for every case: [report.html](report.html); certificate: [summary.json](summary.json) "
        "(check with `qoder-conformance verify summary.json`); repro scripts: `repro/`.",
        "",
    ]
    return fit(head, body, tail, MAX_BYTES)


def headline(vetted: Vetted) -> str:
    """The verdict word, and why a run that stopped early has none."""
    run = vetted.run
    if run.exit_status == PREFLIGHT_FAILED and run.preflight and not run.preflight.get("ok", True):
        return "NOT TESTED (preflight failed)"
    if run.exit_status == EMBEDDED_FAILED:
        return "NOT TESTED (the embedded emulator failed)"
    if run.exit_status == INTERRUPTED or run.interrupted:
        return f"INTERRUPTED ({result_word(run)} so far)"
    return result_word(run)


def _stopped_early(vetted: Vetted) -> list[str]:
    run = vetted.run
    reason = run.stop_reason.strip()
    if run.exit_status == PREFLIGHT_FAILED and run.preflight and not run.preflight.get("ok", True):
        problems = run.preflight.get("problems") or []
        lines = [f"- {cell(problem)}" for problem in problems] or [f"- {cell(line)}" for line in reason.splitlines()]
        return [
            "",
            "**Preflight failed**: the target cannot be tested as configured; no case ran.",
            "",
            *_listed(lines),
        ]
    if run.exit_status == EMBEDDED_FAILED:
        lines = [f"- {cell(line)}" for line in reason.splitlines() if line.strip()] or ["- (no message)"]
        return ["", "**The embedded emulator failed**: no case ran against it.", "", *_listed(lines)]
    if run.exit_status == INTERRUPTED or run.interrupted:
        ran = len(vetted.cases)
        return [
            "",
            f"**Interrupted**: the run was stopped before every case ran ({ran} case record(s)); the verdicts "
            "below cover only what ran, and `verify` will not certify it.",
        ]
    return []


def _counts(vetted: Vetted) -> list[str]:
    lines = [
        "",
        "| | " + " | ".join(VERDICT_LABELS[v] for v in results.SEVERITY) + " |",
        "|---|" + "---:|" * len(results.SEVERITY),
    ]
    for label, tally in (
        ("requirements", results.counts(vetted.verdicts)),
        ("cases", results.counts(vetted.cases)),
    ):
        lines.append(f"| {label} | " + " | ".join(str(tally[v]) for v in results.SEVERITY) + " |")
    by_endpoint = results.counts_by_endpoint(vetted.verdicts)
    if len(by_endpoint) > 1:
        lines += [
            "",
            "| requirements by endpoint | " + " | ".join(VERDICT_LABELS[v] for v in results.SEVERITY) + " |",
            "|---|" + "---:|" * len(results.SEVERITY),
        ]
        for endpoint, tally in by_endpoint.items():
            lines.append(f"| {cell(endpoint)} | " + " | ".join(str(tally[v]) for v in results.SEVERITY) + " |")
    return lines


def _row(requirement: RequirementVerdict) -> str:
    cause = requirement.cause.removeprefix(f"[{requirement.id} {requirement.level}] ")
    if requirement.consequence_of:
        cause = f"probably a consequence of {requirement.consequence_of}: {cause}"
        name = f"↳ {cell(requirement.id)}"
    else:
        name = f"**{cell(requirement.id)}**"
    return f"| {name} | {requirement.level} | {len(requirement.flagged_cases)} | {cell(cause)} |"


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"- … and {len(lines) - MAX_LISTED} more in report.html"]


def fit(head: list[str], body: list[str], tail: list[str], limit: int) -> str:
    """head + as much of body as fits + tail, within `limit` UTF-8 bytes; a cut body ends with "and N more"."""
    reserve = _size(head) + _size(tail) + 200  # the "and N more" line
    kept: list[str] = []
    used = 0
    for index, line in enumerate(body):
        cost = len(line.encode("utf-8")) + 1
        if reserve + used + cost > limit:
            left = len(body) - index
            kept += ["", f"… and {left} more line(s): this page is capped at {limit // 1024} KB; see report.html"]
            break
        kept.append(line)
        used += cost
    text = "\n".join(head + kept + tail)
    return text if len(text.encode("utf-8")) <= limit else text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _size(lines: list[str]) -> int:
    return len(("\n".join(lines) + "\n").encode("utf-8"))
