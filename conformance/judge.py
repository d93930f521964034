"""The one place verdicts are decided: a case's verdict from how it ended and what its checks found, and each
requirement's verdict from the checks recorded under that requirement alone.

Every renderer (JUnit properties, the terminal footer, summary.json, summary.md, report.html, verify) reads the
records made here and never re-derives a verdict. The rules:

- A case: error (it broke: harness or its own code) > not verified (an input was not configured) > FAIL (a MUST
  mismatch, or a SHOULD one under strict) > warn (a SHOULD mismatch) > recorded (it verifies only UNSPECIFIED
  requirements) > pass.
- A requirement: FAIL only when one of its *own* checks failed in some case (a case verifying five requirements
  that fails one of them fails only that one); warn for its own SHOULD mismatches. Otherwise, when one of its cases
  errored it is `error` (it could not be verified; never FAIL), else `not_verified` when one of its cases was
  skipped or none ran, else pass. An own FAIL outranks an error elsewhere: the mismatch was seen, whatever broke
  later. An UNSPECIFIED requirement asserts nothing, so it is `recorded` whenever a case ran for it (errors stay
  visible on the case, and in the run's exit status) and `not_verified` when none did.
- When one fault shows up under several requirements, a failed requirement is "probably a consequence" when in
  every case where it failed a requirement earlier in CAUSE_ORDER failed too (see _mark_consequences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance import catalogue, results
from conformance.checks import mismatch_line

# Where a wrong answer starts, earliest first: how the request body was read decides the transition row taken; the
# row decides the drain protocol, the timestamps and what concurrent stops can explain; those decide what is
# persisted and the fields of the answer; status, media type and schema merely carry the consequence. A prefix
# names a family; the first prefix that matches an ID gives its rank (ties: catalogue order).
CAUSE_ORDER: tuple[str, ...] = (
    "STOP-ERR-UNAUTHENTICATED",
    "STOP-ERR-X-API-KEY",
    "STOP-ERR-EXPIRED-PAT",
    "STOP-ERR-FORBIDDEN",
    "STOP-ERR-NOT-SELF-HOSTED",
    "STOP-ERR-NOT-FOUND",
    "STOP-ERR-INVALID-JSON",
    "STOP-BODY-",
    "STOP-TR-",
    "STOP-DRAIN",
    "STOP-TS-",
    "STOP-CONC-",
    "STOP-RESP-UNCHANGED-FIELDS",
    "STOP-RESP-PERSISTED",
    "STOP-RESP-OK",
    "STOP-RESP-JSON",
    "STOP-RESP-SCHEMA",
    "STOP-ERR-ENVELOPE",
    "STOP-",
)

# How a case ended, as the plugin saw it (pytest phases reduced to what matters for the verdict).
RAN, SKIPPED, ERRORED = "ran", "skipped", "errored"


def failing_levels(strict: bool) -> frozenset[str]:
    """Mismatch levels that fail: MUST always, SHOULD under strict."""
    return frozenset({"MUST", "SHOULD"} if strict else {"MUST"})


def case_verdict(outcome: str, requirements: Iterable[str], mismatches: Iterable[Any], *, strict: bool) -> str:
    """A case's verdict. `mismatches` are checks.Mismatch objects or their dicts (anything with a level)."""
    if outcome == ERRORED:
        return results.ERROR
    if outcome == SKIPPED:
        return results.NOT_VERIFIED
    levels = {_field(mismatch, "level") for mismatch in mismatches}
    if levels & failing_levels(strict):
        return results.FAIL
    if "SHOULD" in levels:
        return results.WARN
    ids = list(requirements)
    if ids and all(_level(rid) == "UNSPECIFIED" for rid in ids):
        return results.RECORDED
    return results.PASS


def requirement_verdicts(cases: list[results.CaseRecord], *, strict: bool) -> list[results.RequirementVerdict]:
    """Every catalogue requirement with its verdict, in catalogue order, with its likely cause marked."""
    by_requirement: dict[str, list[results.CaseRecord]] = {rid: [] for rid in catalogue.requirements()}
    for case in cases:
        for rid in case.requirements:
            by_requirement.setdefault(rid, []).append(case)
    verdicts = [_requirement_verdict(rid, its_cases, strict) for rid, its_cases in by_requirement.items()]
    _mark_consequences(verdicts)
    return verdicts


