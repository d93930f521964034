"""Self-tests for schemas/*.json and conformance.schemas: the docs' own examples pass, broken objects do not.

The schemas are the oracle for STOP-RESP-SCHEMA and STOP-ERR-ENVELOPE, so they are held to both sides: every
example the docs show must validate (no false FAIL against a correct server), and every documented rule must
bite (no false PASS against a broken one).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance import catalogue, schemas, tables

STOP_PAGE = catalogue.SPEC_DIR / "stop-work-item.txt"


def stop_page_example_response() -> dict[str, Any]:
    """The Stop page's "Example response" body, parsed from the spec text so a doc change reaches this test."""
    text = STOP_PAGE.read_text(encoding="utf-8")
    after_heading = text.index("Example response")
    start = text.index("{", after_heading)
    body, _ = json.JSONDecoder().raw_decode(text, start)
    return body


# IDs of the docs examples (api-reference.md §3.1: "Docs example values").
WORK_ID = "work_019f3be4fd2475d9a784bf2c739e1194"
ENV_ID = "env_019e64e01a137caf953ac2ac7b42ec5c"
SESSION_ID = "sess_019f3be3fa66750bb9a1fbcde85b5fe1"


def work_item(**changes: Any) -> dict[str, Any]:
    """A queued item as the poll/list examples show it (api-reference.md §2 step 3: every lifecycle timestamp null)."""
    item = {
        "id": WORK_ID,
        "type": "work",
        "environment_id": ENV_ID,
        "data": {"type": "session", "id": SESSION_ID},
        "state": "queued",
        "created_at": "2026-07-01T08:15:01Z",
        "acknowledged_at": None,
        "started_at": None,
        "latest_heartbeat_at": None,
        "stop_requested_at": None,
        "stopped_at": None,
        "metadata": {},
    }
    item.update(changes)
    return item


WORK_ITEM_EXAMPLES = {
    # Stop page, "Example response" (parsed from conformance/spec/stop-work-item.txt).
    "stop-page-example": stop_page_example_response(),
    # api-reference.md §2 step 3 and §5.1/§5.2: the poll/list example item, queued, all lifecycle timestamps null.
    "poll-list-example-queued": work_item(),
    # api-reference.md §5.5: the ack example, "state `starting`, `acknowledged_at` set, other lifecycle
    # timestamps null".
    "ack-example-starting": work_item(state="starting", acknowledged_at="2026-07-01T08:15:04Z"),
    # api-reference.md §4.2 timestamp rules: the get example (`started_at` 08:15:06Z,
    # `latest_heartbeat_at` 08:16:06.120394Z), an active item.
    "get-example-active": work_item(
        state="active",
        acknowledged_at="2026-07-01T08:15:04Z",
        started_at="2026-07-01T08:15:06Z",
        latest_heartbeat_at="2026-07-01T08:16:06.120394Z",
    ),
    # api-reference.md §5.4: the update-metadata example's merged result.
    "update-metadata-example": work_item(metadata={"job": "daily-report", "worker": "byoc-worker-01"}),
    # api-reference.md §8: the conventions/schemas timestamp example, trailing zeros trimmed.
    "conventions-timestamp-example": work_item(created_at="2026-05-18T15:26:39.61669Z"),
    # A stopped item (§3.1: stopped_at is "When the item reached `stopped`").
    "stopped": work_item(state="stopped", stopped_at="2026-07-01T08:16:31Z"),
}

# api-reference.md §3.2: the heartbeat docs example, verbatim.
HEARTBEAT_EXAMPLE = {
    "type": "work_heartbeat",
    "last_heartbeat": "2026-07-01T08:15:06.120394Z",
    "lease_extended": True,
    "state": "active",
    "ttl_seconds": 60,
}

