"""Every documented error row of the work pages other than Stop, generated from conformance/error_rows.py.

Each case sends one request that differs from a successful one (error_rows.REQUESTS) only in what its row is about,
and asserts the row's status and `error.type` and the error envelope (CONV-ERR-ENVELOPE). Item endpoints address a
fresh item of this run and read it back afterwards: a refused request changes nothing. Environment-level endpoints
(list, poll, stats) need no item. Poll answers are never acknowledged: a poll here that (wrongly, or at an accepted
edge) delivers an item only leaves it to be redelivered.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import error_rows, tables
from conformance.client import USE_PAT
from conformance.error_rows import ACCESS_ROWS, INPUT_CASES, REQUESTS, AccessRow, InputCase
from conformance.expectations import expect_error, expect_untouched

ENVELOPE = "CONV-ERR-ENVELOPE"


def _access_params() -> list[Any]:
    params = []
    for row in ACCESS_ROWS:
        marks = pytest.mark.req(row.requirement, ENVELOPE)
        variants = error_rows.UNAUTHENTICATED_PRESENTATIONS if row.kind == "unauthenticated" else ("",)
        for variant in variants:
            case_id = f"{row.endpoint}-{row.kind}" + (f"-{variant}" if variant else "")
            params.append(pytest.param(row, variant, id=case_id, marks=marks))
    return params


@pytest.mark.parametrize(("access", "variant"), _access_params())
def test_access_row(access: AccessRow, variant: str, settings, provision, api, check) -> None:
    """Not self_hosted, 401, 403 and 404 on every endpoint, each on the request that would otherwise succeed."""
    request = REQUESTS[access.endpoint]
    environment_id = settings.environment_id
    token: Any = USE_PAT  # the configured PAT, sent as Bearer
    headers = dict(request.headers)
    if access.kind == "not-self-hosted":
        settings.require("cloud_environment_id")
        environment_id = settings.cloud_environment_id
    elif access.kind == "not-found-cross-env":
        settings.require("other_environment_id")
        environment_id = settings.other_environment_id
    elif access.kind == "not-found-env":
        environment_id = tables.unknown_id("env_")
    elif access.kind == "expired-pat":
        settings.require("expired_pat")
        token = settings.expired_pat
    elif access.kind == "forbidden":
        settings.require("forbidden_pat")
        token = settings.forbidden_pat
    elif access.kind == "unauthenticated":
        headers.update(tables.UNAUTHENTICATED[variant](settings.pat))
        token = None
    elif access.kind == "x-api-key":
        headers["x-api-key"] = settings.pat
        token = None
    item = None
    work_id = None
    if request.state is not None:
        if access.kind == "not-found-work":
            work_id = tables.unknown_id("work_")
        else:
            item = provision(request.state)
            work_id = item["id"]
    response = api.call(access.endpoint, environment_id, work_id, content=request.content, headers=headers, token=token)
    expect_error(check, access.requirement, response, row=access.row, envelope=ENVELOPE)
    if item is not None:
        expect_untouched(check, access.requirement, api, item)


def _input_params() -> list[Any]:
    return [
        pytest.param(case, id=f"{case.endpoint}-{case.name}", marks=pytest.mark.req(*_judged(case)))
        for case in INPUT_CASES
    ]


def _judged(case: InputCase) -> tuple[str, ...]:
    """A refused value is judged under its row and the envelope; an accepted edge under its row only."""
    return (case.requirement, ENVELOPE) if case.refused else (case.requirement,)


@pytest.mark.parametrize("case", _input_params())
def test_input_row(case: InputCase, settings, provision, api, check) -> None:
    """One documented input row: a value outside the documented range gets the row's error and changes nothing;
    the edge just inside the range is not refused as this row's error (400). What else such a request answers is
    the endpoint's success rules' business, judged by their own cases: blaming this row for a 202 or a 412 would
    blame the wrong rule."""
    request = REQUESTS[case.endpoint]
    item = provision(request.state) if request.state is not None else None
    environment_id = item["environment_id"] if item is not None else settings.environment_id
    content = case.content if case.content is not None else request.content
    response = api.call(
        case.endpoint,
        environment_id,
        item["id"] if item is not None else None,
        content=content,
        headers=request.headers,
        params=case.params,
    )
    if not case.refused:
        check.that(
            case.requirement,
            response.status_code != case.row.status,
            f"response status ({case.name}, inside the documented range)",
            f"not {case.row.status} (the value is valid)",
            response.status_code,
        )
        return
    expect_error(check, case.requirement, response, row=case.row, envelope=ENVELOPE)
    if item is not None:
        expect_untouched(check, case.requirement, api, item)