def _requirement_verdict(rid: str, cases: list[results.CaseRecord], strict: bool) -> results.RequirementVerdict:
    requirement = catalogue.get(rid)
    failing = failing_levels(strict)
    own: dict[str, list[tuple[str, str]]] = {}  # verdict -> (mismatch line, case), in case order
    for case in cases:
        for mismatch in case.mismatches:
            if mismatch.get("requirement") == rid:
                verdict = results.FAIL if mismatch.get("level") in failing else results.WARN
                own.setdefault(verdict, []).append((cause_line(mismatch), case.nodeid))
    found = {case.verdict for case in cases}
    if requirement.level == "UNSPECIFIED":
        ran = any(case.verdict != results.NOT_VERIFIED for case in cases)
        verdict, cause, flagged_cases = (results.RECORDED if ran else results.NOT_VERIFIED), "", []
    elif results.FAIL in own:
        verdict, (cause, flagged_cases) = results.FAIL, _cause_first(own[results.FAIL])
    elif results.ERROR in found:
        errored = [case for case in cases if case.verdict == results.ERROR]
        verdict, cause, flagged_cases = results.ERROR, _message_line(errored[0]), [c.nodeid for c in errored]
    elif results.WARN in own:
        verdict, (cause, flagged_cases) = results.WARN, _cause_first(own[results.WARN])
    elif not cases or results.NOT_VERIFIED in found:
        skipped = [case for case in cases if case.verdict == results.NOT_VERIFIED]
        cause = _message_line(skipped[0]) if skipped else "no case verifies this requirement in this run"
        verdict, flagged_cases = results.NOT_VERIFIED, [c.nodeid for c in skipped]
    else:
        verdict, cause, flagged_cases = results.PASS, "", []
    return results.RequirementVerdict(
        id=rid,
        level=requirement.level,
        verdict=verdict,
        cases=[case.nodeid for case in cases],
        summary=requirement.summary,
        cause=cause,
        consequence_of=None,
        flagged_cases=flagged_cases,
        endpoint=requirement.endpoint,
    )


def cause_rank(rid: str) -> tuple[int, int]:
    """Sort key: earlier = more likely the cause (CAUSE_ORDER family, then catalogue order)."""
    family = next((i for i, prefix in enumerate(CAUSE_ORDER) if rid.startswith(prefix)), len(CAUSE_ORDER))
    order = list(catalogue.requirements())
    return family, order.index(rid) if rid in order else len(order)


def _mark_consequences(verdicts: list[results.RequirementVerdict]) -> None:
    """A failed requirement is probably a consequence when, in every case where it failed, a requirement earlier in
    CAUSE_ORDER failed too. It names the root of the earlier one that shares most of its failing cases (ties: the
    earlier), so a chain (row -> timestamp -> schema) points at the row."""
    failed = sorted((v for v in verdicts if v.verdict == results.FAIL), key=lambda v: cause_rank(v.id))
    cases_of = {v.id: set(v.flagged_cases) for v in failed}
    by_id = {v.id: v for v in failed}
    for index, verdict in enumerate(failed):
        earlier = failed[:index]
        mine = cases_of[verdict.id]
        if not mine or not all(any(case in cases_of[e.id] for e in earlier) for case in mine):
            continue
        likely = max(earlier, key=lambda e: (len(mine & cases_of[e.id]), -earlier.index(e)))
        root = likely
        while root.consequence_of is not None:
            root = by_id[root.consequence_of]
        verdict.consequence_of = root.id


def by_likely_cause(verdicts: Iterable[results.RequirementVerdict]) -> list[results.RequirementVerdict]:
    """Likely causes first (in cause order), each followed by what is probably its consequence."""
    chosen = list(verdicts)
    roots = sorted((v for v in chosen if v.consequence_of is None), key=lambda v: cause_rank(v.id))
    ordered: list[results.RequirementVerdict] = []
    for root in roots:
        ordered.append(root)
        ordered += sorted((v for v in chosen if v.consequence_of == root.id), key=lambda v: cause_rank(v.id))
    ordered += [v for v in chosen if v not in ordered]  # a consequence of something not among `verdicts`
    return ordered


def cause_line(mismatch: Mapping[str, Any]) -> str:
    """A mismatch as one line (`[ID LEVEL] what: expected X, observed Y`; a multi-line observation keeps its first
    line), for the one-line causes of the terminal, summary.md and report.html."""
    return one_line(mismatch_line(mismatch))


def one_line(text: str) -> str:
    """The first non-blank line, with an ellipsis when more followed."""
    lines = [line.rstrip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] + (" …" if len(lines) > 1 else "")


def _cause_first(found: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The cause (the most readable own mismatch line: the shortest, the first of equals; a model case's line
    carries its whole operation sequence, a single-stop case says the same in a few words) and the cases with own
    mismatches, the cause's case first (its repro script is the one to run)."""
    cause, its_case = min(found, key=lambda pair: len(pair[0]))
    return cause, list(dict.fromkeys([its_case, *(nodeid for _, nodeid in found)]))


def _message_line(case: results.CaseRecord) -> str:
    return one_line(f"{case.nodeid}: {case.message}" if case.message else case.nodeid)


def _field(mismatch: Any, name: str) -> Any:
    return mismatch.get(name) if isinstance(mismatch, Mapping) else getattr(mismatch, name, None)


def _level(rid: str) -> str:
    return catalogue.get(rid).level if rid in catalogue.requirements() else ""