LIST_EXAMPLES = {
    # api-reference.md §5.1: the list example (`limit=2`, one item): first_id = last_id = the item id,
    # has_more false, next_page null.
    "list-example": {
        "data": [work_item()],
        "first_id": WORK_ID,
        "last_id": WORK_ID,
        "has_more": False,
        "next_page": None,
    },
    # api-reference.md §9: both first_id and last_id null when data is empty.
    "empty-page": {"data": [], "first_id": None, "last_id": None, "has_more": False, "next_page": None},
    # api-reference.md §3.4: next_page "Equals last_id when has_more is true".
    "more-pages": {
        "data": [work_item()],
        "first_id": WORK_ID,
        "last_id": WORK_ID,
        "has_more": True,
        "next_page": WORK_ID,
    },
}

ERROR_EXAMPLES = {
    # api-reference.md §7.1, first example.
    "missing-field": {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Missing required field: name", "param": "name"},
    },
    # api-reference.md §7.1, second example.
    "authentication": {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key or token."},
    },
    # api-reference.md §7.1: the envelope template with every optional field present.
    "template-all-fields": {
        "type": "error",
        "error": {
            "type": "feature_not_available",
            "message": "<text>",
            "param": "<name>",
            "feature": "<id>",
            "available_from": "<beta id>",
        },
    },
    # api-reference.md §7.1: optional fields are "Required: No"; null-versus-absent is not settled, so a server that
    # sends an optional field without a value as null conforms (issue: 18 false FAILs under STOP-ERR-ENVELOPE).
    "optional-fields-null": {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Request body is not valid JSON",
            "param": None,
            "feature": None,
            "available_from": None,
        },
    },
    # api-reference.md §7.1 and §11: an extra top-level field (the SDKs read an undocumented request_id).
    "extra-request-id": {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Environment or work item not found"},
        "request_id": "req_0123",
    },
    # api-reference.md §1: the CN invalid-JSON message.
    "cn-invalid-json": {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Request body must be valid JSON."},
    },
}


# --- the schema files themselves ---------------------------------------------------------------------------------


