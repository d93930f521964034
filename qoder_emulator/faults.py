"""Deliberate deviations (`--fault NAME`): an explicit list of small overrides of the emulator's rules.

A fault is a modifier of the one config object of rules.py: it replaces a cell of a table (a cell of the Stop
matrix, a row of the error table, the outcome of a token or environment check) or plugs one function into one rule
(a result wrapped, a different parser; the functions are in misimplementations.py, hand-written only where the
fault really is different code: a race, a stale answer). Everything else the faulty server does is the real code,
so it fails the way a real server with that one mistake would.

Adding a fault: one `Fault(...)` entry in FAULTS below, naming the rule it changes (`seam`, one of rules.SEAMS).
Two faults on one rule are refused at start-up.

`violates` names the requirement(s) of the conformance catalogue the deviation breaks; `consequences` names those
whose own checks may also fail because of it (a 400 where a stop was due also leaves the transition row unmet).
They are plain strings (the emulator never imports the suite): the meta-test (tests/test_meta_faults.py) runs the
suite against each fault and requires every `violates` ID among the failed requirements and nothing failed outside
`violates` + `consequences`; docs/fault-table.md is generated from this list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from qoder_emulator import errors
from qoder_emulator import misimplementations as wrong
from qoder_emulator.inputs import InvalidInput
from qoder_emulator.machine import (
    ACTIVE,
    CLAIMED,
    CONFLICT,
    LIVE_STATES,
    MATCH,
    MERGE_PATCH,
    MISMATCH,
    OMITTED,
    QUEUED,
    STARTING,
    STOPPED,
    STOPPING,
    UNCHANGED,
    UNCLAIMED,
    AckOutcome,
    Conflict,
    HeartbeatCell,
    stop_matrix,
)
from qoder_emulator.rules import (
    ACCEPT,
    CRASH,
    ENVIRONMENT_CHECKS,
    ERROR_STATUS,
    FIRST_PRINCIPAL,
    SEAMS,
    Refuse,
    Rules,
)

Modifier = Callable[[Rules], Rules]


class FaultError(ValueError):
    """An unknown fault name, or two faults fighting over one rule: a start-up error."""


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    seam: str  # the rule it changes (rules.SEAMS); the fault table's "seam" column
    change: Modifier
    violates: tuple[str, ...]  # requirement IDs of the conformance catalogue this deviation breaks
    consequences: tuple[str, ...] = ()  # requirement IDs whose own checks may fail as a consequence

    def __post_init__(self) -> None:
        if self.seam not in SEAMS:
            raise ValueError(f"fault {self.name!r}: unknown seam {self.seam!r}")
        if not self.violates:
            raise ValueError(f"fault {self.name!r}: name the requirement(s) it violates")


def cells(rule: str, changes: Mapping[Any, Any]) -> Modifier:
    """Replace some cells of one table of the rules; the other cells stay as they are."""
    return lambda rules: replace(rules, **{rule: {**getattr(rules, rule), **changes}})


def use(rule: str, value: object) -> Modifier:
    """Replace one rule (a function or a flag) outright."""
    return lambda rules: replace(rules, **{rule: value})


# The conforming graceful cells of the Stop matrix (default dialect), which faults copy into other cells.
GRACEFUL = {state: stop_matrix()[(state, False)] for state in LIVE_STATES}
INTO_STOPPED = GRACEFUL[QUEUED]  # stopped, stopped_at = now, stop_requested_at = now unless already set
INTO_STOPPING = GRACEFUL[ACTIVE]  # stopping, stop_requested_at = now

FAULTS: tuple[Fault, ...] = (
    Fault(
        "graceful-active-stops",
        "force=false on starting/active goes straight to stopped",
        "machine.stop",
        cells("stop_cells", {(STARTING, False): INTO_STOPPED, (ACTIVE, False): INTO_STOPPED}),
        violates=("STOP-TR-LIVE-GRACEFUL", "STOP-DRAIN"),
        consequences=(
            "STOP-BODY-OPTIONAL",
            "STOP-BODY-GRACEFUL",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "queued-drains-first",
        "force=false on queued goes to stopping, as if a queued item had work to drain",
        "machine.stop",
        cells("stop_cells", {(QUEUED, False): INTO_STOPPING}),
        violates=("STOP-TR-QUEUED",),
        consequences=(
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "confirm-keeps-stopping",
        "force=false on stopping answers stopping again (the confirming call is taken as a repeated request)",
        "machine.stop",
        cells("stop_cells", {(STOPPING, False): UNCHANGED}),
        violates=("STOP-TR-STOPPING-CONFIRM", "STOP-DRAIN"),
        consequences=(
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "stopped-graceful-conflict",
        "force=false on a stopped item answers 409 instead of returning the stopped item",
        "machine.stop",
        cells("stop_cells", {(STOPPED, False): CONFLICT, (STOPPED, True): CONFLICT}),
        violates=("STOP-TR-STOPPED-IDEMPOTENT",),
        consequences=(
            "STOP-BODY-OPTIONAL",
            "STOP-BODY-GRACEFUL",
            "STOP-RESP-OK",
            "STOP-RESP-SCHEMA",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "force-drains-live",
        "force=true on starting/active goes to stopping (force read as 'skip the wait', not 'skip the drain')",
        "machine.stop",
        cells("stop_cells", {(state, True): GRACEFUL[state] for state in LIVE_STATES}),
        violates=("STOP-TR-FORCE",),
        consequences=(
            "STOP-BODY-FORCE",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "force-on-stopping-noop",
        "force=true on a stopping item returns it unchanged ('a stop is already in progress')",
        "machine.stop",
        cells("stop_cells", {(STOPPING, True): UNCHANGED}),
        violates=("STOP-TR-FORCE",),
        consequences=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-TS-STOPPED-AT", "STOP-CONC-LINEARIZABLE"),
    ),
    Fault(
        "stopped-at-only-on-force",
        "a graceful stop into stopped (queued, or the drain's confirmation) leaves stopped_at null",
        "machine.stop",
        cells(
            "stop_cells",
            {(state, False): replace(INTO_STOPPED, stamp_stopped_at=False) for state in (QUEUED, STOPPING)},
        ),
        violates=("STOP-TS-STOPPED-AT",),
        consequences=("STOP-CONC-STOPPED-AT-ONCE",),
    ),
    Fault(
        "stopped-at-on-stopping",
        "the move to stopping also sets stopped_at (read as 'when the stop happened')",
        "machine.stop",
        cells(
            "stop_cells",
            {(state, False): replace(INTO_STOPPING, stamp_stopped_at=True) for state in (STARTING, ACTIVE)},
        ),
        violates=("STOP-TS-STOPPED-AT",),
    ),
    Fault(
        "stop-requested-at-not-set",
        "the move to stopping leaves stop_requested_at null",
        "machine.stop",
        cells("stop_cells", {(state, False): replace(GRACEFUL[state], requested="keep") for state in LIVE_STATES}),
        violates=("STOP-TS-STOP-REQUESTED",),
    ),
    Fault(
        "confirm-clears-stop-requested-at",
        "the confirming stop (stopping -> stopped) clears stop_requested_at back to null (the request counts as served)",  # noqa: E501
        "machine.stop",
        cells("stop_cells", {(STOPPING, False): replace(INTO_STOPPED, requested="clear")}),
        violates=("STOP-TS-STOP-REQUESTED-KEPT",),
    ),
    Fault(
        "stopped-at-refreshed",
        "a stop of an already stopped item answers it with a new stopped_at (and stores it)",
        "machine.stop",
        cells("stop_cells", {(STOPPED, False): INTO_STOPPED, (STOPPED, True): replace(INTO_STOPPED, requested="keep")}),
        violates=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-CONC-STOPPED-AT-ONCE"),
        consequences=("STOP-TS-STOPPED-AT",),
    ),
    Fault(
        "stop-resets-created-at",
        "the stopped item is rebuilt with created_at = now (copied from the create path)",
        "machine.stop",
        use("stop_result", wrong.rebuilt_with_new_created_at),
        violates=("STOP-RESP-UNCHANGED-FIELDS",),
    ),
    Fault(
        "stop-drops-metadata",
        "the stopped item is rebuilt without its metadata (the field's default, {}, is used)",
        "machine.stop",
        use("stop_result", wrong.rebuilt_without_metadata),
        violates=("STOP-RESP-UNCHANGED-FIELDS",),
    ),
    Fault(
        "stop-detaches-session",
        "a stop into stopped unlinks the item from its session (data.id becomes null)",
        "machine.stop",
        use("stop_result", wrong.session_released),
        violates=("STOP-RESP-UNCHANGED-FIELDS",),
        consequences=("STOP-RESP-SCHEMA", "CONV-ITEM-SCHEMA"),
    ),
    Fault(
        "stop-not-persisted",
        "stop answers the new state but does not store it",
        "store.commit_stop",
        use("persist_stop", False),
        violates=("STOP-RESP-PERSISTED",),
        consequences=(
            "STOP-TR-STOPPING-CONFIRM",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-DRAIN",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
            "STOP-CONC-STOPPED-AT-ONCE",
        ),
    ),
    Fault(
        "stop-answers-stale-item",
        "the stop is stored, but the answer is the item as it was loaded before the stop",
        "app.stop_item",
        use("stop_item", wrong.stop_answers_loaded_item),
        violates=("STOP-RESP-PERSISTED",),
        consequences=(
            "STOP-TR-QUEUED",
            "STOP-TR-LIVE-GRACEFUL",
            "STOP-TR-STOPPING-CONFIRM",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-TR-FORCE",
            "STOP-DRAIN",
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "stop-read-modify-write-race",
        "stop reads the item, awaits an audit write, then saves what it computed: concurrent stops both see 'active'",
        "app.stop_item",
        use("stop_item", wrong.stop_read_then_write),
        violates=("STOP-CONC-LINEARIZABLE",),
        consequences=("STOP-CONC-STOPPED-AT-ONCE",),
    ),
    Fault(
        "force-false-as-force",
        '{"force": false} is treated as a force stop',
        "app.stop_force",
        use("stop_force", wrong.force_if_key_present),
        violates=("STOP-BODY-GRACEFUL",),
        consequences=(
            "STOP-TR-LIVE-GRACEFUL",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "force-defaults-true",
        "a body without force (none, empty, {}) is a force stop",
        "app.stop_force",
        use("stop_force", wrong.force_unless_told_otherwise),
        violates=("STOP-BODY-OPTIONAL", "STOP-BODY-GRACEFUL"),
        consequences=(
            "STOP-TR-LIVE-GRACEFUL",
            "STOP-DRAIN",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "force-required",
        "a body without force (none, empty, {}) is refused: 400 'Missing required field: force'",
        "app.stop_force",
        use("stop_force", wrong.force_is_mandatory),
        violates=("STOP-BODY-OPTIONAL", "STOP-BODY-GRACEFUL"),
        consequences=(
            "STOP-TR-QUEUED",
            "STOP-TR-LIVE-GRACEFUL",
            "STOP-TR-STOPPING-CONFIRM",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-DRAIN",
            "STOP-RESP-OK",
            "STOP-RESP-SCHEMA",
            "STOP-RESP-PERSISTED",
            "STOP-RESP-UNCHANGED-FIELDS",
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-ERR-NOT-FOUND-WORK",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "force-compared-to-string",
        '{"force": true} is not read as force (the value is compared with the string "true")',
        "app.stop_force",
        use("stop_force", wrong.force_from_form_value),
        violates=("STOP-BODY-FORCE", "STOP-TR-FORCE"),
        consequences=(
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-TS-STOPPED-AT",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "empty-body-not-json",
        "an empty body is handed to the JSON parser and refused as 'not valid JSON'",
        "app.parse_json_body",
        use("parse_json_body", wrong.parse_every_body),
        violates=("STOP-BODY-OPTIONAL",),
        consequences=(
            "STOP-TR-QUEUED",
            "STOP-TR-LIVE-GRACEFUL",
            "STOP-TR-STOPPING-CONFIRM",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-OK",
            "STOP-RESP-SCHEMA",
            "STOP-RESP-PERSISTED",
            "STOP-RESP-UNCHANGED-FIELDS",
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "invalid-json-accepted",
        "a body that is not valid JSON is read as {} (a graceful stop) instead of refused",
        "app.parse_json_body",
        use("parse_json_body", wrong.parse_leniently),
        violates=("STOP-ERR-INVALID-JSON",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "invalid-json-uncaught",
        "a body that is not valid JSON raises out of the handler: 500 api_error",
        "app.parse_json_body",
        use("parse_json_body", wrong.parse_without_error_handling),
        violates=("STOP-ERR-INVALID-JSON",),
    ),
    Fault(
        "x-api-key-accepted",
        "a PAT in x-api-key is accepted like a Bearer token",
        "app.bearer_token",
        use("bearer_token", wrong.bearer_or_api_key),
        violates=("STOP-ERR-X-API-KEY",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "bearer-scheme-not-checked",
        "the token is the last word of Authorization whatever the scheme ('Token <PAT>' is accepted)",
        "app.bearer_token",
        use("bearer_token", wrong.last_word_of_authorization),
        violates=("STOP-ERR-UNAUTHENTICATED",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "cross-environment-lookup",
        "an item is found through any environment's path (no environment check)",
        "store.find_item",
        cells("item_lookup", {"other-environment": ACCEPT}),
        violates=("STOP-ERR-NOT-FOUND-CROSS-ENV",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "unknown-work-item-crashes",
        "an unknown work ID raises KeyError out of the lookup: 500 api_error",
        "store.find_item",
        cells("item_lookup", {"unknown": CRASH}),
        violates=("STOP-ERR-NOT-FOUND-WORK",),
    ),
    Fault(
        "cross-environment-forbidden",
        "an item addressed through another of the caller's environments is answered 403 permission_error",
        "store.find_item",
        cells(
            "item_lookup", {"other-environment": Refuse(errors.Forbidden, "Work item belongs to another environment")}
        ),
        violates=("STOP-ERR-NOT-FOUND-CROSS-ENV",),
    ),
    Fault(
        "anonymous-as-default-principal",
        "a request without a usable token acts as the first principal (a local-development default left on)",
        "store.authenticate",
        cells("token_rules", {"missing": FIRST_PRINCIPAL, "unknown": FIRST_PRINCIPAL}),
        violates=("STOP-ERR-UNAUTHENTICATED",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "expired-pat-accepted",
        "an expired PAT is accepted (only whether the token exists is checked)",
        "store.authenticate",
        cells("token_rules", {"expired": ACCEPT}),
        violates=("STOP-ERR-EXPIRED-PAT",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "expired-pat-as-403",
        "an expired PAT is answered 403 permission_error ('known, but no longer allowed')",
        "store.authenticate",
        cells("token_rules", {"expired": Refuse(errors.Forbidden, "PAT expired")}),
        violates=("STOP-ERR-EXPIRED-PAT",),
    ),
    Fault(
        "authorization-skipped",
        "any authenticated caller may use any environment (the owner is never compared)",
        "store.environment_for",
        cells("environment_checks", {"foreign": None}),
        violates=("STOP-ERR-FORBIDDEN",),
        consequences=("STOP-ERR-ENVELOPE",),
    ),
    Fault(
        "unknown-environment-as-403",
        "an environment that does not exist is answered 403 (one check for 'missing or not yours')",
        "store.environment_for",
        cells("environment_checks", {"missing": ENVIRONMENT_CHECKS["foreign"]}),
        violates=("STOP-ERR-NOT-FOUND-ENV",),
    ),
    Fault(
        "not-self-hosted-unchecked",
        "stop does not check that the environment is self_hosted (the item is then simply not found there: 404)",
        "store.environment_for",
        cells("environment_checks", {"not-self-hosted": None}),
        violates=("STOP-ERR-NOT-SELF-HOSTED",),
    ),
    Fault(
        "validation-errors-422",
        "malformed request bodies are answered 422 (FastAPI's default) instead of 400",
        "app.error_status",
        cells("error_status", {InvalidInput: (422, "invalid_request_error")}),
        violates=("STOP-ERR-INVALID-JSON",),
    ),
    Fault(
        "invalid-request-type-typo",
        "400s carry error.type 'invalid_request' instead of 'invalid_request_error'",
        "app.error_status",
        cells(
            "error_status",
            {
                kind: (status, "invalid_request")
                for kind, (status, type_) in ERROR_STATUS.items()
                if type_ == "invalid_request_error"
            },
        ),
        violates=(
            "STOP-ERR-INVALID-JSON",
            "STOP-ERR-NOT-SELF-HOSTED",
            "ACK-ERR-CONFLICT",
            "HEARTBEAT-ERR-CONFLICT",
            "ACK-WORKER-ID-MISMATCH",
        ),
    ),
    Fault(
        "not-self-hosted-as-403",
        "a stop through a cloud environment is answered 403 permission_error",
        "app.error_status",
        cells("error_status", {errors.NotSelfHosted: (403, "permission_error")}),
        violates=("STOP-ERR-NOT-SELF-HOSTED",),
    ),
    Fault(
        "unauthenticated-as-403",
        "authentication failures are answered 403 permission_error instead of 401 authentication_error",
        "app.error_status",
        cells("error_status", {errors.Unauthenticated: (403, "permission_error")}),
        violates=("STOP-ERR-UNAUTHENTICATED", "STOP-ERR-X-API-KEY", "STOP-ERR-EXPIRED-PAT"),
    ),
    Fault(
        "forbidden-as-404",
        "another principal's environment is answered 404 not_found_error (hiding that it exists)",
        "app.error_status",
        cells("error_status", {errors.Forbidden: (404, "not_found_error")}),
        violates=("STOP-ERR-FORBIDDEN",),
    ),
    Fault(
        "not-found-type-typo",
        "a missing work item carries error.type 'not_found' instead of 'not_found_error'",
        "app.error_status",
        cells("error_status", {errors.WorkItemNotFound: (404, "not_found")}),
        violates=("STOP-ERR-NOT-FOUND-WORK", "STOP-ERR-NOT-FOUND-CROSS-ENV"),
    ),
    Fault(
        "error-envelope-flat",
        'errors are answered {"type": "<error_type>", "message": ...} (the inner error object is missing)',
        "app.error_response",
        use("error_envelope", wrong.flat_envelope),
        violates=("STOP-ERR-ENVELOPE", "CONV-ERR-ENVELOPE"),
        consequences=(
            "ACK-ERR-CONFLICT",
            "HEARTBEAT-ERR-PRECONDITION",
            "HEARTBEAT-ERR-CONFLICT",
            "STOP-ERR-INVALID-JSON",
            "STOP-ERR-NOT-SELF-HOSTED",
            "STOP-ERR-UNAUTHENTICATED",
            "STOP-ERR-X-API-KEY",
            "STOP-ERR-EXPIRED-PAT",
            "STOP-ERR-FORBIDDEN",
            "STOP-ERR-NOT-FOUND-ENV",
            "STOP-ERR-NOT-FOUND-WORK",
            "STOP-ERR-NOT-FOUND-CROSS-ENV",
            "ACK-WORKER-ID-MISMATCH",
        ),
    ),
    Fault(
        "error-message-missing",
        "error objects carry no message (kept out of answers 'so nothing leaks')",
        "app.error_response",
        use("error_envelope", wrong.envelope_without_message),
        violates=("STOP-ERR-ENVELOPE", "CONV-ERR-ENVELOPE"),
    ),
    Fault(
        "error-without-content-type",
        "error bodies are JSON text sent without a Content-Type header",
        "app.error_response",
        use("error_media_type", None),
        violates=("STOP-ERR-ENVELOPE", "CONV-ERR-ENVELOPE"),
    ),
    Fault(
        "stop-answers-202",
        "a successful stop is answered 202 Accepted (the stop is 'asynchronous')",
        "app.stop_response",
        use("stop_response", wrong.accepted_response),
        violates=("STOP-RESP-OK",),
        consequences=(
            "STOP-BODY-OPTIONAL",
            "STOP-BODY-GRACEFUL",
            "STOP-BODY-FORCE",
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-CONC-LINEARIZABLE",
        ),
    ),
    Fault(
        "stop-response-text-plain",
        "a successful stop is answered with Content-Type text/plain (the JSON is written as a string)",
        "app.stop_response",
        use("stop_response", wrong.text_response),
        violates=("STOP-RESP-JSON",),
    ),
    Fault(
        "stop-response-excludes-null",
        "the stop answer leaves out null fields (response_model_exclude_none), e.g. stopped_at while live",
        "app.stop_response",
        use("stop_response", wrong.response_without_nulls),
        violates=("STOP-RESP-SCHEMA",),
        consequences=(
            "STOP-TR-STOPPED-IDEMPOTENT",
            "STOP-RESP-PERSISTED",
            "STOP-RESP-UNCHANGED-FIELDS",
            "STOP-TS-STOPPED-AT",
        ),
    ),
    Fault(
        "timestamps-without-offset",
        "timestamps are rendered by isoformat() of naive UTC datetimes: no Z, no offset (not RFC 3339)",
        "machine.to_json",
        use("timestamp", wrong.naive_timestamp),
        violates=("STOP-RESP-SCHEMA", "CONV-ITEM-SCHEMA", "HEARTBEAT-RESP-SCHEMA"),
        consequences=(
            "STOP-TS-STOPPED-AT",
            "STOP-TS-STOP-REQUESTED",
            "STOP-CONC-STOPPED-AT-ONCE",
            "ACK-TS-ACKNOWLEDGED-AT",
            # the server's own timestamps are not RFC 3339, so their echo is refused as malformed (400)
            "HEARTBEAT-TS-STARTED-AT",
            "HEARTBEAT-ECHO",
            "HEARTBEAT-ERR-PRECONDITION",
            "HEARTBEAT-ERR-CONFLICT",
        ),
    ),
    Fault(
        "timestamps-in-local-zone",
        "timestamps are rendered in the server's local zone (+08:00) instead of UTC, with the offset written correctly",
        "machine.to_json",
        use("timestamp", wrong.local_zone_timestamp),
        violates=("STOP-TS-UTC", "CONV-TS-UTC"),
    ),
    # --- matrix ---
    Fault(
        "ack-without-acknowledged-at",
        "ack moves a queued item to starting but leaves acknowledged_at null",
        "machine.ack",
        cells("ack_cells", {QUEUED: AckOutcome(STARTING)}),
        violates=("ACK-TS-ACKNOWLEDGED-AT",),
    ),
    Fault(
        "ack-retry-clears-lease",
        "a retried ack (starting, active) sets the item up afresh: started_at and latest_heartbeat_at back to null",
        "machine.ack",
        cells(
            "ack_cells",
            dict.fromkeys((STARTING, ACTIVE), AckOutcome(None, clear=("started_at", "latest_heartbeat_at"))),
        ),
        violates=("ACK-RETRY-SAFE",),
    ),
    Fault(
        "ack-drops-metadata",
        "ack of a queued item stores and answers it without its metadata (the record is rebuilt field by field)",
        "machine.ack",
        cells("ack_cells", {QUEUED: AckOutcome(STARTING, acknowledged_at="now", clear=("metadata",))}),
        violates=("ACK-TR-QUEUED",),
    ),
    Fault(
        "ack-refuses-accept-json",
        "an ack sent with Accept: application/json (as the SDKs send it) is answered 406",
        "app.negotiate",
        use("refuse_json_accept", frozenset({"ack"})),
        violates=("ACK-RESP-OK",),
        consequences=(
            "ACK-TR-QUEUED",
            "ACK-TS-ACKNOWLEDGED-AT",
            "ACK-RETRY-SAFE",
            "ACK-ERR-CONFLICT",
            "CONV-ITEM-SCHEMA",
        ),
    ),
    Fault(
        "conflict-type-from-conventions",
        "409 answers carry error.type conflict_error (conventions/errors), not the work pages' invalid_request_error",
        "app.error_status",
        cells("error_status", {Conflict: (409, "conflict_error")}),
        violates=("ACK-ERR-CONFLICT", "HEARTBEAT-ERR-CONFLICT", "ACK-WORKER-ID-MISMATCH"),
    ),
    Fault(
        "metadata-no-overwrite",
        "a string value in the patch adds a new key but does not replace an existing one",
        "machine.update_metadata",
        use("metadata_merge", replace(MERGE_PATCH, string="insert-only")),
        violates=("UPDATE-MERGE-UPSERT",),
    ),
    Fault(
        "metadata-null-ignored",
        "null values in the patch are skipped instead of deleting their keys",
        "machine.update_metadata",
        use("metadata_merge", replace(MERGE_PATCH, null="ignore")),
        violates=("UPDATE-MERGE-DELETE",),
    ),
    Fault(
        "metadata-replaces-instead-of-merge",
        "the patch replaces the whole metadata map: keys it does not name are dropped",
        "machine.update_metadata",
        use("metadata_merge", replace(MERGE_PATCH, unnamed="drop")),
        violates=("UPDATE-MERGE-KEEP",),
    ),
    Fault(
        "metadata-omitted-clears",
        "a body without metadata clears the item's metadata instead of returning the item unchanged",
        "machine.update_metadata",
        use("metadata_merge", replace(MERGE_PATCH, omitted="clear")),
        violates=("UPDATE-OMIT-UNCHANGED",),
    ),
    Fault(
        "metadata-update-stamps-heartbeat",
        "an update also sets latest_heartbeat_at to now (any worker call taken for a sign of life)",
        "machine.update_metadata",
        use("update_result", wrong.update_stamps_heartbeat),
        violates=("UPDATE-ONLY-METADATA",),
    ),
    Fault(
        "metadata-update-not-persisted",
        "update metadata answers the merged item but does not store it",
        "store.commit_update",
        use("persist_update", False),
        violates=("UPDATE-MERGE-UPSERT", "UPDATE-MERGE-DELETE"),
    ),
    Fault(
        "update-answers-201",
        "a successful metadata update is answered 201 Created",
        "app.update_response",
        use("update_status", 201),
        violates=("UPDATE-RESP-OK",),
    ),
    Fault(
        "get-refuses-accept-json",
        "a get sent with Accept: application/json (as the SDKs send it) is answered 406",
        "app.negotiate",
        use("refuse_json_accept", frozenset({"get"})),
        violates=("GET-RESP-OK",),
        consequences=("GET-RESP-ITEM", "CONV-ITEM-SCHEMA"),
    ),
    Fault(
        "get-last-seen-as-heartbeat",
        "each read of an item with a lease stamps 'last seen'; later reads answer that stamp as latest_heartbeat_at",
        "store.get",
        lambda rules: replace(rules, read_item=wrong.LastSeenOnRead()),  # one stamp table per emulator
        violates=("GET-RESP-ITEM",),
        # the suite reads an item back to learn its last heartbeat: a stale read makes its echo stale too
        consequences=(
            "ACK-RETRY-SAFE",
            "UPDATE-ONLY-METADATA",
            "UPDATE-OMIT-UNCHANGED",
            "HEARTBEAT-TS-LATEST",
            "HEARTBEAT-ERR-PRECONDITION",
        ),
    ),
    Fault(
        "get-answers-text-plain",
        "a get is answered with Content-Type text/plain (the JSON is written as a string)",
        "app.get_response",
        use("get_response", wrong.text_response),
        violates=("CONV-JSON",),
    ),
    # --- heartbeat ---
    Fault(
        "heartbeat-ignores-expected",
        "expected_last_heartbeat is never checked: a superseded or foreign one is accepted (never 412)",
        "machine.heartbeat_lease",
        cells("lease_checks", {CLAIMED: True, MISMATCH: True}),
        violates=("HEARTBEAT-ERR-PRECONDITION",),
        consequences=("HEARTBEAT-NO-HEARTBEAT-TAKEN", "CONV-ERR-ENVELOPE"),
    ),
    Fault(
        "heartbeat-echo-rejected",
        "the exact echo of the last heartbeat is refused with 412 (compared with the time as stored, not as written)",
        "machine.heartbeat_lease",
        cells("lease_checks", {MATCH: False}),
        violates=("HEARTBEAT-ECHO",),
    ),
    Fault(
        "no-heartbeat-rejected",
        "NO_HEARTBEAT is refused with 412 even on an item that has no heartbeat yet",
        "machine.heartbeat_lease",
        cells("lease_checks", {UNCLAIMED: False}),
        violates=("HEARTBEAT-NO-HEARTBEAT",),
    ),
    Fault(
        "expected-last-heartbeat-required",
        "a heartbeat without expected_last_heartbeat is refused with 412 (no unconditional update)",
        "machine.heartbeat_lease",
        cells("lease_checks", {OMITTED: False}),
        violates=("HEARTBEAT-UNCONDITIONAL",),
    ),
    Fault(
        "heartbeat-on-queued-accepted",
        "a heartbeat on a queued item is accepted like one on an active item (the state is not checked)",
        "machine.heartbeat",
        cells("heartbeat_cells", {QUEUED: HeartbeatCell()}),
        violates=("HEARTBEAT-ERR-CONFLICT",),
        consequences=("CONV-ERR-ENVELOPE",),
    ),
    Fault(
        "heartbeat-on-stopped-accepted",
        "a heartbeat on a stopped item is accepted and recorded, its lease not renewed (as on stopping)",
        "machine.heartbeat",
        cells("heartbeat_cells", {STOPPED: HeartbeatCell(extend=False)}),
        violates=("HEARTBEAT-ERR-CONFLICT",),
        # the Stop model reads a heartbeat after a stop as a check that the stop was stored
        consequences=("CONV-ERR-ENVELOPE", "STOP-RESP-PERSISTED"),
    ),
    Fault(
        "first-heartbeat-stays-starting",
        "the first heartbeat stamps started_at but leaves the item starting",
        "machine.heartbeat",
        cells("heartbeat_cells", {STARTING: HeartbeatCell(stamp_started_at=True)}),
        violates=("HEARTBEAT-TR-FIRST",),
        consequences=("HEARTBEAT-TS-STARTED-AT",),  # the next heartbeat is a "first" one again
    ),
    Fault(
        "heartbeat-on-active-restarts",
        "a heartbeat on an active item puts it back to starting (every heartbeat taken as a new claim)",
        "machine.heartbeat",
        cells("heartbeat_cells", {ACTIVE: HeartbeatCell(state=STARTING)}),
        violates=("HEARTBEAT-TR-ACTIVE",),
    ),
    Fault(
        "started-at-moves-on-every-heartbeat",
        "every heartbeat sets started_at again (read as 'when the current lease started')",
        "machine.heartbeat",
        cells("heartbeat_cells", {ACTIVE: HeartbeatCell(stamp_started_at=True)}),
        violates=("HEARTBEAT-TS-STARTED-AT",),
    ),
    Fault(
        "started-at-not-set",
        "the first heartbeat moves the item to active but leaves started_at null",
        "machine.heartbeat",
        cells("heartbeat_cells", {STARTING: HeartbeatCell(state=ACTIVE)}),
        violates=("HEARTBEAT-TS-STARTED-AT",),
    ),
    Fault(
        "latest-heartbeat-not-stored",
        "a heartbeat answers its time as last_heartbeat but the item's latest_heartbeat_at is not updated",
        "machine.heartbeat",
        cells(
            "heartbeat_cells",
            {
                STARTING: HeartbeatCell(state=ACTIVE, stamp_started_at=True, beat=False),
                ACTIVE: HeartbeatCell(beat=False),
            },
        ),
        violates=("HEARTBEAT-TS-LATEST",),
        consequences=("HEARTBEAT-ECHO",),
    ),
    Fault(
        "ttl-not-clamped",
        "desired_ttl_seconds is applied as sent: 1 stays 1 and 10000 stays 10000",
        "machine.heartbeat_ttl",
        use("ttl_range", (1, 2**31 - 1)),
        violates=("HEARTBEAT-TTL-CLAMP",),
    ),
    Fault(
        "heartbeat-answers-202",
        "a successful heartbeat is answered 202 Accepted",
        "app.heartbeat_response",
        use("heartbeat_response", wrong.accepted_response),
        violates=("HEARTBEAT-RESP-OK",),
    ),
    Fault(
        "heartbeat-response-text-plain",
        "a successful heartbeat is answered with Content-Type text/plain (the JSON is written as a string)",
        "app.heartbeat_response",
        use("heartbeat_response", wrong.text_response),
        violates=("CONV-JSON",),
    ),
    Fault(
        "heartbeat-answers-item",
        "a successful heartbeat answers the Work item it was sent about instead of a Work heartbeat object",
        "app.heartbeat_response",
        use("heartbeat_body", lambda heartbeat, item: item),
        violates=("HEARTBEAT-RESP-SCHEMA",),
        consequences=("HEARTBEAT-TTL-CLAMP",),
    ),
    # --- queue --- (poll, list, stats, Worker-ID on ack)
    Fault(
        "poll-delivers-started-items",
        "poll also delivers items that are starting or active (the claimable set is every unfinished item)",
        "store.poll",
        cells("poll_rules", {"pollable_states": (QUEUED, STARTING, ACTIVE)}),
        violates=("POLL-ONLY-QUEUED",),
    ),
    Fault(
        "poll-acknowledges",
        "poll acknowledges the item it delivers (queued -> starting), answering the item as it was",
        "store.poll",
        cells("poll_rules", {"acknowledges": True}),
        violates=("POLL-NOT-ACK",),
        consequences=("ACK-WORKER-ID-MISMATCH", "POLL-RECLAIM"),
    ),
    Fault(
        "poll-never-redelivers",
        "a delivered item is never delivered again, whatever reclaim_older_than_ms says",
        "store.poll",
        cells("poll_rules", {"redelivery": "never"}),
        violates=("POLL-RECLAIM",),
        consequences=("POLL-RESP-OK",),
    ),
    Fault(
        "poll-empty-204",
        "a poll with no work answers 204 No Content instead of 200 with JSON null",
        "app.poll",
        cells("poll_answer", {"empty_status": 204}),
        violates=("POLL-EMPTY-NULL",),
    ),
    Fault(
        "poll-wraps-item",
        'a poll answers {"data": item} (a list-style envelope) instead of the Work item',
        "app.poll",
        cells("poll_answer", {"wrap": "data"}),
        violates=("POLL-RESP-OK",),
        consequences=("CONV-ITEM-SCHEMA",),
    ),
    Fault(
        "block-ms-read-as-centiseconds",
        "the long poll waits block_ms x 10 ms (block_ms=500 holds the request 5 s)",
        "app.poll",
        cells("poll_answer", {"wait_per_block_ms": 0.01}),
        violates=("POLL-BLOCK-MS",),
    ),
    Fault(
        "list-descending",
        "list pages are in descending ID order (newest first)",
        "app.list_work",
        cells("list_rules", {"order": "descending"}),
        violates=("LIST-ORDER",),
        consequences=("LIST-ENVELOPE", "LIST-NEXT-PAGE", "LIST-CURSORS"),
    ),
    Fault(
        "list-default-limit-10",
        "a list without limit answers 10 items a page",
        "app.list_work",
        cells("list_rules", {"default_limit": 10}),
        violates=("LIST-LIMIT-DEFAULT",),
    ),
    Fault(
        "list-limit-not-capped",
        "limit above 100 is refused with 400 instead of capped",
        "app.list_work",
        cells("list_rules", {"over_max": "reject"}),
        violates=("LIST-LIMIT-CAP",),
    ),
    Fault(
        "list-next-page-null",
        "next_page is always null, even when has_more is true",
        "app.list_work",
        cells("list_rules", {"next_page": "null"}),
        violates=("LIST-NEXT-PAGE",),
    ),
    Fault(
        "list-without-next-page",
        "the list envelope is the generic one of conventions/pagination, without next_page",
        "app.list_work",
        cells("list_rules", {"fields": ("data", "first_id", "last_id", "has_more")}),
        violates=("LIST-ENVELOPE",),
        consequences=("LIST-NEXT-PAGE",),
    ),
    Fault(
        "list-cursor-inclusive",
        "before_id includes the cursor's own record in the page",
        "app.list_work",
        cells("list_rules", {"cursor_inclusive": True}),
        violates=("LIST-CURSORS",),
    ),
    Fault(
        "stats-depth-counts-pending",
        "stats depth counts every queued item, pending deliveries included",
        "store.stats",
        cells("stats_rules", {"depth_counts_pending": True}),
        violates=("STATS-DEPTH",),
    ),
    Fault(
        "stats-counters-as-strings",
        'stats counters are written as JSON strings ("3"), as int64 fields in some JSON encoders are',
        "store.stats",
        cells("stats_rules", {"counters_as": "str"}),
        violates=("STATS-SCHEMA",),
        consequences=("STATS-DEPTH",),
    ),
    Fault(
        "stats-answers-text-plain",
        "the stats answer is labelled text/plain (the body is still JSON)",
        "store.stats",
        cells("stats_rules", {"media_type": "text/plain"}),
        violates=("CONV-JSON",),
    ),
    Fault(
        "stats-route-shadowed",
        "GET /work/stats is routed as GET /work/{work_id} (work_id 'stats'): 404 not_found_error",
        "app.routes",
        use("shadowed_routes", frozenset({"stats"})),
        violates=("STATS-RESP-OK",),
        consequences=("STATS-SCHEMA", "STATS-DEPTH", "CONV-JSON"),
    ),
    Fault(
        "worker-id-mismatch-accepted",
        "ack accepts a Worker-ID different from the one the delivering poll carried",
        "store.ack_worker_id",
        cells("worker_id_rules", {"different": ACCEPT}),
        violates=("ACK-WORKER-ID-MISMATCH",),
    ),
    Fault(
        "worker-id-match-conflicts",
        "ack answers 409 whenever poll and ack both carried a Worker-ID, even the same one (the check inverted)",
        "store.ack_worker_id",
        cells("worker_id_rules", {"same": "conflict"}),
        violates=("POLL-WORKER-PROTOCOL",),
    ),
)


# --- errors ---
# The error tables of the other work pages (list, poll, get, update metadata, ack, heartbeat, stats). Their access
# rows are answered by the same shared rules as Stop's, so a fault of a shared rule also breaks those pages' rows:
# ALSO_VIOLATES adds their requirement IDs to the faults above (one block here, so the Stop entries stay as written).
# Then one fault per input rule and per endpoint access rule.
_ALL = ("LIST", "POLL", "GET", "UPDATE", "ACK", "HEARTBEAT", "STATS")
_ITEM = ("GET", "UPDATE", "ACK", "HEARTBEAT")


def _each(endpoints: tuple[str, ...], row: str) -> tuple[str, ...]:
    """The requirement of one access row on each endpoint's page (`GET-ERR-FORBIDDEN`, ...)."""
    return tuple(f"{endpoint}-ERR-{row}" for endpoint in endpoints)


