"""The emulator's rules in one config object: every place a deliberate fault (faults.py) may change behaviour.

`Rules()` is the conforming emulator. Its fields are tables taken from the docs (the Stop matrix's replaced cells,
the error table, the token and environment checks, the item lookup) or, where the rule really is code, the
function that implements it. A fault is a small modifier `Rules -> Rules` that replaces one cell or wraps one
result (schemathesis' test applications keep their bug switches the same way), so the faulty server still runs the
real code everywhere else. The store and the HTTP layer read the rules once, at start-up.

The rule names (`SEAMS`) are the fault table's "seam" column; two faults may not change the same rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from starlette.responses import JSONResponse, Response

from qoder_emulator import errors, inputs, machine
from qoder_emulator.dialects import Dialect
from qoder_emulator.machine import (
    MERGE_PATCH,
    AckOutcome,
    HeartbeatCell,
    MetadataMerge,
    StopCell,
    StopOutcome,
    WorkItem,
)

# Every rule a fault may change, and what it decides.
SEAMS: dict[str, str] = {
    "machine.stop": "the Stop matrix's cells (stop_cells) and the stopped item (stop_result)",
    "machine.to_json": "how a work item's timestamps are written (timestamp)",
    "store.find_item": "what a work ID that is unknown, or another environment's, looks up to (item_lookup)",
    "store.commit_stop": "whether a stop is written back (persist_stop)",
    "store.authenticate": "what a missing, unknown or expired token gets (token_rules)",
    "store.environment_for": "the environment checks, in order, and their errors (environment_checks)",
    "app.stop_force": "how `force` is read from the body (stop_force)",
    "app.bearer_token": "where the PAT is read from (bearer_token)",
    "app.parse_json_body": "how the raw body becomes JSON (parse_json_body)",
    "app.stop_item": "the stop as the handler performs it (stop_item)",
    "app.stop_response": "the successful stop's response (stop_response)",
    "app.error_status": "exception class -> (HTTP status, error.type) (error_status)",
    "app.error_response": "the error envelope and its media type (error_envelope, error_media_type)",
    # the input and access rows of the other work pages' error tables
    "app.query_integers": "each integer query parameter's documented range, per endpoint (query_integers)",
    "app.list_cursors": "which of list's cursors are mutually exclusive (exclusive_cursors)",
    "app.expected_last_heartbeat": "how heartbeat's expected_last_heartbeat is read (expected_heartbeat)",
    "app.metadata_patch": "how update metadata's patch is read (metadata_patch)",
    "app.endpoint_environment_checks": "per endpoint, environment checks unlike the shared ones (endpoint_checks)",
    # --- matrix ---
    "machine.ack": "the ack rule's cells, one per state (ack_cells)",
    "machine.update_metadata": "how a metadata patch is merged (metadata_merge) and the updated item (update_result)",
    "store.commit_update": "whether a metadata update is written back (persist_update)",
    "store.get": "the item a read answers (read_item)",
    "app.negotiate": "the endpoints that refuse `Accept: application/json` (refuse_json_accept)",
    "app.update_response": "the status of a successful metadata update (update_status)",
    "app.get_response": "the successful get's response (get_response)",
    # --- heartbeat ---
    "machine.heartbeat": "the heartbeat's cells per state (heartbeat_cells)",
    "machine.heartbeat_lease": "which forms of expected_last_heartbeat pass the lease check (lease_checks)",
    "machine.heartbeat_ttl": "the range desired_ttl_seconds is clamped to (ttl_range)",
    "app.heartbeat_response": "the successful heartbeat's body and response (heartbeat_body, heartbeat_response)",
    # --- queue ---
    "store.poll": "which items a poll may deliver, whether delivering acknowledges, redelivery (poll_rules)",
    "app.poll": "the poll's answer: the no-work answer, the item's wrapping, the long-poll wait (poll_answer)",
    "app.list_work": "the list page: default and maximum limit, order, next_page, cursors, envelope (list_rules)",
    "store.stats": "how the queue counters are computed and written, and the answer's media type (stats_rules)",
    "store.ack_worker_id": "the ack's Worker-ID check against the delivering poll's (worker_id_rules)",
    "app.routes": "which literal routes (poll, stats) are registered after /work/{work_id} (shadowed_routes)",
}


@dataclass(frozen=True)
class Refuse:
    """An access rule's outcome: raise `kind(message)`."""

    kind: type[errors.AccessError]
    message: str


