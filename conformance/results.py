"""The run's results as plain data: what reports, the certificate and the exit status are computed from.

Case verdicts: pass, fail (a MUST, or a SHOULD under --strict, was violated), warn (a SHOULD was not met),
recorded (UNSPECIFIED: behaviour noted, nothing asserted), not_verified (an input was not configured), error
(harness or provisioning broke). A requirement's verdict is the worst verdict of its cases, in the order below.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from conformance import catalogue

PASS, FAIL, WARN, RECORDED, NOT_VERIFIED, ERROR = "pass", "fail", "warn", "recorded", "not_verified", "error"
# Worst first: a requirement with one errored case is "error", whatever its other cases said.
SEVERITY = (ERROR, FAIL, WARN, NOT_VERIFIED, RECORDED, PASS)


@dataclass
class CaseRecord:
    nodeid: str
    requirements: list[str]
    verdict: str
    message: str = ""  # failure, warning, skip or error text; "" on pass
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # checks.Mismatch as dicts
    observations: list[dict[str, Any]] = field(default_factory=list)  # checks.Observation as dicts
    exchanges: list[dict[str, Any]] = field(default_factory=list)  # evidence.Exchange.to_dict()
    duration_s: float = 0.0
    repro: str | None = None  # path of the repro script, relative to the reports dir

    def to_dict(self) -> dict[str, Any]:
        """Shallow: its lists already hold plain data (see evidence.Exchange.to_dict for why not asdict)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class RequirementVerdict:
    id: str
    level: str
    verdict: str
    cases: list[str]
    summary: str


def requirement_verdicts(cases: list[CaseRecord]) -> list[RequirementVerdict]:
    """Every catalogue requirement with its verdict, in catalogue order; one with no case is not_verified."""
    by_requirement: dict[str, list[CaseRecord]] = {rid: [] for rid in catalogue.requirements()}
    for case in cases:
        for rid in case.requirements:
            by_requirement.setdefault(rid, []).append(case)
    verdicts = []
    for rid, its_cases in by_requirement.items():
        requirement = catalogue.get(rid)
        found = {case.verdict for case in its_cases}
        verdict = next((v for v in SEVERITY if v in found), NOT_VERIFIED)
        if requirement.level == "UNSPECIFIED" and verdict == PASS:
            verdict = RECORDED
        verdicts.append(
            RequirementVerdict(rid, requirement.level, verdict, [c.nodeid for c in its_cases], requirement.summary)
        )
    return verdicts


def counts(items: list[Any]) -> dict[str, int]:
    """Verdict counts of cases or requirement verdicts, every verdict present (0 where none)."""
    tally = dict.fromkeys(SEVERITY, 0)
    for item in items:
        tally[item.verdict] += 1
    return tally


@dataclass
class RunRecord:
    suite_version: str
    spec_digest: str
    target: str  # base URL
    provisioner: str
    config: dict[str, Any]  # redacted: secrets appear only as "<set>" / "<not set>"
    started_at: str  # RFC 3339 UTC
    finished_at: str
    strict: bool
    cases: list[CaseRecord]
    exit_status: int
    preflight: dict[str, Any] = field(default_factory=dict)  # e.g. {"clock_skew_s": 0.2, "checks": [...]}
    cleanup: dict[str, Any] = field(default_factory=dict)  # {"stopped": [...], "already_stopped": n, "failed": [...]}

    def requirement_verdicts(self) -> list[RequirementVerdict]:
        return requirement_verdicts(self.cases)