_INPUT_ROWS = (
    "LIST-ERR-LIMIT",
    "LIST-ERR-CURSORS",
    "POLL-ERR-BLOCK-MS",
    "POLL-ERR-RECLAIM",
    "HEARTBEAT-ERR-TTL",
    "HEARTBEAT-ERR-EXPECTED",
    "UPDATE-ERR-INVALID-JSON",
    "UPDATE-ERR-METADATA-VALUE",
)
_ACCESS_ROWS = (
    *_each(_ALL, "NOT-SELF-HOSTED"),
    *_each(_ALL, "UNAUTHENTICATED"),
    *_each(_ALL, "EXPIRED-PAT"),
    "CONV-ERR-X-API-KEY",
    *_each(_ALL, "FORBIDDEN"),
    *_each(_ALL, "NOT-FOUND-ENV"),
    *_each(_ITEM, "NOT-FOUND-WORK"),
    *_each(_ITEM, "NOT-FOUND-CROSS-ENV"),
)
# A refusal that became a 200 leaves no error envelope to judge: CONV-ERR-ENVELOPE fails with the row.
_ANSWERED = ("CONV-ERR-ENVELOPE",)

# fault name -> (requirements it also violates, further consequences)
ALSO_VIOLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "invalid-json-accepted": (("UPDATE-ERR-INVALID-JSON",), _ANSWERED),
    "invalid-json-uncaught": (("UPDATE-ERR-INVALID-JSON",), ()),
    "x-api-key-accepted": (("CONV-ERR-X-API-KEY",), _ANSWERED),
    "bearer-scheme-not-checked": (_each(_ALL, "UNAUTHENTICATED"), _ANSWERED),
    "cross-environment-lookup": (_each(_ITEM, "NOT-FOUND-CROSS-ENV"), _ANSWERED),
    "unknown-work-item-crashes": (_each(_ITEM, "NOT-FOUND-WORK"), ()),
    "cross-environment-forbidden": (_each(_ITEM, "NOT-FOUND-CROSS-ENV"), ()),
    "anonymous-as-default-principal": (_each(_ALL, "UNAUTHENTICATED"), _ANSWERED),
    "expired-pat-accepted": (_each(_ALL, "EXPIRED-PAT"), _ANSWERED),
    "expired-pat-as-403": (_each(_ALL, "EXPIRED-PAT"), ()),
    "authorization-skipped": (_each(_ALL, "FORBIDDEN"), _ANSWERED),
    "unknown-environment-as-403": (_each(_ALL, "NOT-FOUND-ENV"), ()),
    # list, poll and stats through a cloud environment then answer 200 (nothing of theirs is there)
    "not-self-hosted-unchecked": (_each(_ALL, "NOT-SELF-HOSTED"), _ANSWERED),
    "validation-errors-422": (_INPUT_ROWS, ()),
    "invalid-request-type-typo": ((*_INPUT_ROWS, *_each(_ALL, "NOT-SELF-HOSTED")), ()),
    "not-self-hosted-as-403": (_each(_ALL, "NOT-SELF-HOSTED"), ()),
    "unauthenticated-as-403": (
        (*_each(_ALL, "UNAUTHENTICATED"), *_each(_ALL, "EXPIRED-PAT"), "CONV-ERR-X-API-KEY"),
        (),
    ),
    "forbidden-as-404": (_each(_ALL, "FORBIDDEN"), ()),
    "not-found-type-typo": ((*_each(_ITEM, "NOT-FOUND-WORK"), *_each(_ITEM, "NOT-FOUND-CROSS-ENV")), ()),
    "error-envelope-flat": (("CONV-ERR-ENVELOPE",), (*_INPUT_ROWS, *_ACCESS_ROWS)),
    "error-message-missing": (("CONV-ERR-ENVELOPE",), ()),
    "error-without-content-type": (("CONV-ERR-ENVELOPE",), ()),
}


