"""Inputs the docs leave open: SHOULD where a convention page gives guidance, otherwise recorded only.

Nothing here is a MUST. A SHOULD that is not met is a warning (a failure only with --qoder-strict); an UNSPECIFIED case
records the server's answer in the report and asserts nothing, because conforming servers legitimately differ.
"""

from __future__ import annotations

import pytest

from conformance.checks import field_value
from conformance.expectations import body_of, is_json_media_type

NON_BOOLEAN_FORCE = {
    "string-true": b'{"force": "true"}',
    "number-one": b'{"force": 1}',
    "string-yes": b'{"force": "yes"}',
    "number-zero": b'{"force": 0}',
}


@pytest.mark.parametrize("content", list(NON_BOOLEAN_FORCE.values()), ids=list(NON_BOOLEAN_FORCE))
@pytest.mark.req("STOP-OPEN-FORCE-TYPE")
def test_non_boolean_force_is_refused(content: bytes, provision, api, check) -> None:
    item = provision("active")
    response = api.stop(
        item["environment_id"], item["id"], content=content, headers={"Content-Type": "application/json"}
    )
    body = body_of(response)
    error = body.get("error") if isinstance(body, dict) else None
    check.equal("STOP-OPEN-FORCE-TYPE", "response status", 400, response.status_code)
    check.equal(
        "STOP-OPEN-FORCE-TYPE",
        "error.type",
        "invalid_request_error",
        error.get("type") if isinstance(error, dict) else field_value(body, "error"),
    )
    after = body_of(api.get(item["environment_id"], item["id"]))
    check.equal("STOP-OPEN-FORCE-TYPE", "state after the refused stop", "active", field_value(after, "state"))


@pytest.mark.req("STOP-OPEN-NO-CONTENT-TYPE")
def test_json_body_without_content_type(provision, api, check) -> None:
    item = provision("active")
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers={})
    check.equal("STOP-OPEN-NO-CONTENT-TYPE", "response status", 200, response.status_code)
    check.equal("STOP-OPEN-NO-CONTENT-TYPE", "state", "stopping", field_value(body_of(response), "state"))


@pytest.mark.req("STOP-OPEN-CHARSET")
def test_content_type_with_charset(provision, api, check) -> None:
    item = provision("active")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    response = api.stop(item["environment_id"], item["id"], content=b'{"force": false}', headers=headers)
    check.equal("STOP-OPEN-CHARSET", "response status", 200, response.status_code)
    check.equal("STOP-OPEN-CHARSET", "state", "stopping", field_value(body_of(response), "state"))


RECORDED_BODIES = {
    "STOP-OPEN-FORCE-NULL": {"force-null": b'{"force": null}'},
    "STOP-OPEN-NON-OBJECT": {
        "array": b"[]",
        "true": b"true",
        "string": b'"stop"',
        "number": b"1",
        "null": b"null",
    },
    "STOP-OPEN-UNKNOWN-FIELDS": {
        "unknown-field": b'{"force": false, "reason": "conformance"}',
        "only-unknown-field": b'{"graceful": true}',
    },
}


@pytest.mark.parametrize(
    ("requirement", "content"),
    [
        pytest.param(requirement, content, marks=pytest.mark.req(requirement), id=f"{requirement}-{name}")
        for requirement, bodies in RECORDED_BODIES.items()
        for name, content in bodies.items()
    ],
)
def test_recorded_behaviour(requirement: str, content: bytes, provision, api, check) -> None:
    item = provision("active")
    response = api.stop(
        item["environment_id"], item["id"], content=content, headers={"Content-Type": "application/json"}
    )
    body = body_of(response)
    check.observe(requirement, "status", response.status_code)
    check.observe(requirement, "JSON media type", is_json_media_type(response))
    check.observe(requirement, "state in the answer", field_value(body, "state"))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        check.observe(requirement, "error.type", error.get("type"))
    after = body_of(api.get(item["environment_id"], item["id"]))
    check.observe(requirement, "state afterwards", field_value(after, "state"))
