"""Expectations shared by the cases: what every success and every error answer must look like.

Each helper states its expectations through the case's Checker under the requirement they rest on, so the same
rule is judged the same way in every case that meets it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from conformance import schemas, tables
from conformance.checks import MISSING, Checker, field_value, parse_timestamp


def body_of(response: httpx.Response) -> Any:
    """The parsed JSON body, or MISSING when the body is not JSON (the checks then say 'absent')."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return MISSING


def is_json_media_type(response: httpx.Response) -> bool:
    """application/json, optionally with parameters such as charset (RFC 8259 defines no charset, but allows it)."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json"


def expect_work_item(check: Checker, response: httpx.Response) -> Any:
    """A successful stop: 200, a JSON media type, a valid Work item. Returns the body for further checks."""
    check.equal("STOP-RESP-OK", "response status", 200, response.status_code)
    check.that(
        "STOP-RESP-JSON",
        is_json_media_type(response),
        "response Content-Type",
        "application/json",
        response.headers.get("content-type", MISSING),
    )
    body = body_of(response)
    problems = schemas.validate("work-item", body) if body is not MISSING else ["body is not JSON"]
    check.that("STOP-RESP-SCHEMA", not problems, "Work item schema", "a valid Work item", "; ".join(problems))
    return body


def expect_item_answer(
    check: Checker,
    ok: str,
    response: httpx.Response,
    *,
    schema: str = "CONV-ITEM-SCHEMA",
    media: str = "CONV-JSON",
    utc: str = "CONV-TS-UTC",
) -> Any:
    """A successful answer of any endpoint but Stop that returns a Work item: 200 (under the endpoint's own `ok`
    requirement), a JSON media type, a valid Work item with UTC timestamps (under the shared conventions, so a
    server that renders every item wrongly fails one requirement, not one per endpoint). Returns the body."""
    check.equal(ok, "response status", 200, response.status_code)
    expect_json_media_type(check, media, response)
    body = body_of(response)
    problems = schemas.validate("work-item", body) if body is not MISSING else ["body is not JSON"]
    check.that(schema, not problems, "Work item schema", "a valid Work item", "; ".join(problems))
    expect_utc_timestamps(check, utc, body)
    return body


def expect_json_media_type(check: Checker, requirement: str, response: httpx.Response, what: str = "") -> None:
    check.that(
        requirement,
        is_json_media_type(response),
        f"{what}response Content-Type",
        "application/json",
        response.headers.get("content-type", MISSING),
    )


def expect_error(
    check: Checker,
    requirement: str,
    response: httpx.Response,
    row: tables.ErrorRow | None = None,
    *,
    envelope: str = "STOP-ERR-ENVELOPE",
) -> None:
    """An error answer: the row's status and error.type (the row of `requirement` in the Stop page's table unless
    `row` is given), the documented envelope and a JSON media type under `envelope` (CONV-ERR-ENVELOPE for every
    endpoint but Stop)."""
    row = row or tables.ERRORS[requirement]
    check.equal(requirement, "response status", row.status, response.status_code)
    body = body_of(response)
    error = body.get("error") if isinstance(body, dict) else None
    observed_type = error.get("type", MISSING) if isinstance(error, dict) else MISSING
    check.equal(requirement, "error.type", row.type, observed_type)
    problems = schemas.validate("error", body) if body is not MISSING else ["body is not JSON"]
    check.that(envelope, not problems, "error envelope schema", "a valid error envelope", "; ".join(problems))
    expect_json_media_type(check, envelope, response, "error ")


def expect_fields_unchanged(
    check: Checker, requirement: str, before: dict, after: Any, fields: tuple[str, ...], where: str
) -> None:
    """Each field of `after` equals `before` (timestamps compared as instants)."""
    for name in fields:
        check.equal(requirement, f"{where}{name} (unchanged)", before.get(name, MISSING), field_value(after, name))


def expect_untouched(check: Checker, requirement: str, api: Any, item: dict) -> None:
    """After a refused request, a GET shows the item exactly as it was provisioned: an error changes nothing."""
    response = api.get(item["environment_id"], item["id"])
    check.equal(requirement, "GET after the refused request: status", 200, response.status_code)
    expect_fields_unchanged(
        check,
        requirement,
        item,
        body_of(response),
        (*tables.UNCHANGED_BY_STOP, "state", "stop_requested_at", "stopped_at"),
        "GET after the refused request: ",
    )


def expect_timestamp(check: Checker, requirement: str, what: str, value: Any) -> None:
    check.that(requirement, parse_timestamp(value) is not None, what, "an RFC 3339 timestamp", value)


def expect_utc_timestamps(
    check: Checker, requirement: str, body: Any, where: str = "", *, fields: tuple[str, ...] = tables.TIMESTAMP_FIELDS
) -> None:
    """Every timestamp of a Work item (or the named `fields` of another object) is in UTC: offset zero, however
    written (`Z`, `z`, `+00:00`).

    Only values that are RFC 3339 timestamps are judged here; a missing, null or malformed one is the schema's
    business (STOP-RESP-SCHEMA), so one fault is blamed under one requirement.
    """
    for name in fields:
        value = field_value(body, name)
        moment = parse_timestamp(value)
        if moment is not None:
            check.that(
                requirement, moment.utcoffset() == timedelta(0), f"{where}{name} in UTC", "offset Z or +00:00", value
            )


def expect_stop_request_kept(check: Checker, requirement: str, before: Any, answer: Any, what: str) -> None:
    """A graceful stop that was requested stays requested: once stop_requested_at holds a time, it keeps it.

    Judged only when the item had a request time and the answer is the item moved to stopped: an answer that is not
    (an error, the wrong state) is another requirement's failure, and blaming this one too would be noise.
    """
    if parse_timestamp(before) is None or field_value(answer, "state") != "stopped":
        return
    check.equal(requirement, what, before, field_value(answer, "stop_requested_at"))
