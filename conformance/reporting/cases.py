"""What every report needs from a run: the usable case records, the problems with the others, and the case's story.

A report is most needed when something broke, so one malformed case record must not cost the whole report: it is
set aside with a one-line reason that every artifact shows, and the rest is reported as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance import catalogue, results
from conformance.checks import mismatch_line
from conformance.results import CaseRecord, RequirementVerdict, RunRecord

NEEDS_REPRO = (results.FAIL, results.WARN)
VERDICT_LABELS = {
    results.PASS: "pass",
    results.FAIL: "FAIL",
    results.WARN: "warn",
    results.RECORDED: "recorded",
    results.NOT_VERIFIED: "not verified",
    results.ERROR: "error",
}


@dataclass
class Vetted:
    """The run's case records split into those a report can use and one-line reasons for the others."""

    run: RunRecord
    cases: list[CaseRecord]
    problems: list[str] = field(default_factory=list)
    verdicts: list[RequirementVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # reporting problems that are not the target's fault

    def cases_of(self, requirement_id: str) -> list[CaseRecord]:
        return [case for case in self.cases if requirement_id in case.requirements]


def vet(run: RunRecord) -> Vetted:
    usable, problems = [], []
    for index, case in enumerate(run.cases):
        reason = _record_problem(case)
        if reason:
            name = getattr(case, "nodeid", None) or f"case record #{index}"
            problems.append(f"{name}: unusable case record ({reason})")
        else:
            usable.append(case)
    return Vetted(run, usable, problems, results.requirement_verdicts(usable, strict=run.strict))


def _record_problem(case: Any) -> str:
    if not isinstance(case, CaseRecord):
        return f"a {type(case).__name__}, not a CaseRecord"
    if not isinstance(case.nodeid, str) or not case.nodeid:
        return "no node ID"
    if case.verdict not in results.SEVERITY:
        return f"unknown verdict {case.verdict!r}"
    if not isinstance(case.requirements, list) or not case.requirements:
        return "no requirement IDs"
    unknown = [rid for rid in case.requirements if rid not in catalogue.requirements()]
    if unknown:
        return f"unknown requirement IDs {unknown}"
    for name in ("mismatches", "observations", "exchanges"):
        entries = getattr(case, name)
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            return f"{name} is not a list of records"
    return ""


def mismatch_lines(case: CaseRecord, requirement_id: str | None = None) -> list[str]:
    return [
        mismatch_line(mismatch)
        for mismatch in case.mismatches
        if requirement_id is None or mismatch.get("requirement") == requirement_id
    ]


def requirement_story(vetted: Vetted, verdict: RequirementVerdict) -> list[str]:
    """Why a requirement is not `pass`: its mismatch lines, else its cases' messages (skip or error reasons)."""
    lines: list[str] = []
    for case in vetted.cases_of(verdict.id):
        lines.extend(mismatch_lines(case, verdict.id))
    if not lines:
        lines = [
            f"{case.nodeid}: {case.message}"
            for case in vetted.cases_of(verdict.id)
            if case.message and case.verdict == verdict.verdict
        ]
    if not lines and not verdict.cases:
        lines = ["no case verifies this requirement in this run"]
    return list(dict.fromkeys(lines))


def safe_name(nodeid: str, taken: set[str]) -> str:
    """A file name for a case: readable, shell- and URL-safe, unique within `taken` (which it extends)."""
    module, _, rest = nodeid.partition("::")  # the directory is noise; a parameter ID may itself hold a "/"
    name = f"{module.rsplit('/', 1)[-1].removesuffix('.py')}__{rest}" if rest else module
    name = name.replace("::", "__")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:150] or "case"
    candidate, number = name, 2
    while candidate.lower() in taken:
        candidate, number = f"{name}-{number}", number + 1
    taken.add(candidate.lower())
    return candidate


def result_word(run: RunRecord) -> str:
    return "PASS" if run.exit_status == 0 else "FAIL"
