"""`qoder-conformance verify`: is this summary.json a certificate of conformance for the installed suite and spec?

Certified means: the file is what a run wrote (digest), by this suite version, against this spec text, against a
server under test (not the bundled emulator the suite starts itself), in a run that was not interrupted, and every
MUST requirement of the catalogue passed with no error anywhere and exit status 0. Anything else is listed, one
line per problem, so a reader sees every reason at once rather than the first; one broken rule is one line (its
consequences say so on theirs), and errored cases are one line however many there are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import conformance
from conformance import catalogue, results
from conformance.reporting.manifest import IN_PROGRESS
from conformance.reporting.summary import FORMAT, digest

EMBEDDED_TARGET = "embedded emulator"  # the target name of a run whose summary predates target.embedded
INTERRUPTED_EXIT_STATUS = 2


class SummaryUnreadable(Exception):
    """The file is missing, unreadable or not a JSON object: nothing to verify (exit status 2)."""


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SummaryUnreadable(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SummaryUnreadable(f"{path}: cannot be read ({error})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SummaryUnreadable(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise SummaryUnreadable(f"{path}: not a summary (a JSON {type(document).__name__}, not an object)")
    return document


def _get(document: dict[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def problems(document: dict[str, Any]) -> list[str]:
    if document.get("status") == IN_PROGRESS:
        # Written at the start of a run and replaced at its end: the run is still going, or was killed.
        return [
            f"the run {str(document.get('run_id'))[:64]!r} that wrote this summary did not finish (still running, "
            "or killed): an in-progress summary certifies nothing"
        ]
    found: list[str] = []
    if document.get("format") != FORMAT:
        found.append(f"format is {document.get('format')!r}, expected {FORMAT!r}")
    if document.get("digest") != digest(document):
        found.append("digest does not match the content: the file was edited after the run")
    version = _get(document, "suite", "version")
    if version != conformance.__version__:
        found.append(f"suite version {version!r} is not the installed suite version {conformance.__version__!r}")
    spec = _get(document, "spec", "digest")
    if spec != catalogue.spec_digest():
        found.append(f"spec digest {spec!r} is not the installed spec text's digest {catalogue.spec_digest()!r}")
    if _get(document, "target", "embedded") is True or _get(document, "target", "base_url") == EMBEDDED_TARGET:
        found.append(
            "the run was against the bundled emulator the suite starts itself, not a server under test: "
            "it proves the suite, not a server"
        )
    if document.get("interrupted") is True or document.get("exit_status") == INTERRUPTED_EXIT_STATUS:
        found.append("the run was interrupted before every case ran: its verdicts cover only part of the suite")
    judged = _requirement_problems(document) + _error_problems(document)
    found.extend(judged)
    for problem in document.get("record_problems") or []:
        found.append(f"record problem: {problem}")
    status = document.get("exit_status")
    if status != 0 and (not judged or status not in (0, 1)):
        found.append(f"exit status is {status!r}, expected 0")
    return found


def _error_problems(document: dict[str, Any]) -> list[str]:
    """Errored cases as one line: which requirements they leave unverified, and the first error."""
    errored = [case for case in _records(document, "cases") if case.get("verdict") == results.ERROR]
    if not errored:
        return []
    first = str(errored[0].get("message") or "no message").splitlines()[0][:300]
    return [f"{len(errored)} case(s) errored (not a verdict on the target), first {errored[0].get('nodeid')}: {first}"]


def _records(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _requirement_problems(document: dict[str, Any]) -> list[str]:
    """One line per MUST requirement that failed (with its cause) or is missing, and one line for every
    requirement (any level) its errored cases left unverified."""
    if not isinstance(document.get("requirements"), list):
        return ["no requirements list"]
    reported = {entry.get("id"): entry for entry in _records(document, "requirements")}
    found, errored = [], []
    for rid, requirement in catalogue.requirements().items():
        entry = reported.get(rid)
        verdict = entry.get("verdict") if entry is not None else None
        if verdict == results.ERROR:
            errored.append(rid)
        if requirement.level != "MUST":
            continue
        if entry is None:
            found.append(f"MUST requirement {rid} is missing")
        elif verdict == results.ERROR:
            continue
        elif verdict == results.FAIL:
            cause = str(entry.get("cause") or "").removeprefix(f"[{rid} MUST] ")[:300]
            after = f", probably a consequence of {entry['consequence_of']}" if entry.get("consequence_of") else ""
            found.append(f"MUST requirement {rid} failed{after}: {cause or 'no cause recorded'}")
        elif verdict != results.PASS:
            found.append(f"MUST requirement {rid} is {verdict!r}, not 'pass'")
    if errored:
        found.append(f"requirement(s) not verified because their cases errored: {', '.join(errored)}")
    return found


def conclusion(document: dict[str, Any], found: list[str]) -> str:
    target = _get(document, "target", "base_url") or "the target"
    if found:
        return f"NOT CERTIFIED: {len(found)} problem(s) in the summary of {target}"
    musts = sum(1 for r in catalogue.requirements().values() if r.level == "MUST")
    return (
        f"CERTIFIED: {target} passed all {musts} MUST requirements with no error "
        f"(suite {conformance.__version__}, spec {catalogue.spec_digest()[:12]})"
    )
