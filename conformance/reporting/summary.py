"""summary.json: the certification artifact, a machine-readable record of one run, with a tamper-evident digest.

The digest is sha256 over the canonical JSON of every other field. It detects an edit made after the run; it is
not a signature (anyone can recompute it), so a certificate is as trustworthy as the place it was taken from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from conformance import catalogue, results
from conformance.reporting.cases import Vetted

FORMAT = "qoder-conformance-summary/1"
SUITE_NAME = "qoder-work-conformance"


def canonical(document: dict[str, Any]) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8: one byte string per content, whoever serialises it."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in document.items() if k != "digest"})).hexdigest()


def spec_files() -> list[dict[str, str]]:
    """The installed spec text, file by file, so a reader sees which file changed when the spec digest differs."""
    return [
        {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for path in sorted(catalogue.SPEC_DIR.iterdir())
        if path.is_file()
    ]


def build(vetted: Vetted) -> dict[str, Any]:
    run = vetted.run
    document: dict[str, Any] = {
        "format": FORMAT,
        "suite": {"name": SUITE_NAME, "version": run.suite_version},
        "spec": {"digest": run.spec_digest, "files": spec_files()},
        "target": {"base_url": run.target, "provisioner": run.provisioner, "embedded": run.embedded},
        "config": run.config,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "strict": run.strict,
        "exit_status": run.exit_status,
        "interrupted": run.interrupted,
        "stop_reason": run.stop_reason,
        "counts": {
            "requirements": results.counts(vetted.verdicts),
            "cases": results.counts(vetted.cases),
            "endpoints": results.counts_by_endpoint(vetted.verdicts),
        },
        "requirements": [
            {
                "id": v.id,
                "endpoint": v.endpoint,
                "level": v.level,
                "verdict": v.verdict,
                "cause": v.cause,
                "consequence_of": v.consequence_of,
                "flagged_cases": v.flagged_cases,
                "cases": v.cases,
                "summary": v.summary,
            }
            for v in vetted.verdicts
        ],
        "cases": [
            {
                "nodeid": case.nodeid,
                "requirements": case.requirements,
                "verdict": case.verdict,
                "message": case.message,
                "repro": case.repro,
            }
            for case in vetted.cases
        ],
        "record_problems": vetted.problems,
        "cleanup": run.cleanup,
        "preflight": run.preflight,
    }
    # Round-trip through JSON so the digest is computed over exactly what a reader will load.
    document = json.loads(json.dumps(document, default=str))
    document["digest"] = digest(document)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
