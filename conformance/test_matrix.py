"""The transition matrix of ack, update metadata, get, list and stats: every endpoint on every state.

Cases are generated from `matrix.MATRIX`: each provisions a fresh item in the cell's state, sends exactly one request
(the request under test, never retried) and reads the item back once, so a server that answers right but stores
wrong (or the reverse) fails the cell's own requirement.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import matrix
from conformance.checks import MISSING, field_value, parse_timestamp
from conformance.expectations import (
    body_of,
    expect_error,
    expect_fields_unchanged,
    expect_item_answer,
    expect_timestamp,
    expect_untouched,
)
from conformance.tables import DOCUMENTED_FIELDS, LIVE_STATES

ITEM_ANSWER = ("CONV-JSON", "CONV-ITEM-SCHEMA", "CONV-TS-UTC")
# Every request under test asks for JSON the way the official SDKs do; update metadata also sends JSON.
ACCEPT = {"Accept": "application/json"}
JSON_HEADERS = {**ACCEPT, "Content-Type": "application/json"}


def _param(cell: matrix.Cell, *requirements: str):
    return pytest.param(cell, marks=pytest.mark.req(cell.requirement, *requirements), id=cell.name)


def _read_back(api, item: dict) -> Any:
    """The one read-back of a case: the item as stored after the request under test."""
    return body_of(api.get(item["environment_id"], item["id"]))


# --------------------------------------------------------------------------------------------------------- ack


def _ack_param(cell: matrix.Cell):
    if cell.error is not None:
        return _param(cell, "CONV-ERR-ENVELOPE")
    if cell.requirement == "ACK-TR-QUEUED":
        return _param(cell, "ACK-TS-ACKNOWLEDGED-AT", "ACK-RESP-OK", *ITEM_ANSWER)
    return _param(cell, "ACK-OPEN-RETRY-ACKNOWLEDGED-AT", "ACK-RESP-OK", *ITEM_ANSWER)


@pytest.mark.parametrize("cell", [_ack_param(cell) for cell in matrix.cells("ack")])
def test_ack(cell: matrix.Cell, provision, api, check) -> None:
    item = provision(cell.state)
    response = api.call("ack", item["environment_id"], item["id"], headers=ACCEPT)

    if cell.error is not None:
        expect_error(check, cell.requirement, response, row=cell.error, envelope="CONV-ERR-ENVELOPE")
        expect_untouched(check, cell.requirement, api, item)
        return

    body = expect_item_answer(check, "ACK-RESP-OK", response)
    check.equal(cell.requirement, "state", cell.result, field_value(body, "state"))
    expect_fields_unchanged(check, cell.requirement, item, body, matrix.UNCHANGED_BY_ACK, "")
    acknowledged_at = field_value(body, "acknowledged_at")
    if cell.state == "queued":
        _expect_acknowledged_now(check, item, acknowledged_at)
    else:
        check.observe(
            "ACK-OPEN-RETRY-ACKNOWLEDGED-AT",
            f"acknowledged_at after a retried ack (was {item.get('acknowledged_at')!r}) kept",
            acknowledged_at == item.get("acknowledged_at") or _same_instant(acknowledged_at, item["acknowledged_at"]),
        )

    stored = _read_back(api, item)
    check.equal(cell.requirement, "GET after ack: state", cell.result, field_value(stored, "state"))
    expect_fields_unchanged(check, cell.requirement, item, stored, matrix.UNCHANGED_BY_ACK, "GET after ack: ")
    if body is not MISSING and parse_timestamp(acknowledged_at) is not None:
        requirement = "ACK-TS-ACKNOWLEDGED-AT" if cell.state == "queued" else cell.requirement
        stored_at = field_value(stored, "acknowledged_at")
        check.equal(requirement, "GET after ack: acknowledged_at", acknowledged_at, stored_at)


def _expect_acknowledged_now(check, item: dict, acknowledged_at: Any) -> None:
    """queued -> starting sets acknowledged_at: it was null, it is now a time, not before the item was created."""
    check.equal("ACK-TS-ACKNOWLEDGED-AT", "acknowledged_at before ack", None, item.get("acknowledged_at"))
    expect_timestamp(check, "ACK-TS-ACKNOWLEDGED-AT", "acknowledged_at after ack", acknowledged_at)
    moment, created = parse_timestamp(acknowledged_at), parse_timestamp(item.get("created_at"))
    if moment is not None and created is not None:
        check.that(
            "ACK-TS-ACKNOWLEDGED-AT",
            moment >= created,
            "acknowledged_at not before created_at",
            f">= {item['created_at']}",
            acknowledged_at,
        )


def _same_instant(left: Any, right: Any) -> bool:
    first, second = parse_timestamp(left), parse_timestamp(right)
    return first is not None and first == second


# ----------------------------------------------------------------------------------------------- update metadata

MERGE_REQUIREMENTS = ("UPDATE-MERGE-DELETE", "UPDATE-MERGE-KEEP", "UPDATE-ONLY-METADATA", "UPDATE-RESP-OK")


def _update_param(cell: matrix.Cell):
    if cell.result is matrix.UNSPECIFIED:
        return _param(cell)
    return _param(cell, *MERGE_REQUIREMENTS, *ITEM_ANSWER)


def _send_update(api, item: dict, patch: dict[str, Any]):
    content = json.dumps(patch).encode("utf-8")
    return api.call("update_metadata", item["environment_id"], item["id"], content=content, headers=JSON_HEADERS)


@pytest.mark.parametrize("cell", [_update_param(cell) for cell in matrix.cells("update_metadata")])
def test_update_metadata(cell: matrix.Cell, provision, api, check) -> None:
    """One patch that adds a key, changes one, deletes one (null) and leaves the others alone."""
    item = provision(cell.state, metadata=matrix.METADATA_BEFORE)
    response = _send_update(api, item, {"metadata": matrix.METADATA_PATCH})

    if cell.result is matrix.UNSPECIFIED:
        body = body_of(response)
        check.observe(cell.requirement, "status", response.status_code)
        check.observe(cell.requirement, "answered metadata", field_value(body, "metadata"))
        check.observe(cell.requirement, "error", body.get("error") if isinstance(body, dict) else MISSING)
        check.observe(cell.requirement, "GET after update: metadata", field_value(_read_back(api, item), "metadata"))
        return

    body = expect_item_answer(check, "UPDATE-RESP-OK", response)
    _expect_merged(check, item, body, "")
    stored = _read_back(api, item)
    _expect_merged(check, item, stored, "GET after update: ")


def _expect_merged(check, item: dict, answer: Any, where: str) -> None:
    metadata = field_value(answer, "metadata")
    found = metadata if isinstance(metadata, dict) else {}
    for key, value in matrix.UPSERTED.items():
        check.equal("UPDATE-MERGE-UPSERT", f"{where}metadata[{key!r}]", value, found.get(key, MISSING))
    for key in matrix.DELETED:
        check.that("UPDATE-MERGE-DELETE", key not in found, f"{where}metadata[{key!r}]", "absent", found.get(key))
    for key, value in item["metadata"].items():
        if key not in matrix.METADATA_PATCH:
            check.equal("UPDATE-MERGE-KEEP", f"{where}metadata[{key!r}] (kept)", value, found.get(key, MISSING))
    expect_fields_unchanged(check, "UPDATE-ONLY-METADATA", item, answer, matrix.UNCHANGED_BY_UPDATE, where)


@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.req("UPDATE-OMIT-UNCHANGED", "UPDATE-RESP-OK", *ITEM_ANSWER)
def test_update_without_metadata_returns_the_item_unchanged(state: str, provision, api, check) -> None:
    item = provision(state, metadata=matrix.METADATA_BEFORE)
    response = _send_update(api, item, {})

    body = expect_item_answer(check, "UPDATE-RESP-OK", response)
    expect_fields_unchanged(check, "UPDATE-OMIT-UNCHANGED", item, body, DOCUMENTED_FIELDS, "")
    expect_fields_unchanged(check, "UPDATE-OMIT-UNCHANGED", item, _read_back(api, item), DOCUMENTED_FIELDS, "GET: ")


@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.req("UPDATE-DELETE-ABSENT", *ITEM_ANSWER)
def test_update_deleting_an_absent_key_is_a_no_op(state: str, provision, api, check) -> None:
    item = provision(state, metadata=matrix.METADATA_BEFORE)
    response = _send_update(api, item, {"metadata": {matrix.ABSENT_KEY: None}})

    body = expect_item_answer(check, "UPDATE-DELETE-ABSENT", response)
    expect_fields_unchanged(check, "UPDATE-DELETE-ABSENT", item, body, DOCUMENTED_FIELDS, "")
    expect_fields_unchanged(check, "UPDATE-DELETE-ABSENT", item, _read_back(api, item), DOCUMENTED_FIELDS, "GET: ")


# ------------------------------------------------------------------------------------------------------ reads


@pytest.mark.parametrize("cell", [_param(cell, "GET-RESP-OK", *ITEM_ANSWER) for cell in matrix.cells("get")])
def test_get(cell: matrix.Cell, provision, api, check) -> None:
    """The answer is the item as provisioned, and reading it changed nothing (a second read shows the same)."""
    item = provision(cell.state)
    response = api.call("get", item["environment_id"], item["id"], headers=ACCEPT)

    body = expect_item_answer(check, "GET-RESP-OK", response)
    expect_fields_unchanged(check, cell.requirement, item, body, DOCUMENTED_FIELDS, "")
    expect_fields_unchanged(check, cell.requirement, item, _read_back(api, item), DOCUMENTED_FIELDS, "second GET: ")


@pytest.mark.parametrize("cell", [_param(cell) for cell in (*matrix.cells("list"), *matrix.cells("stats"))])
def test_environment_read_leaves_the_item_alone(cell: matrix.Cell, provision, api, check) -> None:
    """list and stats read the environment; an item of it, in any state, reads back as it was."""
    item = provision(cell.state)
    response = api.call(cell.endpoint, item["environment_id"], headers=ACCEPT)
    check.observe(cell.requirement, f"{cell.endpoint} status", response.status_code)

    stored = _read_back(api, item)
    expect_fields_unchanged(check, cell.requirement, item, stored, DOCUMENTED_FIELDS, f"GET after {cell.endpoint}: ")