# Outcomes of an access rule besides Refuse.
ACCEPT = "accept"  # take what was found (the token's owner, the item)
FIRST_PRINCIPAL = "first-principal"  # act as the configured first principal
NOT_FOUND = "not-found"  # the lookup finds nothing (404 through the caller)
CRASH = "crash"  # a KeyError escapes the lookup (500 api_error)
AccessOutcome = Refuse | str

# exception class -> (HTTP status, error.type)
ERROR_STATUS: Mapping[type[Exception], tuple[int, str]] = MappingProxyType(
    {
        inputs.InvalidInput: (400, "invalid_request_error"),
        errors.NotSelfHosted: (400, "invalid_request_error"),
        errors.Unauthenticated: (401, "authentication_error"),
        errors.Forbidden: (403, "permission_error"),
        errors.EnvironmentNotFound: (404, "not_found_error"),
        errors.WorkItemNotFound: (404, "not_found_error"),
        errors.AgentNotFound: (404, "not_found_error"),
        machine.Conflict: (409, "invalid_request_error"),  # the work pages, not conventions/errors' conflict_error
        machine.PreconditionFailed: (412, "precondition_failed_error"),
    }
)

# The token cases that do not authenticate: missing, unknown and expired tokens are all 401 (Stop page's errors).
TOKEN_RULES: Mapping[str, AccessOutcome] = MappingProxyType(
    {
        "missing": Refuse(errors.Unauthenticated, "Missing or malformed Authorization header; expected 'Bearer <PAT>'"),
        "unknown": Refuse(errors.Unauthenticated, "PAT invalid or expired"),
        "expired": Refuse(errors.Unauthenticated, "PAT invalid or expired"),
    }
)

# The environment in the path, checked in this order: exists (404), is the caller's (403), is self_hosted (400).
# None: the check is skipped.
ENVIRONMENT_CHECKS: Mapping[str, Refuse | None] = MappingProxyType(
    {
        "missing": Refuse(errors.EnvironmentNotFound, "Environment not found"),
        "foreign": Refuse(errors.Forbidden, "Not authorized for this operation"),
        "not-self-hosted": Refuse(errors.NotSelfHosted, "The Environment is not self_hosted"),
    }
)


@dataclass(frozen=True)
class IntegerRange:
    """A documented integer query parameter: its range (None: unbounded) and its error row's trigger."""

    minimum: int | None
    maximum: int | None
    message: str


# (endpoint, parameter) -> its range, from each page's query table and error table.
QUERY_INTEGERS: Mapping[tuple[str, str], IntegerRange] = MappingProxyType(
    {
        ("list", "limit"): IntegerRange(1, None, "limit is not a positive integer"),
        ("poll", "block_ms"): IntegerRange(1, 999, "block_ms is not an integer between 1 and 999"),
        ("poll", "reclaim_older_than_ms"): IntegerRange(0, None, "reclaim_older_than_ms is not a non-negative integer"),
        ("heartbeat", "desired_ttl_seconds"): IntegerRange(1, None, "desired_ttl_seconds is not a positive integer"),
    }
)
# The list page: "page, before_id, and after_id are mutually exclusive."
EXCLUSIVE_CURSORS = ("page", "before_id", "after_id")

# A work ID the server never issued, and one of another environment: both simply not found here.
ITEM_LOOKUP: Mapping[str, AccessOutcome] = MappingProxyType({"unknown": NOT_FOUND, "other-environment": NOT_FOUND})


