"""`qoder-conformance verify`: is this summary.json a certificate of conformance for the installed suite and spec?

Certified means: the file is what a run wrote (digest), by this suite version, against this spec text, and every
MUST requirement of the catalogue passed with no error anywhere and exit status 0. Anything else is listed, one
line per problem, so a reader sees every reason at once rather than the first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import conformance
from conformance import catalogue, results
from conformance.reporting.manifest import IN_PROGRESS
from conformance.reporting.summary import FORMAT, digest


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
    found.extend(_requirement_problems(document))
    for case in _records(document, "cases"):
        if case.get("verdict") == results.ERROR:
            found.append(f"case {case.get('nodeid')} errored: {case.get('message') or 'no message'}")
    for problem in document.get("record_problems") or []:
        found.append(f"record problem: {problem}")
    if document.get("exit_status") != 0:
        found.append(f"exit status is {document.get('exit_status')!r}, expected 0")
    return found


def _records(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _requirement_problems(document: dict[str, Any]) -> list[str]:
    if not isinstance(document.get("requirements"), list):
        return ["no requirements list"]
    reported = {entry.get("id"): entry for entry in _records(document, "requirements")}
    found = []
    for rid, requirement in catalogue.requirements().items():
        entry = reported.get(rid)
        if requirement.level == "MUST":
            if entry is None:
                found.append(f"MUST requirement {rid} is missing")
            elif entry.get("verdict") != results.PASS:
                found.append(f"MUST requirement {rid} is {entry.get('verdict')!r}, not 'pass'")
        elif entry is not None and entry.get("verdict") == results.ERROR:
            found.append(f"{requirement.level} requirement {rid} errored")
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