def _also(fault: Fault) -> Fault:
    violates, consequences = ALSO_VIOLATES.get(fault.name, ((), ()))
    more = tuple(rid for rid in consequences if rid not in fault.consequences and rid not in violates)
    return replace(fault, violates=(*fault.violates, *violates), consequences=(*fault.consequences, *more))


def _integer_range(endpoint: str, name: str, **bounds: int | None) -> Modifier:
    """One integer query parameter's range changed (its error message kept)."""
    return lambda rules: replace(
        rules,
        query_integers={
            **rules.query_integers,
            (endpoint, name): replace(rules.query_integers[(endpoint, name)], **bounds),
        },
    )


def _endpoint_checks(endpoint: str, changes: Mapping[str, Refuse | None]) -> Modifier:
    """One endpoint's environment checks changed (the other endpoints keep the shared ones)."""
    return lambda rules: replace(
        rules,
        endpoint_checks={**rules.endpoint_checks, endpoint: {**rules.endpoint_checks.get(endpoint, {}), **changes}},
    )


ERROR_FAULTS: tuple[Fault, ...] = (
    Fault(
        "list-limit-zero-accepted",
        "list takes limit=0 as 'the default page size' instead of refusing it",
        "app.query_integers",
        _integer_range("list", "limit", minimum=0),
        violates=("LIST-ERR-LIMIT",),
        consequences=_ANSWERED,
    ),
    Fault(
        "list-page-cursor-not-exclusive",
        "only before_id and after_id exclude each other (conventions/pagination's rule); page is combined with either",
        "app.list_cursors",
        use("exclusive_cursors", ("before_id", "after_id")),
        violates=("LIST-ERR-CURSORS",),
        consequences=_ANSWERED,
    ),
    Fault(
        "poll-block-ms-unbounded",
        "poll accepts any positive block_ms (1000 and more wait as long as asked)",
        "app.query_integers",
        _integer_range("poll", "block_ms", maximum=None),
        violates=("POLL-ERR-BLOCK-MS",),
        consequences=_ANSWERED,
    ),
    Fault(
        "reclaim-negative-accepted",
        "poll accepts a negative reclaim_older_than_ms (every delivered item is reclaimable at once)",
        "app.query_integers",
        _integer_range("poll", "reclaim_older_than_ms", minimum=None),
        violates=("POLL-ERR-RECLAIM",),
        consequences=_ANSWERED,
    ),
    Fault(
        "ttl-zero-accepted",
        "heartbeat clamps desired_ttl_seconds=0 to the minimum instead of refusing it",
        "app.query_integers",
        _integer_range("heartbeat", "desired_ttl_seconds", minimum=0),
        violates=("HEARTBEAT-ERR-TTL",),
        consequences=_ANSWERED,
    ),
    Fault(
        "expected-heartbeat-garbage-accepted",
        "expected_last_heartbeat is an opaque string: a value that is no timestamp gets 412 (no match), not 400",
        "app.expected_last_heartbeat",
        use("expected_heartbeat", wrong.expected_heartbeat_unchecked),
        violates=("HEARTBEAT-ERR-EXPECTED",),
    ),
    Fault(
        "metadata-number-accepted",
        "update metadata stores numbers and booleans as their JSON text instead of refusing them",
        "app.metadata_patch",
        use("metadata_patch", wrong.metadata_patch_coercing),
        violates=("UPDATE-ERR-METADATA-VALUE",),
        consequences=_ANSWERED,
    ),
    Fault(
        "ack-skips-self-hosted-check",
        "ack does not check that the environment is self_hosted (the item is then not found there: 404)",
        "app.endpoint_environment_checks",
        _endpoint_checks("ack", {"not-self-hosted": None}),
        violates=("ACK-ERR-NOT-SELF-HOSTED",),
    ),
    Fault(
        "stats-unknown-env-500",
        "stats reads the queue of an environment that does not exist without checking: 500 api_error",
        "app.endpoint_environment_checks",
        _endpoint_checks("stats", {"missing": None}),
        violates=("STATS-ERR-NOT-FOUND-ENV",),
    ),
)
FAULTS = (*(_also(fault) for fault in FAULTS), *ERROR_FAULTS)


def known_faults() -> dict[str, Fault]:
    """Every fault by name, sorted."""
    by_name = {fault.name: fault for fault in FAULTS}
    if len(by_name) != len(FAULTS):
        raise ValueError("two faults share a name")
    return dict(sorted(by_name.items()))


def resolve(names: Iterable[str] = ()) -> Rules:
    """The conforming rules changed by each named fault (at most one fault per rule); names repeated count once."""
    registry = known_faults()
    rules = Rules()
    seams: dict[str, str] = {}
    for name in names:
        if name not in registry:
            raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(registry)}")
        chosen = registry[name]
        if seams.get(chosen.seam, name) != name:
            raise FaultError(f"faults {seams[chosen.seam]!r} and {name!r} both replace {chosen.seam}; pick one")
        if name not in rules.names:
            seams[chosen.seam] = name
            rules = replace(chosen.change(rules), names=(*rules.names, name))
    return rules


def describe() -> str:
    """The `--list-faults` text."""
    return "\n".join(
        f"{f.name:32} {f.description}\n{'':32} violates: {', '.join(f.violates)}" for f in known_faults().values()
    )