# --- queue --- The queue pages' rules as data (poll, list, stats pages; api-reference §5.1, §5.2, §5.8, §9, §10).

# Poll: only queued items are "available to poll" (work/schemas); "Polling delivers a work item but does not
# acknowledge it"; an unacknowledged delivery is redelivered after reclaim_older_than_ms ("after-window").
POLL_RULES: Mapping[str, Any] = MappingProxyType(
    {"pollable_states": (machine.QUEUED,), "acknowledges": False, "redelivery": "after-window"}
)
# The poll's answer: no work is 200 with JSON null; an item is the Work item itself; the long poll waits block_ms
# (seconds per millisecond of block_ms).
POLL_ANSWER: Mapping[str, Any] = MappingProxyType({"empty_status": 200, "wrap": None, "wait_per_block_ms": 0.001})
# List: limit default 20, above 100 capped; ascending ID order; next_page = last_id while has_more; before_id and
# after_id exclude the cursor; the envelope's fields.
LIST_RULES: Mapping[str, Any] = MappingProxyType(
    {
        "default_limit": 20,
        "max_limit": 100,
        "over_max": "cap",
        "order": "ascending",
        "next_page": "last_id",
        "cursor_inclusive": False,
        "fields": ("data", "first_id", "last_id", "has_more", "next_page"),
    }
)
# Stats: depth = queued items claimable now (pending ones excluded); counters are JSON integers; a JSON answer.
STATS_RULES: Mapping[str, Any] = MappingProxyType(
    {"depth_counts_pending": False, "counters_as": "int", "media_type": "application/json"}
)
# Ack with a Worker-ID after a poll with one: the same value is accepted, a different one conflicts (poll page).
WORKER_ID_RULES: Mapping[str, str] = MappingProxyType({"same": ACCEPT, "different": "conflict"})


class StopTarget(Protocol):
    """What stop_item needs of the store (a protocol, so this module does not import store.py)."""

    def stop(self, environment_id: str, work_id: str, *, force: bool) -> WorkItem: ...


async def stop_item(work_store: StopTarget, environment_id: str, work_id: str, *, force: bool) -> WorkItem:
    """The stop as one call into the store, whose lock makes the read-modify-write atomic."""
    return work_store.stop(environment_id, work_id, force=force)


def same_item(before: WorkItem, after: WorkItem, now: datetime) -> WorkItem:
    """The stopped item as machine.stop computed it."""
    return after


def same_body(body: dict[str, Any]) -> dict[str, Any]:
    return body


def same_read(item: WorkItem, now: datetime) -> WorkItem:
    """A read answers the item as stored."""
    return item


