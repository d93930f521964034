"""Send work heartbeat on every state, with every form of expected_last_heartbeat, and the TTL clamp.

Cases are generated from `heartbeat_table.CELLS` and `heartbeat_table.TTL_CASES`. Each provisions a fresh item,
sends the one heartbeat under test (its parameters in the query string, as the page sends them) and reads the item
back: an accepted heartbeat must show in the item (state, started_at, latest_heartbeat_at), a refused one must leave
it as it was. A case that needs a heartbeat value the provisioned item does not show sends one setup heartbeat first.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conformance import evidence, heartbeat_table, schemas, tables
from conformance.checks import MISSING, Checker, field_value, parse_timestamp, same
from conformance.expectations import (
    body_of,
    expect_error,
    expect_fields_unchanged,
    expect_json_media_type,
    expect_timestamp,
    expect_utc_timestamps,
)
from conformance.heartbeat_table import UNSPECIFIED, Cell, TtlCase

# What every heartbeat answer that is a success is judged on.
ANSWER = ("HEARTBEAT-RESP-OK", "HEARTBEAT-RESP-SCHEMA", "CONV-JSON", "CONV-TS-UTC")
HEARTBEAT_TIMESTAMPS = ("last_heartbeat",)


# ------------------------------------------------------------------------------------------------ requests


def send_heartbeat(
    api: Any,
    item: dict,
    *,
    expected: str | None = None,
    desired_ttl_seconds: int | None = None,
    role: str = evidence.UNDER_TEST,
) -> httpx.Response:
    """One heartbeat about `item`; each parameter goes in the query string only when given."""
    params: dict[str, str] = {}
    if expected is not None:
        params["expected_last_heartbeat"] = expected
    if desired_ttl_seconds is not None:
        params["desired_ttl_seconds"] = str(desired_ttl_seconds)
    return api.call("heartbeat", item["environment_id"], item["id"], params=params or None, role=role)


def read_item(api: Any, item: dict, *, role: str = evidence.READ_BACK) -> httpx.Response:
    return api.call("get", item["environment_id"], item["id"], role=role)


def setup_heartbeat(check: Checker, api: Any, item: dict) -> tuple[Any, dict] | None:
    """An unconditional setup heartbeat, then the item as the server holds it: (answer body, item). None (after
    judging the refusal under HEARTBEAT-UNCONDITIONAL) when the server refused it: the case cannot go on."""
    response = send_heartbeat(api, item, role=evidence.SETUP)
    accepted = check.that(
        "HEARTBEAT-UNCONDITIONAL",
        200 <= response.status_code < 300,
        "setup heartbeat without expected_last_heartbeat: status",
        200,
        response.status_code,
    )
    stored = read_item(api, item, role=evidence.SETUP)
    if not accepted or stored.status_code != 200 or not isinstance(body_of(stored), dict):
        return None
    return body_of(response), body_of(stored)


def current_heartbeat(check: Checker, api: Any, item: dict) -> tuple[str, dict] | None:
    """The item's last heartbeat timestamp as the server wrote it, and the item it belongs to. The provisioned item
    shows it when it has one; otherwise (a starting or active item without) one setup heartbeat makes one."""
    if isinstance(item.get("latest_heartbeat_at"), str):
        return item["latest_heartbeat_at"], item
    if item["state"] not in ("starting", "active"):
        pytest.skip(f"not verified: the provisioned {item['state']} item has no latest_heartbeat_at to echo")
    made = setup_heartbeat(check, api, item)
    if made is None:
        return None
    answer, stored = made
    value = field_value(answer, "last_heartbeat")
    return (value, stored) if isinstance(value, str) else None


# ------------------------------------------------------------------------------------------------ expectations


def expect_heartbeat_answer(check: Checker, accepted_by: str, response: httpx.Response) -> Any:
    """An accepted heartbeat: a 2xx (under the requirement that says this heartbeat is accepted; that it is 200
    exactly is HEARTBEAT-RESP-OK's), and every success answer a JSON Work heartbeat object with a UTC
    last_heartbeat. Returns the body when accepted, else MISSING."""
    accepted = check.that(accepted_by, 200 <= response.status_code < 300, "response status", 200, response.status_code)
    body = expect_success_shape(check, response)
    return body if accepted else MISSING


def expect_success_shape(check: Checker, response: httpx.Response) -> Any:
    """What any 2xx heartbeat answer must be: 200 exactly, JSON, a Work heartbeat object, UTC timestamps. A refusal
    is judged by the requirement that says whether the heartbeat is accepted, not here (one fault, one blame)."""
    body = body_of(response)
    if not 200 <= response.status_code < 300:
        return body
    check.equal("HEARTBEAT-RESP-OK", "status of a successful heartbeat", 200, response.status_code)
    expect_json_media_type(check, "CONV-JSON", response)
    problems = schemas.validate("work-heartbeat", body) if body is not MISSING else ["body is not JSON"]
    check.that(
        "HEARTBEAT-RESP-SCHEMA", not problems, "Work heartbeat schema", "a valid Work heartbeat", "; ".join(problems)
    )
    expect_utc_timestamps(check, "CONV-TS-UTC", body, fields=HEARTBEAT_TIMESTAMPS)
    return body


def expect_heartbeat_stored(
    check: Checker, api: Any, item: dict, answer: Any, *, state_requirement: str, first: bool
) -> dict | None:
    """The accepted heartbeat is the item's now: active, started_at set by the first heartbeat and kept by later
    ones, latest_heartbeat_at the answer's last_heartbeat (the same instant, however written)."""
    read_back = read_item(api, item)
    check.equal("HEARTBEAT-TS-LATEST", "GET after the heartbeat: status", 200, read_back.status_code)
    stored = body_of(read_back)
    if not isinstance(stored, dict):
        return None
    check.equal(state_requirement, "GET after the heartbeat: state", "active", stored.get("state", MISSING))
    started_at = field_value(stored, "started_at")
    if first:
        expect_timestamp(check, "HEARTBEAT-TS-STARTED-AT", "GET after the first heartbeat: started_at", started_at)
    else:
        check.equal(
            "HEARTBEAT-TS-STARTED-AT",
            "GET after a later heartbeat: started_at (unchanged)",
            item["started_at"],
            started_at,
        )
    last_heartbeat = field_value(answer, "last_heartbeat")
    if parse_timestamp(last_heartbeat) is not None:  # a malformed answer is the schema's failure, not this one's
        check.equal(
            "HEARTBEAT-TS-LATEST",
            "GET after the heartbeat: latest_heartbeat_at (the answer's last_heartbeat)",
            last_heartbeat,
            field_value(stored, "latest_heartbeat_at"),
        )
    return stored


def expect_refused_untouched(check: Checker, requirement: str, api: Any, item: dict, response: httpx.Response) -> None:
    """A refused heartbeat: the page's row (status, error.type, envelope), and the item exactly as it was."""
    expect_error(
        check, requirement, response, row=heartbeat_table.ERROR_ROWS[requirement], envelope="CONV-ERR-ENVELOPE"
    )
    read_back = read_item(api, item)
    check.equal(requirement, "GET after the refused heartbeat: status", 200, read_back.status_code)
    expect_fields_unchanged(
        check, requirement, item, body_of(read_back), tables.DOCUMENTED_FIELDS, "GET after the refused heartbeat: "
    )


# ------------------------------------------------------------------------------------------------ the matrix


def _cell_case(cell: Cell):
    requirements = [cell.requirement]
    if cell.accepted:
        requirements += [
            *ANSWER,
            heartbeat_table.ACCEPTED_STATE[cell.state],
            "HEARTBEAT-LEASE-EXTENDED",
            "HEARTBEAT-TS-STARTED-AT",
            "HEARTBEAT-TS-LATEST",
        ]
        if cell.form == heartbeat_table.OMITTED:
            requirements.append("HEARTBEAT-OPEN-DEFAULT-TTL")
    elif cell.status is UNSPECIFIED:
        requirements += ANSWER
    else:
        requirements.append("CONV-ERR-ENVELOPE")
    if cell.form in (heartbeat_table.STALE, heartbeat_table.ECHO, heartbeat_table.REWRITTEN):
        requirements.append("HEARTBEAT-UNCONDITIONAL")  # a setup heartbeat, when the item shows none to echo
    return pytest.param(cell, marks=pytest.mark.req(*dict.fromkeys(requirements)), id=cell.name)


@pytest.mark.parametrize("cell", [_cell_case(cell) for cell in heartbeat_table.CELLS])
def test_heartbeat_cell(cell: Cell, provision, api, check) -> None:
    item = provision(cell.state)
    prepared = _expected_value(check, api, item, cell.form)
    if prepared is None:
        return
    expected, item = prepared
    response = send_heartbeat(api, item, expected=expected)

    if cell.status is UNSPECIFIED:
        _record(check, cell, api, item, expected, response)
    elif cell.accepted:
        body = expect_heartbeat_answer(check, cell.requirement, response)
        if body is MISSING:
            return
        check.equal(heartbeat_table.ACCEPTED_STATE[cell.state], "state", "active", field_value(body, "state"))
        check.equal("HEARTBEAT-LEASE-EXTENDED", "lease_extended", True, field_value(body, "lease_extended"))
        if cell.form == heartbeat_table.OMITTED:
            check.observe(
                "HEARTBEAT-OPEN-DEFAULT-TTL",
                "ttl_seconds without desired_ttl_seconds",
                field_value(body, "ttl_seconds"),
            )
        expect_heartbeat_stored(
            check,
            api,
            item,
            body,
            state_requirement=heartbeat_table.ACCEPTED_STATE[cell.state],
            first=cell.state == "starting",
        )
    else:
        expect_refused_untouched(check, cell.requirement, api, item, response)


def _expected_value(check: Checker, api: Any, item: dict, form: str) -> tuple[str | None, dict] | None:
    """(expected_last_heartbeat to send, the item it is judged against), or None when setup was refused."""
    if form == heartbeat_table.OMITTED:
        return None, item
    if form == heartbeat_table.NO_HEARTBEAT_FORM:
        return heartbeat_table.NO_HEARTBEAT, item
    if form == heartbeat_table.OTHER:
        return heartbeat_table.OTHER_TIMESTAMP, item
    found = current_heartbeat(check, api, item)
    if found is None:
        return None
    value, item = found
    if form == heartbeat_table.ECHO:
        return value, item
    if form == heartbeat_table.REWRITTEN:
        other = heartbeat_table.rewritten(value)
        if other is None:
            pytest.skip(f"not verified: the last heartbeat {value!r} has no other way to write its UTC offset")
        return other, item
    # STALE: a later heartbeat supersedes the value; the item afterwards is the baseline.
    made = setup_heartbeat(check, api, item)
    if made is None:
        return None
    _, later = made
    if same(value, later.get("latest_heartbeat_at")):
        pytest.skip(
            "not verified: the item's heartbeat time did not move between two heartbeats (the server writes "
            f"{value!r} for both), so no superseded value exists to send"
        )
    return value, later


def _record(check: Checker, cell: Cell, api: Any, item: dict, expected: str | None, response: httpx.Response) -> None:
    """Where the page is silent: what came back and what the item is now, recorded; a success's shape judged."""
    body = expect_success_shape(check, response)
    check.observe(cell.requirement, f"expected_last_heartbeat {expected!r}: status", response.status_code)
    for name in ("state", "lease_extended", "ttl_seconds", "last_heartbeat", "error"):
        if field_value(body, name) is not MISSING:
            check.observe(cell.requirement, name, field_value(body, name))
    stored = body_of(read_item(api, item))
    for name in ("state", "started_at", "latest_heartbeat_at"):
        check.observe(
            cell.requirement, f"GET after the heartbeat: {name} (was {item.get(name)!r})", field_value(stored, name)
        )


# ------------------------------------------------------------------------------------------------ TTL


def _ttl_case(case: TtlCase):
    requirements = [case.requirement, "HEARTBEAT-UNCONDITIONAL", *ANSWER, "HEARTBEAT-TS-LATEST"]
    return pytest.param(case, marks=pytest.mark.req(*requirements), id=f"desired-{case.name}")


@pytest.mark.parametrize("case", [_ttl_case(case) for case in heartbeat_table.TTL_CASES])
def test_heartbeat_ttl(case: TtlCase, provision, api, check) -> None:
    """desired_ttl_seconds on an active item: clamped to 10..600 in ttl_seconds (the page names no default)."""
    item = provision("active")
    response = send_heartbeat(api, item, desired_ttl_seconds=case.desired)
    # A refused value is the clamp's failure ("accepted values are clamped": any positive one is accepted); any
    # other refusal is of the heartbeat without expected_last_heartbeat, which is all this case sends besides.
    input_refused = response.status_code == 400 and case.effective is not UNSPECIFIED
    body = expect_heartbeat_answer(check, case.requirement if input_refused else "HEARTBEAT-UNCONDITIONAL", response)
    if body is MISSING:
        return
    ttl_seconds = field_value(body, "ttl_seconds")
    if case.effective is UNSPECIFIED:
        check.observe(case.requirement, "ttl_seconds without desired_ttl_seconds", ttl_seconds)
    else:
        check.equal(
            case.requirement, f"ttl_seconds for desired_ttl_seconds={case.desired}", case.effective, ttl_seconds
        )
    read_back = read_item(api, item)
    check.equal("HEARTBEAT-TS-LATEST", "GET after the heartbeat: status", 200, read_back.status_code)
    last_heartbeat = field_value(body, "last_heartbeat")
    if parse_timestamp(last_heartbeat) is not None:
        check.equal(
            "HEARTBEAT-TS-LATEST",
            "GET after the heartbeat: latest_heartbeat_at (the answer's last_heartbeat)",
            last_heartbeat,
            field_value(body_of(read_back), "latest_heartbeat_at"),
        )


# ------------------------------------------------------------------------------------------------ set once


@pytest.mark.req("HEARTBEAT-TS-STARTED-AT", "HEARTBEAT-ECHO", "HEARTBEAT-UNCONDITIONAL", "HEARTBEAT-TS-LATEST")
def test_second_heartbeat_keeps_started_at(provision, api, check) -> None:
    """starting -> first heartbeat (setup) -> a second one echoing the first's last_heartbeat: started_at stays."""
    item = provision("starting")
    made = setup_heartbeat(check, api, item)
    if made is None:
        return
    first, after_first = made
    expect_timestamp(
        check, "HEARTBEAT-TS-STARTED-AT", "started_at after the first heartbeat", after_first.get("started_at")
    )
    echo = field_value(first, "last_heartbeat")
    if not isinstance(echo, str):
        pytest.skip("not verified: the first heartbeat's answer has no last_heartbeat to echo")
    response = send_heartbeat(api, after_first, expected=echo)
    accepted = check.that(
        "HEARTBEAT-ECHO",
        200 <= response.status_code < 300,
        "second heartbeat echoing the first's last_heartbeat: status",
        200,
        response.status_code,
    )
    if not accepted:
        return
    read_back = read_item(api, item)
    stored = body_of(read_back)
    check.equal(
        "HEARTBEAT-TS-STARTED-AT",
        "GET after the second heartbeat: started_at (set by the first)",
        after_first.get("started_at"),
        field_value(stored, "started_at"),
    )
    last_heartbeat = field_value(body_of(response), "last_heartbeat")
    if parse_timestamp(last_heartbeat) is not None:
        check.equal(
            "HEARTBEAT-TS-LATEST",
            "GET after the second heartbeat: latest_heartbeat_at (its last_heartbeat)",
            last_heartbeat,
            field_value(stored, "latest_heartbeat_at"),
        )


# ------------------------------------------------------------------------------------------------ body parameters


@pytest.mark.req("HEARTBEAT-OPEN-BODY-PARAMS", *ANSWER)
def test_parameters_in_a_json_body(provision, api, check) -> None:
    """The page sends the parameters in the query; the TS SDK sends them as a JSON body. A foreign
    expected_last_heartbeat in the body: honoured (412) or ignored (200)? Recorded, with the item read back."""
    item = provision("active")
    content = json.dumps({"expected_last_heartbeat": heartbeat_table.OTHER_TIMESTAMP, "desired_ttl_seconds": 1})
    response = api.call(
        "heartbeat",
        item["environment_id"],
        item["id"],
        content=content.encode(),
        headers={"Content-Type": "application/json"},
    )
    body = expect_success_shape(check, response)
    check.observe("HEARTBEAT-OPEN-BODY-PARAMS", f"body {content}: status", response.status_code)
    for name in ("ttl_seconds", "error"):
        if field_value(body, name) is not MISSING:
            check.observe("HEARTBEAT-OPEN-BODY-PARAMS", name, field_value(body, name))
    stored = body_of(read_item(api, item))
    check.observe(
        "HEARTBEAT-OPEN-BODY-PARAMS",
        f"GET after the heartbeat: latest_heartbeat_at (was {item.get('latest_heartbeat_at')!r})",
        field_value(stored, "latest_heartbeat_at"),
    )
