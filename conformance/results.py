"""The run's results as plain data: what reports, the certificate and the exit status are computed from.

Case verdicts: pass, fail (a MUST, or a SHOULD under --qoder-strict, was violated), warn (a SHOULD was not met),
recorded (UNSPECIFIED: behaviour noted, nothing asserted), not_verified (an input was not configured), error
(harness or provisioning broke). Both case and requirement verdicts are decided in conformance/judge.py: a
requirement's verdict comes only from the checks recorded under it (see there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

PASS, FAIL, WARN, RECORDED, NOT_VERIFIED, ERROR = "pass", "fail", "warn", "recorded", "not_verified", "error"
# Worst first (the order counts and tables list verdicts in).
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
    cases: list[str]  # every case that verifies it
    summary: str
    cause: str = ""  # one line: its first own mismatch (fail, warn), or the error / not-verified reason
    consequence_of: str | None = None  # the ID of the failed requirement this failure probably follows from
    flagged_cases: list[str] = field(default_factory=list)  # the cases behind `verdict` (own mismatch, error, skip)
    endpoint: str = ""  # the endpoint its ID names (catalogue.Requirement.endpoint): reports group by it


def requirement_verdicts(cases: list[CaseRecord], *, strict: bool = False) -> list[RequirementVerdict]:
    """Every catalogue requirement with its verdict, in catalogue order (decided by conformance/judge.py)."""
    from conformance import judge  # judge builds these records, so it imports this module

    return judge.requirement_verdicts(cases, strict=strict)


def counts(items: list[Any]) -> dict[str, int]:
    """Verdict counts of cases or requirement verdicts, every verdict present (0 where none)."""
    tally = dict.fromkeys(SEVERITY, 0)
    for item in items:
        tally[item.verdict] += 1
    return tally


def by_endpoint(verdicts: Iterable[RequirementVerdict]) -> dict[str, list[RequirementVerdict]]:
    """Requirement verdicts grouped by endpoint, endpoints in catalogue.ENDPOINTS order (the order reports use),
    each group in the order given; an endpoint without a verdict has no group."""
    from conformance.catalogue import ENDPOINTS

    order = {endpoint: index for index, endpoint in enumerate(ENDPOINTS.values())}
    groups: dict[str, list[RequirementVerdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.endpoint, []).append(verdict)
    return {name: groups[name] for name in sorted(groups, key=lambda name: order.get(name, len(order)))}


def counts_by_endpoint(verdicts: Iterable[RequirementVerdict]) -> dict[str, dict[str, int]]:
    """Requirement verdict counts per endpoint (results.counts of each by_endpoint group)."""
    return {endpoint: counts(group) for endpoint, group in by_endpoint(verdicts).items()}


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
    embedded: bool = False  # the target was the bundled emulator this run started, not a server under test
    interrupted: bool = False  # the run was cut short (Ctrl-C, -x / --maxfail): not every case ran
    stop_reason: str = ""  # why the run stopped before its cases (failed preflight, embedded emulator failure)

    def requirement_verdicts(self) -> list[RequirementVerdict]:
        return requirement_verdicts(self.cases, strict=self.strict)
