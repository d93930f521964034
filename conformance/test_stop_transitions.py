"""Every row of the Stop page's transition table, sent every way the page allows.

Cases are generated from `tables.TRANSITIONS` x `tables.BODY_FORMS`: each state the table names, each of the five
ways of sending force=false or force=true. Every case provisions a fresh item, sends exactly one stop (the request
under test, never retried) and reads the item back once.
"""

from __future__ import annotations

import pytest

from conformance import tables
from conformance.checks import MISSING, field_value
from conformance.expectations import (
    body_of,
    expect_fields_unchanged,
    expect_stop_request_kept,
    expect_timestamp,
    expect_utc_timestamps,
    expect_work_item,
)

ALWAYS = (
    "STOP-RESP-OK",
    "STOP-RESP-JSON",
    "STOP-RESP-SCHEMA",
    "STOP-RESP-PERSISTED",
    "STOP-RESP-UNCHANGED-FIELDS",
    "STOP-TS-STOPPED-AT",
    "STOP-TS-UTC",
)


def _case(row: tables.Transition, form: tables.BodyForm):
    """One (row, body form) case with exactly the requirements it can judge."""
    requirements = [row.requirement, form.requirement]
    if row.result is not tables.UNSPECIFIED:
        requirements += ALWAYS
        if row.result == "stopping":
            requirements.append("STOP-TS-STOP-REQUESTED")
        if row.result == "stopped" and row.current != "stopped":
            requirements.append("STOP-OPEN-STOP-REQUESTED-AT")
        if row.current == "stopping":
            requirements.append("STOP-TS-STOP-REQUESTED-KEPT")
    return pytest.param(
        row, form, marks=pytest.mark.req(*requirements), id=f"{row.requirement}-{row.current}-{form.name}"
    )


CASES = [_case(row, form) for row in tables.TRANSITIONS for form in tables.BODY_FORMS if form.force is row.force]


@pytest.mark.parametrize(("row", "form"), CASES)
def test_stop_transition(row: tables.Transition, form: tables.BodyForm, provision, api, check) -> None:
    item = provision(row.current)
    response = api.stop(item["environment_id"], item["id"], content=form.content, headers=form.headers)

    if row.result is tables.UNSPECIFIED:
        _record_unspecified(check, row, item, response)
        return

    body = expect_work_item(check, response)
    check.equal(form.requirement, f"{form.name} accepted: status", 200, response.status_code)
    observed_state = field_value(body, "state")
    check.equal(row.requirement, "state", row.result, observed_state)
    _attribute_to_body_form(check, row, form, observed_state)

    if row.unchanged:
        # "Returns the existing stopped item": every documented field as it was, stopped_at included.
        expect_fields_unchanged(check, row.requirement, item, body, tables.DOCUMENTED_FIELDS, "")
    else:
        expect_fields_unchanged(check, "STOP-RESP-UNCHANGED-FIELDS", item, body, tables.UNCHANGED_BY_STOP, "")
    _check_stop_timestamps(check, row, item, body)
    _check_persisted(check, api, item, body)


def _attribute_to_body_form(check, row: tables.Transition, form: tables.BodyForm, observed_state) -> None:
    """When the answer is the other force value's row, the body form was misread: say so under its requirement."""
    other = tables.transition(not row.force, row.current)
    misread = other.result not in (tables.UNSPECIFIED, row.result) and observed_state == other.result
    check.that(
        form.requirement,
        not misread,
        f"{form.name} read as force={str(row.force).lower()}",
        row.result,
        f"{observed_state!r}, the force={str(other.force).lower()} result",
    )


def _check_stop_timestamps(check, row: tables.Transition, item: dict, body) -> None:
    stopped_at = field_value(body, "stopped_at")
    if row.result == "stopped":
        expect_timestamp(check, "STOP-TS-STOPPED-AT", "stopped_at once stopped", stopped_at)
    else:
        check.equal("STOP-TS-STOPPED-AT", "stopped_at while live", None, stopped_at)

    expect_utc_timestamps(check, "STOP-TS-UTC", body)
    stop_requested_at = field_value(body, "stop_requested_at")
    if row.current == "stopping":
        # The graceful stop was requested when the item moved to stopping; stopping it now does not undo that.
        expect_stop_request_kept(
            check,
            "STOP-TS-STOP-REQUESTED-KEPT",
            item.get("stop_requested_at"),
            body,
            f"stop_requested_at after force={str(row.force).lower()} on stopping (kept)",
        )
    if row.result == "stopping":
        expect_timestamp(check, "STOP-TS-STOP-REQUESTED", "stop_requested_at after a graceful stop", stop_requested_at)
    elif row.current != "stopped":
        # queued -> stopped, stopping -> stopped and every force stop: the docs do not say.
        check.observe(
            "STOP-OPEN-STOP-REQUESTED-AT",
            f"stop_requested_at after force={str(row.force).lower()} on {row.current} "
            f"(was {item.get('stop_requested_at')!r})",
            stop_requested_at,
        )


def _check_persisted(check, api, item: dict, body) -> None:
    """The stop moved the item itself: a GET shows what the stop answered."""
    if body is MISSING:
        return
    read_back = api.get(item["environment_id"], item["id"])
    check.equal("STOP-RESP-PERSISTED", "GET after stop: status", 200, read_back.status_code)
    stored = body_of(read_back)
    for name in ("state", "stop_requested_at", "stopped_at"):
        check.equal(
            "STOP-RESP-PERSISTED",
            f"GET after stop: {name}",
            field_value(body, name),
            field_value(stored, name),
        )


def _record_unspecified(check, row: tables.Transition, item: dict, response) -> None:
    body = body_of(response)
    check.observe(row.requirement, "status", response.status_code)
    check.observe(row.requirement, "state", field_value(body, "state"))
    if isinstance(body, dict) and "stopped_at" in body:
        check.observe(row.requirement, "stopped_at unchanged", body["stopped_at"] == item.get("stopped_at"))
    if isinstance(body, dict) and "error" in body:
        check.observe(row.requirement, "error", body["error"])


@pytest.mark.req(
    "STOP-DRAIN",
    "STOP-TR-LIVE-GRACEFUL",
    "STOP-TR-STOPPING-CONFIRM",
    "STOP-RESP-OK",
    "STOP-RESP-PERSISTED",
    "STOP-TS-STOP-REQUESTED-KEPT",
)
def test_graceful_drain_protocol(provision, api, check) -> None:
    """active -> stop {} -> stopping -> (worker drains) -> stop {} -> stopped, then a GET shows stopped."""
    item = provision("active")
    environment_id, work_id = item["environment_id"], item["id"]
    empty = tables.BODY_FORMS[2]

    first = api.stop(environment_id, work_id, content=empty.content, headers=empty.headers)
    check.equal("STOP-RESP-OK", "first stop {}: status", 200, first.status_code)
    check.equal("STOP-DRAIN", "first stop {}: state", "stopping", field_value(body_of(first), "state"))

    second = api.stop(environment_id, work_id, content=empty.content, headers=empty.headers)
    check.equal("STOP-RESP-OK", "second stop {}: status", 200, second.status_code)
    check.equal("STOP-DRAIN", "second stop {}: state", "stopped", field_value(body_of(second), "state"))
    expect_stop_request_kept(
        check,
        "STOP-TS-STOP-REQUESTED-KEPT",
        field_value(body_of(first), "stop_requested_at"),
        body_of(second),
        "second stop {}: stop_requested_at (kept from the first)",
    )

    final = api.get(environment_id, work_id)
    check.equal("STOP-RESP-PERSISTED", "GET after the drain: state", "stopped", field_value(body_of(final), "state"))
