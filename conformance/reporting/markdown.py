"""summary.md: a short result page for a CI job summary (e.g. `$GITHUB_STEP_SUMMARY`); report.html has the rest."""

from __future__ import annotations

import json
import re

from conformance import results
from conformance.reporting.cases import VERDICT_LABELS, Vetted, requirement_story, result_word

SECTIONS = (
    (results.FAIL, "Failed requirements"),
    (results.ERROR, "Errored requirements"),
    (results.WARN, "Warnings (SHOULD not met)"),
    (results.NOT_VERIFIED, "Not verified"),
)
LINES_PER_REQUIREMENT = 3


def escape(text: str) -> str:
    """Make text inert in Markdown (and in the HTML that job summaries allow): one line, no markup."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", text)


def render(vetted: Vetted) -> str:
    run = vetted.run
    lines = [
        f"## Qoder Stop conformance: {result_word(run)} (exit status {run.exit_status})",
        "",
        f"Target {escape(run.target)} ({escape(run.provisioner)}) · suite {escape(run.suite_version)} · "
        f"spec {escape(run.spec_digest[:12])} · strict: {'yes' if run.strict else 'no'} · "
        f"{escape(run.started_at)} – {escape(run.finished_at)}",
        "",
        "| | " + " | ".join(VERDICT_LABELS[v] for v in results.SEVERITY) + " |",
        "|---|" + "---:|" * len(results.SEVERITY),
    ]
    for label, tally in (
        ("requirements", results.counts(vetted.verdicts)),
        ("cases", results.counts(vetted.cases)),
    ):
        lines.append(f"| {label} | " + " | ".join(str(tally[v]) for v in results.SEVERITY) + " |")
    for verdict, title in SECTIONS:
        chosen = [v for v in vetted.verdicts if v.verdict == verdict]
        if not chosen:
            continue
        lines += ["", f"### {title}", ""]
        for requirement in chosen:
            story = requirement_story(vetted, requirement)
            lines.append(f"- **{escape(requirement.id)}** ({requirement.level}): {escape(requirement.summary)}")
            lines += [f"  - {escape(line)}" for line in story[:LINES_PER_REQUIREMENT]]
            if len(story) > LINES_PER_REQUIREMENT:
                lines.append(f"  - … {len(story) - LINES_PER_REQUIREMENT} more in report.html")
    failed_cleanup = run.cleanup.get("failed") if isinstance(run.cleanup, dict) else None
    if failed_cleanup:
        lines += ["", "### Cleanup: items left live", ""]
        lines += [f"- {escape(json.dumps(item, default=str))}" for item in failed_cleanup]
    if vetted.problems:
        lines += ["", "### Unusable case records", ""]
        lines += [f"- {escape(problem)}" for problem in vetted.problems]
    lines += [
        "",
        "Evidence for every case: [report.html](report.html); certificate: [summary.json](summary.json) "
        "(check with `qoder-conformance verify summary.json`); repro scripts: `repro/`.",
        "",
    ]
    return "\n".join(lines)
