"""The error tables of the work pages other than Stop, as data: each row with its requirement, and the inputs that
trigger it.

Every work page ends with an "Errors" table (HTTP | Type | Trigger). The access rows (not self_hosted, 401, 403,
404) are on every page; list, poll, heartbeat and update metadata add rows for their own inputs. Each row here names
the requirement that quotes it (conformance/catalogue/<endpoint>.toml) and says how a case provokes it, so a
reviewer can hold this module next to the page. conformance/test_errors.py generates its cases from here; nothing
here knows about HTTP clients or fixtures.

Not here (other modules judge them): the state-conflict rows (ack 409 on stopping/stopped, heartbeat 409 on
queued/stopped, heartbeat 412) and the Worker-ID mismatch on ack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from conformance import tables
from conformance.tables import INVALID_JSON_BODIES, ErrorRow

JSON = {"Content-Type": "application/json"}

# The rows shared by every page, as the pages write them (the 404 trigger differs between environment-level and
# item-level pages).
NOT_SELF_HOSTED = ErrorRow(400, "invalid_request_error", "The Environment is not self_hosted")
UNAUTHENTICATED = ErrorRow(401, "authentication_error", "PAT invalid or expired")
FORBIDDEN = ErrorRow(403, "permission_error", "Not authorized for this operation")
ENVIRONMENT_NOT_FOUND = ErrorRow(404, "not_found_error", "Environment not found")
ITEM_NOT_FOUND = ErrorRow(404, "not_found_error", "Environment or work item not found")
# conventions/authentication: "Requests using x-api-key return 401 authentication_error"
X_API_KEY = ErrorRow(401, "authentication_error", "Requests using x-api-key return 401 authentication_error")


@dataclass(frozen=True)
class Request:
    """A request to one endpoint that the server would otherwise answer 200: the refused variants change only the
    one thing their row is about (the token, the environment, the work ID, one parameter, the body)."""

    state: str | None  # the state of the fresh item it addresses; None: an environment-level endpoint (no item)
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


# endpoint -> the request that succeeds. ack: a `starting` item (the ack page: "safe to retry for items already in
# starting or active"), so no queued item of this run waits in a shared queue; heartbeat: an `active` item with no
# precondition; update metadata: a patch that would show in the read-back if it were (wrongly) applied.
REQUESTS: dict[str, Request] = {
    "list": Request(None),
    "poll": Request(None),
    "get": Request("active"),
    "update_metadata": Request("active", b'{"metadata": {"conformance_refused": "applied"}}', JSON),
    "ack": Request("starting"),
    "heartbeat": Request("active"),
    "stats": Request(None),
}
ITEM_ENDPOINTS = tuple(name for name, request in REQUESTS.items() if request.state is not None)

# How a request can fail the access rules. `unknown-token`, `no-authorization`, `non-bearer-scheme` and
# `empty-bearer` are the 401 row's "PAT invalid"; `expired-pat` its "expired" (needs QODER_EXPIRED_PAT).
UNAUTHENTICATED_PRESENTATIONS = tuple(tables.UNAUTHENTICATED)  # what each sends: tables.UNAUTHENTICATED
ACCESS_KINDS = (
    "not-self-hosted",
    "unauthenticated",
    "expired-pat",
    "x-api-key",
    "forbidden",
    "not-found-env",
    "not-found-work",
    "not-found-cross-env",
)


@dataclass(frozen=True)
class AccessRow:
    """One access row of one page: the endpoint, how it is provoked (ACCESS_KINDS), its requirement and row."""

    endpoint: str
    kind: str
    requirement: str
    row: ErrorRow


ACCESS_ROWS: tuple[AccessRow, ...] = (
    # list (https://docs.qoder.com/cloud-agents/api/environments/work/list)
    AccessRow("list", "not-self-hosted", "LIST-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("list", "unauthenticated", "LIST-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("list", "expired-pat", "LIST-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("list", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("list", "forbidden", "LIST-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("list", "not-found-env", "LIST-ERR-NOT-FOUND-ENV", ENVIRONMENT_NOT_FOUND),
    # poll
    AccessRow("poll", "not-self-hosted", "POLL-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("poll", "unauthenticated", "POLL-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("poll", "expired-pat", "POLL-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("poll", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("poll", "forbidden", "POLL-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("poll", "not-found-env", "POLL-ERR-NOT-FOUND-ENV", ENVIRONMENT_NOT_FOUND),
    # get
    AccessRow("get", "not-self-hosted", "GET-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("get", "unauthenticated", "GET-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("get", "expired-pat", "GET-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("get", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("get", "forbidden", "GET-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("get", "not-found-env", "GET-ERR-NOT-FOUND-ENV", ITEM_NOT_FOUND),
    AccessRow("get", "not-found-work", "GET-ERR-NOT-FOUND-WORK", ITEM_NOT_FOUND),
    AccessRow("get", "not-found-cross-env", "GET-ERR-NOT-FOUND-CROSS-ENV", ITEM_NOT_FOUND),
    # update metadata
    AccessRow("update_metadata", "not-self-hosted", "UPDATE-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("update_metadata", "unauthenticated", "UPDATE-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("update_metadata", "expired-pat", "UPDATE-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("update_metadata", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("update_metadata", "forbidden", "UPDATE-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("update_metadata", "not-found-env", "UPDATE-ERR-NOT-FOUND-ENV", ITEM_NOT_FOUND),
    AccessRow("update_metadata", "not-found-work", "UPDATE-ERR-NOT-FOUND-WORK", ITEM_NOT_FOUND),
    AccessRow("update_metadata", "not-found-cross-env", "UPDATE-ERR-NOT-FOUND-CROSS-ENV", ITEM_NOT_FOUND),
    # ack
    AccessRow("ack", "not-self-hosted", "ACK-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("ack", "unauthenticated", "ACK-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("ack", "expired-pat", "ACK-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("ack", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("ack", "forbidden", "ACK-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("ack", "not-found-env", "ACK-ERR-NOT-FOUND-ENV", ITEM_NOT_FOUND),
    AccessRow("ack", "not-found-work", "ACK-ERR-NOT-FOUND-WORK", ITEM_NOT_FOUND),
    AccessRow("ack", "not-found-cross-env", "ACK-ERR-NOT-FOUND-CROSS-ENV", ITEM_NOT_FOUND),
    # heartbeat
    AccessRow("heartbeat", "not-self-hosted", "HEARTBEAT-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("heartbeat", "unauthenticated", "HEARTBEAT-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("heartbeat", "expired-pat", "HEARTBEAT-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("heartbeat", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("heartbeat", "forbidden", "HEARTBEAT-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("heartbeat", "not-found-env", "HEARTBEAT-ERR-NOT-FOUND-ENV", ITEM_NOT_FOUND),
    AccessRow("heartbeat", "not-found-work", "HEARTBEAT-ERR-NOT-FOUND-WORK", ITEM_NOT_FOUND),
    AccessRow("heartbeat", "not-found-cross-env", "HEARTBEAT-ERR-NOT-FOUND-CROSS-ENV", ITEM_NOT_FOUND),
    # stats
    AccessRow("stats", "not-self-hosted", "STATS-ERR-NOT-SELF-HOSTED", NOT_SELF_HOSTED),
    AccessRow("stats", "unauthenticated", "STATS-ERR-UNAUTHENTICATED", UNAUTHENTICATED),
    AccessRow("stats", "expired-pat", "STATS-ERR-EXPIRED-PAT", UNAUTHENTICATED),
    AccessRow("stats", "x-api-key", "CONV-ERR-X-API-KEY", X_API_KEY),
    AccessRow("stats", "forbidden", "STATS-ERR-FORBIDDEN", FORBIDDEN),
    AccessRow("stats", "not-found-env", "STATS-ERR-NOT-FOUND-ENV", ENVIRONMENT_NOT_FOUND),
)


@dataclass(frozen=True)
class InputCase:
    """One value of one documented input next to its row: `refused` values must get the row's error; the accepted
    edges just inside the documented range must not be refused (200, "All successful responses")."""

    endpoint: str
    requirement: str
    name: str  # stable, used in case IDs
    params: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    refused: bool = True

    @property
    def row(self) -> ErrorRow:
        return INPUT_ROWS[self.requirement]


INPUT_ROWS: dict[str, ErrorRow] = {
    "LIST-ERR-LIMIT": ErrorRow(400, "invalid_request_error", "limit is not a positive integer"),
    "LIST-ERR-CURSORS": ErrorRow(
        400, "invalid_request_error", "More than one of page, before_id, and after_id was provided"
    ),
    "POLL-ERR-BLOCK-MS": ErrorRow(400, "invalid_request_error", "block_ms is not an integer between 1 and 999"),
    "POLL-ERR-RECLAIM": ErrorRow(400, "invalid_request_error", "reclaim_older_than_ms is not a non-negative integer"),
    "HEARTBEAT-ERR-TTL": ErrorRow(400, "invalid_request_error", "desired_ttl_seconds is not a positive integer"),
    "HEARTBEAT-ERR-EXPECTED": ErrorRow(
        400, "invalid_request_error", "expected_last_heartbeat is neither NO_HEARTBEAT nor an RFC 3339 timestamp"
    ),
    "UPDATE-ERR-INVALID-JSON": ErrorRow(400, "invalid_request_error", "Request body is not valid JSON"),
    "UPDATE-ERR-METADATA-VALUE": ErrorRow(400, "invalid_request_error", "A metadata value is neither string nor null"),
}

# Integers refused by "not a positive integer" / "not an integer between 1 and 999" / "not a non-negative integer":
# a fraction and a word are not integers at all. An empty value (`limit=`) is left out: whether it means "omitted"
# is not said anywhere.
NOT_INTEGERS = {"word": "abc", "fraction": "1.5"}
# Values that are certainly not RFC 3339 timestamps (RFC 3339 §5.6: month 01-12, hour 00-23, a time-offset is
# required) nor NO_HEARTBEAT. Left out as not certain: `no_heartbeat` (the docs do not say the constant is
# case-sensitive), a space instead of `T` (RFC 3339 §5.6 allows it in a note), a date alone.
EXPECTED = "expected_last_heartbeat"
NOT_TIMESTAMPS = {
    "word": "yesterday",
    "out-of-range-fields": "2026-13-45T99:99:99Z",
    "epoch-seconds": "1751357706",
    "no-offset": "2026-07-01T08:15:06",
}
# Metadata values that are neither a string nor null, each as the JSON of a one-key patch.
NOT_STRING_OR_NULL = {"number": 1, "boolean": True, "object": {}, "array": [], "fraction": 1.5}
# A cursor of the documented form that no server issued (the exclusivity row does not depend on it existing).
SOME_WORK_ID = "work_00000000000000000000000000000000"
CURSORS = {"page": SOME_WORK_ID, "before_id": SOME_WORK_ID, "after_id": SOME_WORK_ID}
CURSOR_COMBINATIONS = (("page", "before_id"), ("page", "after_id"), ("before_id", "after_id"), tuple(CURSORS))


def _integer_cases(endpoint: str, requirement: str, name: str, refused: dict[str, str], edges: tuple[str, ...]):
    cases = [InputCase(endpoint, requirement, f"{name}={value}", {name: value}) for value in refused.values()]
    cases += [InputCase(endpoint, requirement, f"{name}={v}", {name: v}, refused=False) for v in edges]
    return cases


INPUT_CASES: tuple[InputCase, ...] = (
    # list: "limit | integer | No | 20 | Items per page. Must be positive; values above 100 are capped at 100"
    *_integer_cases("list", "LIST-ERR-LIMIT", "limit", {"zero": "0", "negative": "-1", **NOT_INTEGERS}, ("1",)),
    # list: "page, before_id, and after_id are mutually exclusive."
    *(
        InputCase("list", "LIST-ERR-CURSORS", "+".join(names), {name: CURSORS[name] for name in names})
        for names in CURSOR_COMBINATIONS
    ),
    # poll: "block_ms ... Must be between 1 and 999." (999 may wait up to 999 ms when nothing is queued)
    *_integer_cases(
        "poll",
        "POLL-ERR-BLOCK-MS",
        "block_ms",
        {"zero": "0", "above": "1000", "negative": "-1", **NOT_INTEGERS},
        ("1", "999"),
    ),
    # poll: "reclaim_older_than_ms ... Must be non-negative"
    *_integer_cases("poll", "POLL-ERR-RECLAIM", "reclaim_older_than_ms", {"negative": "-1", **NOT_INTEGERS}, ("0",)),
    # heartbeat: "desired_ttl_seconds ... Must be positive"
    *_integer_cases(
        "heartbeat", "HEARTBEAT-ERR-TTL", "desired_ttl_seconds", {"zero": "0", "negative": "-1", **NOT_INTEGERS}, ("1",)
    ),
    # heartbeat: "expected_last_heartbeat ... Either NO_HEARTBEAT or the last heartbeat timestamp"
    *(
        InputCase("heartbeat", "HEARTBEAT-ERR-EXPECTED", f"expected_last_heartbeat={name}", {EXPECTED: value})
        for name, value in NOT_TIMESTAMPS.items()
    ),
    # update metadata: the body is not JSON at all
    *(
        InputCase("update_metadata", "UPDATE-ERR-INVALID-JSON", name, content=body)
        for name, body in INVALID_JSON_BODIES.items()
    ),
    # update metadata: "String values upsert keys; null deletes keys"; anything else is the row's 400
    *(
        InputCase(
            "update_metadata",
            "UPDATE-ERR-METADATA-VALUE",
            f"metadata-value-{name}",
            content=json.dumps({"metadata": {"conformance_refused": value}}).encode(),
        )
        for name, value in NOT_STRING_OR_NULL.items()
    ),
)