def heartbeat_object(heartbeat: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The heartbeat's answer: the Work heartbeat object (not the item it was sent about)."""
    return heartbeat


@dataclass(frozen=True)
class Rules:
    """The rules in force for one emulator instance; the defaults are the conforming server."""

    names: tuple[str, ...] = ()  # the faults that changed these rules, in the order chosen
    # machine.stop
    stop_cells: Mapping[StopCell, StopOutcome] = field(default_factory=dict)
    stop_result: Callable[[WorkItem, WorkItem, datetime], WorkItem] = same_item
    # machine.to_json
    timestamp: Callable[[datetime], str] = machine.format_timestamp
    # store
    item_lookup: Mapping[str, AccessOutcome] = field(default_factory=lambda: ITEM_LOOKUP)
    persist_stop: bool = True
    token_rules: Mapping[str, AccessOutcome] = field(default_factory=lambda: TOKEN_RULES)
    environment_checks: Mapping[str, Refuse | None] = field(default_factory=lambda: ENVIRONMENT_CHECKS)
    # app
    stop_force: Callable[[Mapping[str, Any], Dialect], bool] = inputs.stop_force
    bearer_token: Callable[[Mapping[str, str]], str | None] = inputs.bearer_token
    parse_json_body: Callable[[bytes, str | None, Dialect], Any] = inputs.parse_json_body
    stop_item: Callable[..., Awaitable[WorkItem]] = stop_item
    stop_response: Callable[[dict[str, Any]], Response] = JSONResponse
    error_status: Mapping[type[Exception], tuple[int, str]] = field(default_factory=lambda: ERROR_STATUS)
    error_envelope: Callable[[dict[str, Any]], dict[str, Any]] = same_body
    error_media_type: str | None = "application/json"
    # app: the other work pages' input and access rows
    query_integers: Mapping[tuple[str, str], IntegerRange] = field(default_factory=lambda: QUERY_INTEGERS)
    exclusive_cursors: tuple[str, ...] = EXCLUSIVE_CURSORS
    expected_heartbeat: Callable[[Mapping[str, str]], str | None] = inputs.expected_last_heartbeat
    metadata_patch: Callable[[Mapping[str, Any]], dict[str, str | None] | None] = inputs.metadata_patch
    # endpoint -> environment_checks cells that differ for that endpoint (none: every endpoint checks alike)
    endpoint_checks: Mapping[str, Mapping[str, Refuse | None]] = field(default_factory=dict)
    # --- matrix: ack, update metadata, get
    ack_cells: Mapping[str, AckOutcome] = field(default_factory=dict)  # machine.ack
    metadata_merge: MetadataMerge = MERGE_PATCH  # machine.update_metadata
    update_result: Callable[[WorkItem, WorkItem, datetime], WorkItem] = same_item
    persist_update: bool = True  # store.commit_update
    read_item: Callable[[WorkItem, datetime], WorkItem] = same_read  # store.get
    refuse_json_accept: frozenset[str] = frozenset()  # app.negotiate: endpoint names (paths.ENDPOINT_ROUTES')
    update_status: int = 200  # app.update_response
    get_response: Callable[[dict[str, Any]], Response] = JSONResponse  # app.get_response
    # --- heartbeat --- machine.heartbeat, machine.heartbeat_lease, machine.heartbeat_ttl, app.heartbeat_response
    heartbeat_cells: Mapping[str, HeartbeatCell] = field(default_factory=dict)
    lease_checks: Mapping[str, bool] = field(default_factory=lambda: machine.LEASE_CHECKS)
    ttl_range: machine.TtlRange = (machine.MIN_TTL_SECONDS, machine.MAX_TTL_SECONDS)
    heartbeat_body: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = heartbeat_object
    heartbeat_response: Callable[[dict[str, Any]], Response] = JSONResponse
    # --- queue ---
    poll_rules: Mapping[str, Any] = field(default_factory=lambda: POLL_RULES)
    poll_answer: Mapping[str, Any] = field(default_factory=lambda: POLL_ANSWER)
    list_rules: Mapping[str, Any] = field(default_factory=lambda: LIST_RULES)
    stats_rules: Mapping[str, Any] = field(default_factory=lambda: STATS_RULES)
    worker_id_rules: Mapping[str, str] = field(default_factory=lambda: WORKER_ID_RULES)
    shadowed_routes: frozenset[str] = frozenset()

    def status_of(self, error: Exception) -> tuple[int, str]:
        """The (HTTP status, error.type) of a failure raised by a handler: the first matching row."""
        return next(value for kind, value in self.error_status.items() if isinstance(error, kind))

    def environment_checks_of(self, endpoint: str | None) -> Mapping[str, Refuse | None]:
        """The environment checks one endpoint runs: the shared ones, with that endpoint's differing cells."""
        return {**self.environment_checks, **self.endpoint_checks.get(endpoint or "", {})}

    def query_integer(self, query: Mapping[str, str], endpoint: str, name: str) -> int | None:
        """One documented integer query parameter of one endpoint, checked against its range."""
        bounds = self.query_integers[(endpoint, name)]
        return inputs.query_integer(query, name, minimum=bounds.minimum, maximum=bounds.maximum, message=bounds.message)
