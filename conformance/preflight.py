"""Preflight: before any case, is the target there, is the PAT accepted, are the environments what they claim?

A wrong configuration would otherwise show up as a cascade of identical errors (or worse, as FAILs of a server that
is fine). Each check below fails with one sentence that names the variable to fix; the first unreachable answer
ends the preflight (every later request would only wait for the same timeout again). Clock skew, from the `Date`
header, is reported, not judged: it explains odd timestamps, it is not a requirement.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from conformance import evidence
from conformance.client import SuiteClient
from conformance.config import Settings
from conformance.errors import HarnessError
from conformance.paths import work_path


def _list(client: SuiteClient, environment_id: str) -> httpx.Response:
    return client.request("GET", work_path(environment_id), role=evidence.SETUP, params={"limit": 1})


def _error_type(response: httpx.Response) -> Any:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def _is_json(response: httpx.Response) -> bool:
    try:
        json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _describe(response: httpx.Response) -> str:
    media_type = response.headers.get("content-type", "").split(";")[0].strip() or "no Content-Type"
    suffix = "" if _is_json(response) else f", a {media_type} body that is not JSON"
    reason = response.reason_phrase or ""
    return f"{response.status_code}{' ' + reason if reason else ''}{suffix}"


def clock_skew_s(response: httpx.Response, sent_at: float, received_at: float) -> float | None:
    """Server clock minus ours (seconds), from the Date header against the exchange's midpoint; None without one."""
    header = response.headers.get("date")
    if not header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return round(server - (sent_at + received_at) / 2, 3)


def run(settings: Settings, client: SuiteClient) -> dict[str, Any]:
    """The preflight's findings: {"ok", "problems", "checks", "clock_skew_s"}; it never raises for the target."""
    checks: list[dict[str, Any]] = []
    problems: list[str] = []
    notes: list[str] = []  # oddities the cases will judge; shown, never a reason to stop
    result: dict[str, Any] = {
        "ok": False, "checks": checks, "problems": problems, "notes": notes, "clock_skew_s": None
    }  # fmt: skip

    def note(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})
        if not ok:
            problems.append(detail)

    environment = settings.environment_id or ""
    try:
        sent_at = time.time()
        first = _list(client, environment)
        result["clock_skew_s"] = clock_skew_s(first, sent_at, time.time())
    except HarnessError as error:
        note("target answers", False, f"{settings.base_url} cannot be used: {error}")
        return result
    note("target answers", True, f"GET the work list of QODER_ENVIRONMENT_ID answered {first.status_code}")

    if first.status_code in (401, 403):
        note(
            "PAT accepted",
            False,
            f"QODER_PAT is set but the target refused it: the work list of QODER_ENVIRONMENT_ID ({environment}) "
            f"answered {_describe(first)} ({_error_type(first) or 'no error type'})",
        )
        return result
    note("PAT accepted", True, f"answered {first.status_code}")
    _expect_self_hosted(note, "QODER_ENVIRONMENT_ID", environment, first)

    if settings.other_environment_id:
        try:
            other = _list(client, settings.other_environment_id)
        except HarnessError as error:
            note("QODER_OTHER_ENVIRONMENT_ID", False, f"QODER_OTHER_ENVIRONMENT_ID cannot be checked: {error}")
        else:
            _expect_self_hosted(note, "QODER_OTHER_ENVIRONMENT_ID", settings.other_environment_id, other)

    if settings.cloud_environment_id:
        try:
            cloud = _list(client, settings.cloud_environment_id)
        except HarnessError as error:
            note("QODER_CLOUD_ENVIRONMENT_ID", False, f"QODER_CLOUD_ENVIRONMENT_ID cannot be checked: {error}")
        else:
            _judge_cloud_environment(note, notes, settings.cloud_environment_id, cloud)
    result["ok"] = not problems
    return result


def _expect_self_hosted(note: Any, variable: str, environment_id: str, response: httpx.Response) -> None:
    ok = response.status_code == 200 and _is_json(response)
    if ok:
        detail = f"{variable} ({environment_id}) is a self_hosted environment the PAT may use (work list: 200)"
    elif response.status_code == 404:
        detail = (
            f"{variable} ({environment_id}) does not exist for this PAT: its work list answered {_describe(response)}"
        )
    elif response.status_code == 400:
        detail = (
            f"{variable} ({environment_id}) is not a self_hosted environment: its work list answered "
            f"{_describe(response)} ({_error_type(response) or 'no error type'})"
        )
    else:
        detail = f"{variable} ({environment_id}): its work list answered {_describe(response)}, expected 200 with JSON"
    note(variable, ok, detail)


def _judge_cloud_environment(note: Any, notes: list[str], environment_id: str, response: httpx.Response) -> None:
    """Only "it does not exist" stops the run; any other unexpected answer may be the server's non-conformance,
    which the STOP-ERR-NOT-SELF-HOSTED case judges (stopping here would hide the very FAIL it must report)."""
    variable = f"QODER_CLOUD_ENVIRONMENT_ID ({environment_id})"
    if response.status_code == 404:
        note(variable, False, f"{variable} does not exist for this PAT: its work list answered {_describe(response)}")
        return
    expected = response.status_code == 400 and _error_type(response) == "invalid_request_error"
    detail = f"{variable}: its work list answered {_describe(response)}"
    if not expected:
        detail += "; expected 400 invalid_request_error (left to the cases to judge)"
        notes.append(detail)
    note(variable, True, detail)


def message(result: dict[str, Any]) -> str:
    """The one message that stops a run whose preflight failed."""
    lines = "\n".join(f"  - {problem}" for problem in result.get("problems", []))
    return f"preflight failed: the target cannot be tested as configured:\n{lines}"
