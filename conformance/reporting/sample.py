"""A synthetic run record, for the reporting self-tests and for previewing the reports without a target.

It has a failed MUST (with a hostile response body, to prove escaping), a warned SHOULD, a not-verified MUST, an
invalid-UTF-8 request, and a passing case for every other requirement; `failing=False` makes every case pass.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from conformance import __version__, catalogue
from conformance.evidence import READ_BACK, SETUP, UNDER_TEST, Exchange
from conformance.results import FAIL, NOT_VERIFIED, PASS, WARN, CaseRecord, RunRecord

TARGET = "http://127.0.0.1:8765"
ENVIRONMENT = "env_00000000000000000000000000000001"
OLD_ITEM = "work_0123456789abcdef0123456789abcdef"
AUTH = {"authorization": "Bearer ${QODER_PAT}", "accept": "*/*", "user-agent": "python-httpx/0.27.0"}
JSON_TYPE = {"content-type": "application/json"}
INVALID_UTF8 = b'{"force": "\xff\xfe"}'


def item(state: str, **fields: Any) -> dict[str, Any]:
    return {"id": OLD_ITEM, "type": "work", "environment_id": ENVIRONMENT, "state": state, **fields}


def work_url(suffix: str = "") -> str:
    return f"{TARGET}/api/v1/cloud/environments/{ENVIRONMENT}/work/{OLD_ITEM}{suffix}"


def setup_exchange(state: str = "active") -> dict[str, Any]:
    body = json.dumps({"state": state, "environment_id": ENVIRONMENT, "metadata": {"suite": "conformance"}})
    return Exchange(
        SETUP,
        "POST",
        f"{TARGET}/_emulator/hook",
        {**AUTH, **JSON_TYPE, "content-length": str(len(body))},
        body,
        status=201,
        response_headers=JSON_TYPE,
        response_body=json.dumps(item(state)),
        duration_ms=3.0,
    ).to_dict()


def stop_exchange(
    body: bytes | None, headers: dict[str, str], status: int, answer: str, *, role: str = UNDER_TEST
) -> dict[str, Any]:
    text = None if body is None else body.decode("utf-8", errors="backslashreplace")
    invalid = body is not None and text.encode("utf-8", errors="surrogateescape") != body
    return Exchange(
        role,
        "POST",
        work_url("/stop"),
        {**AUTH, **headers},
        text,
        base64.b64encode(body).decode() if invalid and body is not None else None,
        status=status,
        response_headers=JSON_TYPE,
        response_body=answer,
        duration_ms=5.0,
    ).to_dict()


def read_back(state: str) -> dict[str, Any]:
    return Exchange(
        READ_BACK, "GET", work_url(), dict(AUTH), None, status=200, response_body=json.dumps(item(state))
    ).to_dict()


def mismatch(requirement: str, what: str, expected: str, observed: str) -> dict[str, Any]:
    level = catalogue.get(requirement).level
    return {"requirement": requirement, "level": level, "what": what, "expected": expected, "observed": observed}


def special_cases() -> list[CaseRecord]:
    hostile = json.dumps(item("stopping", note="<script>document.title='pwned'</script>"))
    return [
        CaseRecord(
            "conformance/test_stop_transitions.py::test_transition[force-active]",
            ["STOP-TR-FORCE"],
            FAIL,
            "[STOP-TR-FORCE MUST] state: expected 'stopped', observed 'stopping'",
            mismatches=[mismatch("STOP-TR-FORCE", "state", "'stopped'", "'stopping'")],
            exchanges=[
                setup_exchange(),
                stop_exchange(b'{"force": true}', JSON_TYPE, 200, hostile),
                read_back("stopping"),
            ],
            duration_s=0.05,
        ),
        CaseRecord(
            "conformance/test_stop_errors.py::test_body_not_valid_json[invalid-utf8]",
            ["STOP-ERR-INVALID-JSON"],
            FAIL,
            "[STOP-ERR-INVALID-JSON MUST] response status: expected 400, observed 200",
            mismatches=[mismatch("STOP-ERR-INVALID-JSON", "response status", "400", "200")],
            exchanges=[setup_exchange(), stop_exchange(INVALID_UTF8, JSON_TYPE, 200, json.dumps(item("stopping")))],
        ),
        CaseRecord(
            "conformance/test_stop_open_inputs.py::test_no_content_type",
            ["STOP-OPEN-NO-CONTENT-TYPE"],
            WARN,
            "[STOP-OPEN-NO-CONTENT-TYPE SHOULD] response status: expected 200, observed 415",
            mismatches=[mismatch("STOP-OPEN-NO-CONTENT-TYPE", "response status", "200", "415")],
            exchanges=[setup_exchange(), stop_exchange(b"{}", {}, 415, '{"type":"error"}')],
        ),
        CaseRecord(
            "conformance/test_stop_errors.py::test_expired_pat",
            ["STOP-ERR-EXPIRED-PAT"],
            NOT_VERIFIED,
            "not verified: QODER_EXPIRED_PAT is not configured",
        ),
    ]


def passing_case(requirement_id: str) -> CaseRecord:
    return CaseRecord(
        f"conformance/test_sample.py::test_{requirement_id.lower().replace('-', '_')}",
        [requirement_id],
        PASS,
        exchanges=[setup_exchange(), stop_exchange(b"{}", JSON_TYPE, 200, json.dumps(item("stopping")))],
        duration_s=0.01,
    )


def sample_run(*, failing: bool = True, target: str = TARGET) -> RunRecord:
    special = special_cases() if failing else []
    covered = {rid for case in special for rid in case.requirements}
    cases = special + [passing_case(rid) for rid in catalogue.requirements() if rid not in covered]
    return RunRecord(
        suite_version=__version__,
        spec_digest=catalogue.spec_digest(),
        target=target,
        provisioner="hook",
        config={"QODER_BASE_URL": target, "QODER_PAT": "<set>", "QODER_EXPIRED_PAT": "<not set>"},
        started_at="2025-01-01T10:00:00Z",
        finished_at="2025-01-01T10:01:30Z",
        strict=False,
        cases=cases,
        exit_status=1 if failing else 0,
        preflight={"clock_skew_s": 0.1},
        cleanup={"stopped": [OLD_ITEM], "already_stopped": 3, "failed": []},
    )