def test_schema_folder_holds_exactly_the_named_schemas():
    on_disk = sorted(path.name for path in schemas.schema_dir().glob("*.json"))
    assert on_disk == sorted(f"{name}.schema.json" for name in schemas.SCHEMA_NAMES)


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_schema_is_valid_against_its_metaschema(name):
    document = schemas.load(name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith(f"/{name}.schema.json")
    assert document["title"]
    assert "docs.qoder.com" in document["description"], "the description must cite the doc page"


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_schemas_never_forbid_extra_fields(name):
    """Forward compatibility: a server adding a field must not fail the suite."""
    closed = [path for path, node in _subschemas(schemas.load(name), "$") if _closes_objects(node)]
    assert not closed, f"{name} forbids extra fields at {closed}"


def _subschemas(node: Any, path: str):
    """Every object inside a schema document, with where it sits."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas(value, f"{path}/{index}")


def _closes_objects(node: dict) -> bool:
    return node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False


def test_unknown_schema_name_is_refused():
    with pytest.raises(KeyError, match="unknown schema"):
        schemas.validate("work", {})


def test_validators_are_cached():
    assert schemas.validator("work-item") is schemas.validator("work-item")


def test_work_item_schema_requires_exactly_the_documented_fields():
    assert set(schemas.load("work-item")["required"]) == set(tables.DOCUMENTED_FIELDS)


# --- the date-time format is really enforced ---------------------------------------------------------------------

ACCEPTED_TIMESTAMPS = (
    "2026-07-01T08:15:01Z",
    "2026-07-01T08:15:06.120394Z",
    "2026-05-18T15:26:39.61669Z",
    "2026-07-01T08:15:01+00:00",
)
REJECTED_TIMESTAMPS = (
    "2026-13-01T00:00:00Z",  # no month 13
    "2026-02-30T00:00:00Z",  # no 30 February
    "2026-07-01 08:15:01",  # space instead of T, no offset
    "2026-07-01T08:15:01",  # no offset
    "2026-07-01",  # a date is not a date-time
    "yesterday",
    "",
)


@pytest.mark.parametrize("value", ACCEPTED_TIMESTAMPS)
def test_rfc3339_timestamps_are_accepted(value):
    assert schemas.is_rfc3339_date_time(value)
    assert schemas.validate("work-item", work_item(created_at=value)) == []
    assert schemas.validate("work-item", work_item(stopped_at=value)) == []


@pytest.mark.parametrize("value", REJECTED_TIMESTAMPS)
@pytest.mark.parametrize("field", tables.TIMESTAMP_FIELDS)
def test_non_rfc3339_timestamps_are_rejected(field, value):
    assert not schemas.is_rfc3339_date_time(value)
    problems = schemas.validate("work-item", work_item(**{field: value}))
    assert problems == [f"$.{field}: {value!r} is not a 'date-time'"]


def test_heartbeat_timestamp_format_is_enforced():
    problems = schemas.validate("work-heartbeat", {**HEARTBEAT_EXAMPLE, "last_heartbeat": "2026-07-01T08:15:06"})
    assert problems == ["$.last_heartbeat: '2026-07-01T08:15:06' is not a 'date-time'"]


# --- the docs' examples are accepted ------------------------------------------------------------------------------


def test_stop_page_example_is_parsed_from_the_spec_text():
    example = stop_page_example_response()
    assert example["state"] == "stopping"
    assert example["stopped_at"] is None


@pytest.mark.parametrize("example", WORK_ITEM_EXAMPLES.values(), ids=WORK_ITEM_EXAMPLES.keys())
def test_docs_work_item_examples_are_valid(example):
    assert schemas.validate("work-item", example) == []


def test_docs_heartbeat_example_is_valid():
    assert schemas.validate("work-heartbeat", HEARTBEAT_EXAMPLE) == []


@pytest.mark.parametrize("example", LIST_EXAMPLES.values(), ids=LIST_EXAMPLES.keys())
def test_docs_list_examples_are_valid(example):
    assert schemas.validate("work-list", example) == []


@pytest.mark.parametrize("example", ERROR_EXAMPLES.values(), ids=ERROR_EXAMPLES.keys())
def test_docs_error_examples_are_valid(example):
    assert schemas.validate("error", example) == []


def test_unknown_extra_fields_are_accepted():
    """The SDKs already model an undocumented `secret`; future fields must not fail a conforming server."""
    item = work_item(secret="s3cr3t", future_field={"nested": [1, 2]})
    item["data"] = {**item["data"], "extra": True}
    assert schemas.validate("work-item", item) == []
    error = {"type": "error", "error": {"type": "not_found_error", "message": "x", "code": 7}, "request_id": "r"}
    assert schemas.validate("error", error) == []
    assert schemas.validate("work-heartbeat", {**HEARTBEAT_EXAMPLE, "extra": 1}) == []
    assert schemas.validate("work-list", {**LIST_EXAMPLES["list-example"], "extra": 1}) == []


# --- broken objects are rejected, each with a path-naming message ------------------------------------------------


@pytest.mark.parametrize("field", tables.DOCUMENTED_FIELDS)
def test_each_missing_work_item_field_is_rejected(field):
    item = work_item()
    del item[field]
    assert schemas.validate("work-item", item) == [f"$: {field!r} is a required property"]


@pytest.mark.parametrize("field", ["type", "id"])
def test_each_missing_data_field_is_rejected(field):
    item = work_item()
    del item["data"][field]
    assert schemas.validate("work-item", item) == [f"$.data: {field!r} is a required property"]


WRONG_WORK_ITEMS = {
    "id-not-string": ({"id": 1}, "$.id"),
    "id-wrong-prefix": ({"id": "wrk_019f3be4fd2475d9a784bf2c739e1194"}, "$.id"),
    "id-prefix-not-at-start": ({"id": "x_work_019f"}, "$.id"),
    "type-not-work": ({"type": "work_item"}, "$.type"),
    "environment-id-null": ({"environment_id": None}, "$.environment_id"),
    "environment-id-wrong-prefix": ({"environment_id": "environment_019e64e01a137caf"}, "$.environment_id"),
    "data-not-object": ({"data": "sess_019f3be3fa66750bb9a1fbcde85b5fe1"}, "$.data"),
    "data-type-unknown": ({"data": {"type": "healthcheck", "id": SESSION_ID}}, "$.data.type"),
    "data-id-wrong-prefix": ({"data": {"type": "session", "id": "ses_019f3be3fa66750bb9a1fbcde85b5fe1"}}, "$.data.id"),
    "data-id-not-string": ({"data": {"type": "session", "id": 5}}, "$.data.id"),
    "state-unknown": ({"state": "paused"}, "$.state"),
    "state-wrong-case": ({"state": "Stopped"}, "$.state"),
    "state-not-string": ({"state": 3}, "$.state"),
    "created-at-null": ({"created_at": None}, "$.created_at"),
    "created-at-number": ({"created_at": 1782893701}, "$.created_at"),
    "stopped-at-number": ({"stopped_at": 1782893701}, "$.stopped_at"),
    "stop-requested-at-false": ({"stop_requested_at": False}, "$.stop_requested_at"),
    "metadata-null": ({"metadata": None}, "$.metadata"),
    "metadata-array": ({"metadata": []}, "$.metadata"),
    "metadata-value-number": ({"metadata": {"job": 1}}, "$.metadata.job"),
    "metadata-value-null": ({"metadata": {"job": None}}, "$.metadata.job"),
    "metadata-value-object": ({"metadata": {"job": {"a": "b"}}}, "$.metadata.job"),
}


@pytest.mark.parametrize(("changes", "path"), WRONG_WORK_ITEMS.values(), ids=WRONG_WORK_ITEMS.keys())
def test_wrong_work_item_values_are_rejected_at_their_path(changes, path):
    problems = schemas.validate("work-item", work_item(**changes))
    assert problems, f"{changes} was accepted"
    assert all(problem.startswith(f"{path}: ") for problem in problems), problems


@pytest.mark.parametrize("instance", [None, [], "work", 1, True], ids=repr)
def test_non_object_work_item_is_rejected(instance):
    assert schemas.validate("work-item", instance) != []


def test_unknown_state_message_names_path_and_allowed_values():
    assert schemas.validate("work-item", work_item(state="paused")) == [
        "$.state: 'paused' is not one of ['queued', 'starting', 'active', 'stopping', 'stopped']"
    ]


def test_several_problems_are_all_reported():
    problems = schemas.validate("work-item", work_item(state="paused", id="job_1", metadata={"a": 1}))
    assert [problem.split(":")[0] for problem in problems] == ["$.id", "$.metadata.a", "$.state"]


def _broken_error(mutate) -> dict[str, Any]:
    envelope = copy.deepcopy(ERROR_EXAMPLES["missing-field"])
    mutate(envelope)
    return envelope


WRONG_ERRORS = {
    "missing-error-type": (lambda e: e["error"].pop("type"), "$.error: 'type' is a required property"),
    "missing-error-message": (lambda e: e["error"].pop("message"), "$.error: 'message' is a required property"),
    "missing-type": (lambda e: e.pop("type"), "$: 'type' is a required property"),
    "missing-error": (lambda e: e.pop("error"), "$: 'error' is a required property"),
    "type-not-error": (lambda e: e.update(type="invalid_request_error"), "$.type: 'error' was expected"),
    "error-not-object": (lambda e: e.update(error="boom"), "$.error: 'boom' is not of type 'object'"),
    "error-type-empty": (lambda e: e["error"].update(type=""), "$.error.type: '' should be non-empty"),
    "error-type-number": (lambda e: e["error"].update(type=404), "$.error.type: 404 is not of type 'string'"),
    "message-null": (lambda e: e["error"].update(message=None), "$.error.message: None is not of type 'string'"),
    "param-number": (lambda e: e["error"].update(param=1), "$.error.param: 1 is not of type 'string', 'null'"),
    "feature-false": (
        lambda e: e["error"].update(feature=False),
        "$.error.feature: False is not of type 'string', 'null'",
    ),
    "available-from-list": (
        lambda e: e["error"].update(available_from=[]),
        "$.error.available_from: [] is not of type 'string', 'null'",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), WRONG_ERRORS.values(), ids=WRONG_ERRORS.keys())
def test_broken_error_envelopes_are_rejected(mutate, expected):
    assert schemas.validate("error", _broken_error(mutate)) == [expected]


@pytest.mark.parametrize("field", ["type", "last_heartbeat", "lease_extended", "state", "ttl_seconds"])
def test_each_missing_heartbeat_field_is_rejected(field):
    heartbeat = {k: v for k, v in HEARTBEAT_EXAMPLE.items() if k != field}
    assert schemas.validate("work-heartbeat", heartbeat) == [f"$: {field!r} is a required property"]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"type": "work"}, "$.type"),
        ({"lease_extended": "true"}, "$.lease_extended"),
        ({"state": "paused"}, "$.state"),
        ({"ttl_seconds": 60.5}, "$.ttl_seconds"),
        ({"ttl_seconds": "60"}, "$.ttl_seconds"),
    ],
)
def test_wrong_heartbeat_values_are_rejected(changes, path):
    problems = schemas.validate("work-heartbeat", {**HEARTBEAT_EXAMPLE, **changes})
    assert problems and all(problem.startswith(f"{path}: ") for problem in problems), problems


@pytest.mark.parametrize("field", ["data", "first_id", "last_id", "has_more", "next_page"])
def test_each_missing_list_field_is_rejected(field):
    page = {k: v for k, v in LIST_EXAMPLES["list-example"].items() if k != field}
    assert schemas.validate("work-list", page) == [f"$: {field!r} is a required property"]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"data": {}}, "$.data"),
        ({"first_id": 1}, "$.first_id"),
        ({"last_id": False}, "$.last_id"),
        ({"has_more": None}, "$.has_more"),
        ({"next_page": 0}, "$.next_page"),
    ],
)
def test_wrong_list_values_are_rejected(changes, path):
    problems = schemas.validate("work-list", {**LIST_EXAMPLES["list-example"], **changes})
    assert problems and all(problem.startswith(f"{path}: ") for problem in problems), problems


def test_list_items_are_validated_through_the_work_item_ref():
    broken = work_item(state="paused")
    del broken["metadata"]
    page = {**LIST_EXAMPLES["list-example"], "data": [work_item(), broken]}
    assert schemas.validate("work-list", page) == [
        "$.data[1]: 'metadata' is a required property",
        "$.data[1].state: 'paused' is not one of ['queued', 'starting', 'active', 'stopping', 'stopped']",
    ]


# --- timestamps in UTC (STOP-TS-UTC), judged apart from the schema ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "in_utc"),
    [
        ("2026-07-01T08:15:01Z", True),
        ("2026-07-01T08:15:01.120394z", True),
        ("2026-07-01T08:15:01+00:00", True),  # another way of writing UTC: a dialect, never a FAIL
        ("2026-07-01T08:15:01-00:00", True),
        ("2026-07-01T16:15:01+08:00", False),  # the same instant, not in UTC
        ("2026-07-01T03:15:01.5-05:00", False),
    ],
)
def test_utc_check_accepts_every_way_of_writing_utc_and_nothing_else(value, in_utc):
    from conformance.checks import Checker
    from conformance.expectations import expect_utc_timestamps

    check = Checker(frozenset({"STOP-TS-UTC"}))
    expect_utc_timestamps(check, "STOP-TS-UTC", {"created_at": value, "stopped_at": None, "started_at": "not a time"})
    assert [m.what for m in check.mismatches] == ([] if in_utc else ["created_at in UTC"])
