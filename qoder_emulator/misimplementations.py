"""Plausible wrong implementations, each registered as a named fault (see faults.py).

Every function here is what a developer could really have written at that seam: it must look like an honest
implementation with one mistake, so that a conformance suite run against it fails for the right reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from qoder_emulator import app, machine, store
from qoder_emulator.config import EmulatorConfig, Environment, Principal
from qoder_emulator.faults import fault
from qoder_emulator.inputs import EMPTY, NOT_JSON, InvalidInput
from qoder_emulator.machine import ACTIVE, QUEUED, STARTING, STOPPED, STOPPING, WorkItem


@fault(
    "graceful-active-stops",
    "force=false on starting/active goes straight to stopped",
    seam="machine.stop",
    violates=("STOP-TR-LIVE-GRACEFUL", "STOP-DRAIN"),
    consequences=(
        "STOP-BODY-OPTIONAL",
        "STOP-BODY-GRACEFUL",
        "STOP-RESP-PERSISTED",
        "STOP-TS-STOPPED-AT",
        "STOP-CONC-LINEARIZABLE",
    ),
)
def stop_without_drain(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Reads "stop" as "make it stopped" and forgets the drain phase of a graceful stop."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if item.state in (QUEUED, STARTING, ACTIVE, STOPPING):
        return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=item.stop_requested_at or now)
    raise AssertionError(item.state)


@fault(
    "stop-not-persisted",
    "stop answers the new state but does not store it",
    seam="store.commit_stop",
    violates=("STOP-RESP-PERSISTED",),
    consequences=(
        "STOP-TR-STOPPING-CONFIRM",
        "STOP-TR-STOPPED-IDEMPOTENT",
        "STOP-DRAIN",
        "STOP-TS-STOPPED-AT",
        "STOP-CONC-LINEARIZABLE",
        "STOP-CONC-STOPPED-AT-ONCE",
    ),
)
def commit_stop_forgotten(items: MutableMapping[str, WorkItem], new_item: WorkItem) -> None:
    """Builds the response from the new item but never writes it back (a missing save() call)."""
    return None


@fault(
    "force-false-as-force",
    '{"force": false} is treated as a force stop',
    seam="app.stop_force",
    violates=("STOP-BODY-GRACEFUL",),
    consequences=(
        "STOP-TR-LIVE-GRACEFUL",
        "STOP-RESP-PERSISTED",
        "STOP-TS-STOPPED-AT",
        "STOP-TS-STOP-REQUESTED",
        "STOP-CONC-LINEARIZABLE",
    ),
)
def force_if_key_present(body: Mapping[str, object], dialect: object) -> bool:
    """Checks whether the key is present instead of reading its value."""
    return "force" in body


@fault(
    "x-api-key-accepted",
    "a PAT in x-api-key is accepted like a Bearer token",
    seam="app.bearer_token",
    violates=("STOP-ERR-X-API-KEY",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def bearer_or_api_key(headers: Mapping[str, str]) -> str | None:
    """Copied from an SDK for the sibling API, where x-api-key is a valid credential."""
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@fault(
    "cross-environment-lookup",
    "an item is found through any environment's path (no environment check)",
    seam="store.find_item",
    violates=("STOP-ERR-NOT-FOUND-CROSS-ENV",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def find_item_by_id_only(items: Mapping[str, WorkItem], environment_id: str, work_id: str) -> WorkItem | None:
    """Work IDs are globally unique, so the environment in the path "need not" be checked."""
    return items.get(work_id)


# ------------------------------------------------------------------------------------------------ transition rows


@fault(
    "queued-drains-first",
    "force=false on queued goes to stopping, as if a queued item had work to drain",
    seam="machine.stop",
    violates=("STOP-TR-QUEUED",),
    consequences=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-RESP-PERSISTED", "STOP-TS-STOPPED-AT", "STOP-CONC-LINEARIZABLE"),
)
def stop_drains_every_live_item(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Treats every live item alike on a graceful stop: anything not yet stopping is asked to drain."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if force or item.state == STOPPING:
        return replace(item, state=STOPPED, stopped_at=now)
    return replace(item, state=STOPPING, stop_requested_at=now)


@fault(
    "confirm-keeps-stopping",
    "force=false on stopping answers stopping again (the confirming call is taken as a repeated request)",
    seam="machine.stop",
    violates=("STOP-TR-STOPPING-CONFIRM", "STOP-DRAIN"),
    consequences=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-RESP-PERSISTED", "STOP-TS-STOPPED-AT", "STOP-CONC-LINEARIZABLE"),
)
def stop_graceful_is_idempotent_on_stopping(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Believes only the lease expiry finishes a drain, so a second graceful stop changes nothing."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if item.state == QUEUED:
        return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=now)
    if item.state == STOPPING:
        return item  # "already stopping"
    return replace(item, state=STOPPING, stop_requested_at=now)


@fault(
    "stopped-graceful-conflict",
    "force=false on a stopped item answers 409 instead of returning the stopped item",
    seam="machine.stop",
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
)
def stop_refuses_stopped(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Guards the whole operation with "only live items can be stopped", forgetting the idempotent row."""
    if not item.live:
        raise machine.Conflict("Work item is already stopped")
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if item.state in (STARTING, ACTIVE):
        return replace(item, state=STOPPING, stop_requested_at=now)
    return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=item.stop_requested_at or now)


@fault(
    "force-drains-live",
    "force=true on starting/active goes to stopping (force read as 'skip the wait', not 'skip the drain')",
    seam="machine.stop",
    violates=("STOP-TR-FORCE",),
    consequences=(
        "STOP-BODY-FORCE",
        "STOP-TR-STOPPED-IDEMPOTENT",
        "STOP-RESP-PERSISTED",
        "STOP-TS-STOPPED-AT",
        "STOP-CONC-LINEARIZABLE",
    ),
)
def stop_force_only_ends_a_drain(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Uses the graceful table for every call and lets force only finish an item that is already draining."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    target = machine.GRACEFUL_STOP[item.state]
    if target == STOPPING:
        return replace(item, state=STOPPING, stop_requested_at=now)
    return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=item.stop_requested_at or now)


@fault(
    "force-on-stopping-noop",
    "force=true on a stopping item returns it unchanged ('a stop is already in progress')",
    seam="machine.stop",
    violates=("STOP-TR-FORCE",),
    consequences=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-TS-STOPPED-AT", "STOP-CONC-LINEARIZABLE"),
)
def stop_leaves_draining_items_alone(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Short-circuits every stop of a stopping item before looking at force, except the graceful confirmation."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if item.state == STOPPING:
        return item if force else replace(item, state=STOPPED, stopped_at=now)
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if item.state == QUEUED:
        return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=now)
    return replace(item, state=STOPPING, stop_requested_at=now)


# ------------------------------------------------------------------------------------------------ timestamps


@fault(
    "stopped-at-only-on-force",
    "a graceful stop into stopped (queued, or the drain's confirmation) leaves stopped_at null",
    seam="machine.stop",
    violates=("STOP-TS-STOPPED-AT",),
    consequences=("STOP-CONC-STOPPED-AT-ONCE",),
)
def stop_stamps_only_forced_stops(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Sets stopped_at in the force branch and forgets it in the graceful one."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    if force:
        return replace(item, state=STOPPED, stopped_at=now)
    if machine.GRACEFUL_STOP[item.state] == STOPPING:
        return replace(item, state=STOPPING, stop_requested_at=now)
    return replace(item, state=STOPPED, stop_requested_at=item.stop_requested_at or now)


@fault(
    "stopped-at-on-stopping",
    "the move to stopping also sets stopped_at (read as 'when the stop happened')",
    seam="machine.stop",
    violates=("STOP-TS-STOPPED-AT",),
)
def stop_stamps_stopping(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Stamps stopped_at on every stop call that changes the state, the drain's start included."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    target = STOPPED if force else machine.GRACEFUL_STOP[item.state]
    requested = now if target == STOPPING else item.stop_requested_at
    if not force and requested is None:
        requested = now
    return replace(item, state=target, stopped_at=now, stop_requested_at=requested)


@fault(
    "stop-requested-at-not-set",
    "the move to stopping leaves stop_requested_at null",
    seam="machine.stop",
    violates=("STOP-TS-STOP-REQUESTED",),
)
def stop_without_request_time(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Only changes the state on the way to stopping; the request time is never recorded."""
    if item.state == STOPPED:
        if force and force_on_stopped == "conflict":
            raise machine.Conflict("Work item is already stopped")
        return item
    target = STOPPED if force else machine.GRACEFUL_STOP[item.state]
    if target == STOPPING:
        return replace(item, state=STOPPING)
    return replace(item, state=STOPPED, stopped_at=now)


@fault(
    "confirm-clears-stop-requested-at",
    "the confirming stop (stopping -> stopped) clears stop_requested_at back to null (the request counts as served)",
    seam="machine.stop",
    violates=("STOP-TS-STOP-REQUESTED-KEPT",),
)
def stop_clearing_the_request(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Reads stop_requested_at as "a stop is pending": once the worker confirms, nothing is pending, so it is reset."""
    stopped = machine.stop(
        item, force=force, now=now, force_on_stopped=force_on_stopped, stop_requested_at=stop_requested_at
    )
    if item.state == STOPPING and not force:
        return replace(stopped, stop_requested_at=None)
    return stopped


@fault(
    "stopped-at-refreshed",
    "a stop of an already stopped item answers it with a new stopped_at (and stores it)",
    seam="machine.stop",
    violates=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-CONC-STOPPED-AT-ONCE"),
    consequences=("STOP-TS-STOPPED-AT",),
)
def stop_always_stamps(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Sets stopped_at = now whenever the result is stopped, whether or not the item was stopped already."""
    if item.state == STOPPED and force and force_on_stopped == "conflict":
        raise machine.Conflict("Work item is already stopped")
    target = STOPPED if force else machine.GRACEFUL_STOP[item.state]
    if target == STOPPING:
        return replace(item, state=STOPPING, stop_requested_at=now)
    requested = item.stop_requested_at or (None if force else now)
    return replace(item, state=STOPPED, stopped_at=now, stop_requested_at=requested)


# ------------------------------------------------------------------------------------------------ unchanged fields


def _rebuilt(item: WorkItem, **changes: object) -> WorkItem:
    return replace(item, **changes)  # type: ignore[arg-type]


@fault(
    "stop-resets-created-at",
    "the stopped item is rebuilt with created_at = now (copied from the create path)",
    seam="machine.stop",
    violates=("STOP-RESP-UNCHANGED-FIELDS",),
)
def stop_rebuilds_with_new_created_at(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Builds the new record field by field, like the create path does, and so stamps created_at again."""
    result = machine.stop(
        item, force=force, now=now, force_on_stopped=force_on_stopped, stop_requested_at=stop_requested_at
    )
    if result is item:
        return item
    return WorkItem(
        id=item.id,
        environment_id=item.environment_id,
        session_id=item.session_id,
        state=result.state,
        created_at=now,
        acknowledged_at=item.acknowledged_at,
        started_at=item.started_at,
        latest_heartbeat_at=item.latest_heartbeat_at,
        stop_requested_at=result.stop_requested_at,
        stopped_at=result.stopped_at,
        metadata=item.metadata,
        ttl_seconds=item.ttl_seconds,
    )


@fault(
    "stop-drops-metadata",
    "the stopped item is rebuilt without its metadata (the field's default, {}, is used)",
    seam="machine.stop",
    violates=("STOP-RESP-UNCHANGED-FIELDS",),
)
def stop_rebuilds_without_metadata(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Builds the new record field by field and leaves out metadata, which silently defaults to empty."""
    result = machine.stop(
        item, force=force, now=now, force_on_stopped=force_on_stopped, stop_requested_at=stop_requested_at
    )
    if result is item:
        return item
    return WorkItem(
        id=item.id,
        environment_id=item.environment_id,
        session_id=item.session_id,
        state=result.state,
        created_at=item.created_at,
        acknowledged_at=item.acknowledged_at,
        started_at=item.started_at,
        latest_heartbeat_at=item.latest_heartbeat_at,
        stop_requested_at=result.stop_requested_at,
        stopped_at=result.stopped_at,
        ttl_seconds=item.ttl_seconds,
    )


@fault(
    "stop-detaches-session",
    "a stop into stopped unlinks the item from its session (data.id becomes null)",
    seam="machine.stop",
    violates=("STOP-RESP-UNCHANGED-FIELDS",),
    consequences=("STOP-RESP-SCHEMA",),
)
def stop_releases_session(
    item: WorkItem,
    *,
    force: bool,
    now: datetime,
    force_on_stopped: str = "return",
    stop_requested_at: str = "graceful-only",
) -> WorkItem:
    """Frees the session when its work ends, as if a stopped item no longer belonged to it."""
    result = machine.stop(
        item, force=force, now=now, force_on_stopped=force_on_stopped, stop_requested_at=stop_requested_at
    )
    if result is not item and result.state == STOPPED:
        return _rebuilt(result, session_id=None)
    return result


# ------------------------------------------------------------------------------------------------ persistence


def _save(work_store: store.Store, new_item: WorkItem) -> None:
    """The repository's save(): one locked write of a whole item."""
    with work_store._lock:
        store.save_item(work_store._items, new_item)
        work_store._sync_queue(new_item.id)


@fault(
    "stop-answers-stale-item",
    "the stop is stored, but the answer is the item as it was loaded before the stop",
    seam="app.stop_item",
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
)
async def stop_answers_loaded_item(
    work_store: store.Store, environment_id: str, work_id: str, *, force: bool
) -> WorkItem:
    """Loads the item to answer with, stops it through the store, and answers with the object it loaded."""
    item = work_store.get(environment_id, work_id)
    work_store.stop(environment_id, work_id, force=force)
    return item


AUDIT_WRITE_SECONDS = 0.05


@fault(
    "stop-read-modify-write-race",
    "stop reads the item, awaits an audit write, then saves what it computed: concurrent stops both see 'active'",
    seam="app.stop_item",
    violates=("STOP-CONC-LINEARIZABLE",),
    consequences=("STOP-CONC-STOPPED-AT-ONCE",),
)
async def stop_read_then_write(work_store: store.Store, environment_id: str, work_id: str, *, force: bool) -> WorkItem:
    """Read, compute, await something, write: each step locked on its own, the whole not atomic (a lost update)."""
    item = work_store.get(environment_id, work_id)
    new = machine.stop(
        item,
        force=force,
        now=work_store.now(),
        force_on_stopped=work_store.dialect.force_on_stopped,
        stop_requested_at=work_store.dialect.stop_requested_at,
    )
    await asyncio.sleep(AUDIT_WRITE_SECONDS)  # the audit-log write the developer awaited between read and write
    _save(work_store, new)
    return new


# ------------------------------------------------------------------------------------------------ request body


@fault(
    "force-defaults-true",
    "a body without force (none, empty, {}) is a force stop",
    seam="app.stop_force",
    violates=("STOP-BODY-OPTIONAL", "STOP-BODY-GRACEFUL"),
    consequences=(
        "STOP-TR-LIVE-GRACEFUL",
        "STOP-DRAIN",
        "STOP-RESP-PERSISTED",
        "STOP-TS-STOPPED-AT",
        "STOP-TS-STOP-REQUESTED",
        "STOP-CONC-LINEARIZABLE",
    ),
)
def force_unless_told_otherwise(body: Mapping[str, object], dialect: object) -> bool:
    """Reads the endpoint's name as the default: a stop stops, unless the caller asks for a graceful one."""
    value = body.get("force", True)
    if not isinstance(value, bool):
        raise InvalidInput("force must be a boolean", param="force")
    return value


@fault(
    "force-required",
    "a body without force (none, empty, {}) is refused: 400 'Missing required field: force'",
    seam="app.stop_force",
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
)
def force_is_mandatory(body: Mapping[str, object], dialect: object) -> bool:
    """Validates the body against a schema that lists force as required."""
    if "force" not in body:
        raise InvalidInput("Missing required field: force", param="force")
    value = body["force"]
    if not isinstance(value, bool):
        raise InvalidInput("force must be a boolean", param="force")
    return value


@fault(
    "force-compared-to-string",
    '{"force": true} is not read as force (the value is compared with the string "true")',
    seam="app.stop_force",
    violates=("STOP-BODY-FORCE", "STOP-TR-FORCE"),
    consequences=("STOP-TR-STOPPED-IDEMPOTENT", "STOP-RESP-PERSISTED", "STOP-TS-STOPPED-AT", "STOP-CONC-LINEARIZABLE"),
)
def force_from_form_value(body: Mapping[str, object], dialect: object) -> bool:
    """Written for a form or query parameter, where every value is a string."""
    return body.get("force") == "true"


@fault(
    "empty-body-not-json",
    "an empty body is handed to the JSON parser and refused as 'not valid JSON'",
    seam="app.parse_json_body",
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
)
def parse_every_body(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """Parses whatever arrived, forgetting that the body is optional."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(NOT_JSON) from None


@fault(
    "invalid-json-accepted",
    "a body that is not valid JSON is read as {} (a graceful stop) instead of refused",
    seam="app.parse_json_body",
    violates=("STOP-ERR-INVALID-JSON",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def parse_leniently(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """'Be liberal in what you accept': a body that does not parse is treated as no body."""
    if not raw.strip():
        return EMPTY
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return EMPTY


@fault(
    "invalid-json-uncaught",
    "a body that is not valid JSON raises out of the handler: 500 api_error",
    seam="app.parse_json_body",
    violates=("STOP-ERR-INVALID-JSON",),
)
def parse_without_error_handling(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """Checks for the empty body but lets the decoder's exception escape."""
    if not raw.strip():
        return EMPTY
    return json.loads(raw.decode("utf-8"))


# ------------------------------------------------------------------------------------------------ error mapping


@fault(
    "validation-errors-422",
    "malformed request bodies are answered 422 (FastAPI's default) instead of 400",
    seam="app.error_status",
    violates=("STOP-ERR-INVALID-JSON",),
)
def status_like_fastapi(error: Exception) -> tuple[int, str]:
    if isinstance(error, InvalidInput):
        return 422, "invalid_request_error"
    return app.error_status(error)


@fault(
    "invalid-request-type-typo",
    "400s carry error.type 'invalid_request' instead of 'invalid_request_error'",
    seam="app.error_status",
    violates=("STOP-ERR-INVALID-JSON", "STOP-ERR-NOT-SELF-HOSTED"),
)
def status_with_short_type(error: Exception) -> tuple[int, str]:
    status, error_type = app.error_status(error)
    return status, ("invalid_request" if error_type == "invalid_request_error" else error_type)


@fault(
    "not-self-hosted-as-403",
    "a stop through a cloud environment is answered 403 permission_error",
    seam="app.error_status",
    violates=("STOP-ERR-NOT-SELF-HOSTED",),
)
def status_not_self_hosted_forbidden(error: Exception) -> tuple[int, str]:
    """'You may not do this in that environment' filed under permissions."""
    if isinstance(error, store.NotSelfHosted):
        return 403, "permission_error"
    return app.error_status(error)


@fault(
    "unauthenticated-as-403",
    "authentication failures are answered 403 permission_error instead of 401 authentication_error",
    seam="app.error_status",
    violates=("STOP-ERR-UNAUTHENTICATED", "STOP-ERR-X-API-KEY", "STOP-ERR-EXPIRED-PAT"),
)
def status_401_as_403(error: Exception) -> tuple[int, str]:
    """The classic 401/403 confusion: 'not allowed' for a caller who is not known at all."""
    if isinstance(error, store.Unauthenticated):
        return 403, "permission_error"
    return app.error_status(error)


@fault(
    "forbidden-as-404",
    "another principal's environment is answered 404 not_found_error (hiding that it exists)",
    seam="app.error_status",
    violates=("STOP-ERR-FORBIDDEN",),
)
def status_hides_foreign_resources(error: Exception) -> tuple[int, str]:
    """The GitHub habit of answering 404 for what the caller may not see, against this API's error table."""
    if isinstance(error, store.Forbidden):
        return 404, "not_found_error"
    return app.error_status(error)


@fault(
    "not-found-type-typo",
    "a missing work item carries error.type 'not_found' instead of 'not_found_error'",
    seam="app.error_status",
    violates=("STOP-ERR-NOT-FOUND-WORK", "STOP-ERR-NOT-FOUND-CROSS-ENV"),
)
def status_with_item_type_typo(error: Exception) -> tuple[int, str]:
    if isinstance(error, store.WorkItemNotFound):
        return 404, "not_found"
    return app.error_status(error)


# ------------------------------------------------------------------------------------------------ identity and access


@fault(
    "anonymous-as-default-principal",
    "a request without a usable token acts as the first principal (a local-development default left on)",
    seam="store.authenticate",
    violates=("STOP-ERR-UNAUTHENTICATED",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def authenticate_with_dev_fallback(config: EmulatorConfig, token: str | None) -> Principal:
    owner = config.token_owner(token) if token else None
    if owner is None:
        return config.principals[0]
    principal, expired = owner
    if expired:
        raise store.Unauthenticated("PAT invalid or expired")
    return principal


@fault(
    "expired-pat-accepted",
    "an expired PAT is accepted (only whether the token exists is checked)",
    seam="store.authenticate",
    violates=("STOP-ERR-EXPIRED-PAT",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def authenticate_ignoring_expiry(config: EmulatorConfig, token: str | None) -> Principal:
    if not token:
        raise store.Unauthenticated("Missing or malformed Authorization header; expected 'Bearer <PAT>'")
    owner = config.token_owner(token)
    if owner is None:
        raise store.Unauthenticated("PAT invalid or expired")
    principal, _expired = owner
    return principal


@fault(
    "expired-pat-as-403",
    "an expired PAT is answered 403 permission_error ('known, but no longer allowed')",
    seam="store.authenticate",
    violates=("STOP-ERR-EXPIRED-PAT",),
)
def authenticate_expired_as_forbidden(config: EmulatorConfig, token: str | None) -> Principal:
    if not token:
        raise store.Unauthenticated("Missing or malformed Authorization header; expected 'Bearer <PAT>'")
    owner = config.token_owner(token)
    if owner is None:
        raise store.Unauthenticated("PAT invalid or expired")
    principal, expired = owner
    if expired:
        raise store.Forbidden("PAT expired")
    return principal


@fault(
    "bearer-scheme-not-checked",
    "the token is the last word of Authorization whatever the scheme ('Token <PAT>' is accepted)",
    seam="app.bearer_token",
    violates=("STOP-ERR-UNAUTHENTICATED",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def last_word_of_authorization(headers: Mapping[str, str]) -> str | None:
    words = headers.get("authorization", "").split()
    return words[-1] if words else None


@fault(
    "authorization-skipped",
    "any authenticated caller may use any environment (the owner is never compared)",
    seam="store.environment_for",
    violates=("STOP-ERR-FORBIDDEN",),
    consequences=("STOP-ERR-ENVELOPE",),
)
def environment_without_owner_check(
    config: EmulatorConfig, principal: Principal, environment_id: str, *, self_hosted: bool = True
) -> Environment:
    environment = config.environment(environment_id)
    if environment is None:
        raise store.EnvironmentNotFound("Environment not found")
    if self_hosted and not environment.self_hosted:
        raise store.NotSelfHosted("The Environment is not self_hosted")
    return environment


@fault(
    "unknown-environment-as-403",
    "an environment that does not exist is answered 403 (one check for 'missing or not yours')",
    seam="store.environment_for",
    violates=("STOP-ERR-NOT-FOUND-ENV",),
)
def environment_missing_or_foreign(
    config: EmulatorConfig, principal: Principal, environment_id: str, *, self_hosted: bool = True
) -> Environment:
    environment = config.environment(environment_id)
    if environment is None or environment.owner != principal.name:
        raise store.Forbidden("Not authorized for this operation")
    if self_hosted and not environment.self_hosted:
        raise store.NotSelfHosted("The Environment is not self_hosted")
    return environment


@fault(
    "not-self-hosted-unchecked",
    "stop does not check that the environment is self_hosted (the item is then simply not found there: 404)",
    seam="store.environment_for",
    violates=("STOP-ERR-NOT-SELF-HOSTED",),
)
def environment_of_any_type(
    config: EmulatorConfig, principal: Principal, environment_id: str, *, self_hosted: bool = True
) -> Environment:
    """Assumes only poll needs a self_hosted environment."""
    environment = config.environment(environment_id)
    if environment is None:
        raise store.EnvironmentNotFound("Environment not found")
    if environment.owner != principal.name:
        raise store.Forbidden("Not authorized for this operation")
    return environment


@fault(
    "unknown-work-item-crashes",
    "an unknown work ID raises KeyError out of the lookup: 500 api_error",
    seam="store.find_item",
    violates=("STOP-ERR-NOT-FOUND-WORK",),
)
def find_item_by_indexing(items: Mapping[str, WorkItem], environment_id: str, work_id: str) -> WorkItem | None:
    """Indexes the table instead of .get(): fine for every ID the server issued, a crash for any other."""
    item = items[work_id]
    return item if item.environment_id == environment_id else None


@fault(
    "cross-environment-forbidden",
    "an item addressed through another of the caller's environments is answered 403 permission_error",
    seam="store.find_item",
    violates=("STOP-ERR-NOT-FOUND-CROSS-ENV",),
)
def find_item_forbidding_other_environment(
    items: Mapping[str, WorkItem], environment_id: str, work_id: str
) -> WorkItem | None:
    """Tells the caller the item exists elsewhere instead of saying it is not found here."""
    item = items.get(work_id)
    if item is not None and item.environment_id != environment_id:
        raise store.Forbidden("Work item belongs to another environment")
    return item


# ------------------------------------------------------------------------------------------------ response shape


@fault(
    "stop-answers-202",
    "a successful stop is answered 202 Accepted (the stop is 'asynchronous')",
    seam="app.stop_response",
    violates=("STOP-RESP-OK",),
    consequences=(
        "STOP-BODY-OPTIONAL",
        "STOP-BODY-GRACEFUL",
        "STOP-BODY-FORCE",
        "STOP-TR-STOPPED-IDEMPOTENT",
        "STOP-RESP-PERSISTED",
        "STOP-CONC-LINEARIZABLE",
    ),
)
def accepted_response(body: dict[str, Any]) -> Response:
    return JSONResponse(body, status_code=202)


@fault(
    "stop-response-text-plain",
    "a successful stop is answered with Content-Type text/plain (the JSON is written as a string)",
    seam="app.stop_response",
    violates=("STOP-RESP-JSON",),
)
def text_response(body: dict[str, Any]) -> Response:
    return PlainTextResponse(json.dumps(body))


@fault(
    "stop-response-excludes-null",
    "the stop answer leaves out null fields (response_model_exclude_none), e.g. stopped_at while live",
    seam="app.stop_response",
    violates=("STOP-RESP-SCHEMA",),
    consequences=(
        "STOP-TR-STOPPED-IDEMPOTENT",
        "STOP-RESP-PERSISTED",
        "STOP-RESP-UNCHANGED-FIELDS",
        "STOP-TS-STOPPED-AT",
    ),
)
def response_without_nulls(body: dict[str, Any]) -> Response:
    return JSONResponse({name: value for name, value in body.items() if value is not None})


@fault(
    "timestamps-without-offset",
    "timestamps are rendered by isoformat() of naive UTC datetimes: no Z, no offset (not RFC 3339)",
    seam="machine.to_json",
    violates=("STOP-RESP-SCHEMA",),
    consequences=("STOP-TS-STOPPED-AT", "STOP-TS-STOP-REQUESTED", "STOP-CONC-STOPPED-AT-ONCE"),
)
def to_json_with_naive_timestamps(item: WorkItem) -> dict[str, object]:
    """The datetime.utcnow() habit: the zone is dropped before rendering."""

    def ts(moment: datetime | None) -> str | None:
        return None if moment is None else moment.replace(tzinfo=None).isoformat()

    return {
        "id": item.id,
        "type": "work",
        "environment_id": item.environment_id,
        "data": {"type": "session", "id": item.session_id},
        "state": item.state,
        "created_at": ts(item.created_at),
        "acknowledged_at": ts(item.acknowledged_at),
        "started_at": ts(item.started_at),
        "latest_heartbeat_at": ts(item.latest_heartbeat_at),
        "stop_requested_at": ts(item.stop_requested_at),
        "stopped_at": ts(item.stopped_at),
        "metadata": dict(item.metadata),
    }


@fault(
    "timestamps-in-local-zone",
    "timestamps are rendered in the server's local zone (+08:00) instead of UTC, with the offset written correctly",
    seam="machine.to_json",
    violates=("STOP-TS-UTC",),
)
def to_json_in_local_time(item: WorkItem) -> dict[str, object]:
    """The server runs with TZ=Asia/Shanghai and renders with astimezone(): valid RFC 3339, right instant, not UTC."""
    local = timezone(timedelta(hours=8))

    def ts(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(local).isoformat()

    return {
        "id": item.id,
        "type": "work",
        "environment_id": item.environment_id,
        "data": {"type": "session", "id": item.session_id},
        "state": item.state,
        "created_at": ts(item.created_at),
        "acknowledged_at": ts(item.acknowledged_at),
        "started_at": ts(item.started_at),
        "latest_heartbeat_at": ts(item.latest_heartbeat_at),
        "stop_requested_at": ts(item.stop_requested_at),
        "stopped_at": ts(item.stopped_at),
        "metadata": dict(item.metadata),
    }


# ------------------------------------------------------------------------------------------------ error envelope


@fault(
    "error-envelope-flat",
    'errors are answered {"type": "<error_type>", "message": ...} (the inner error object is missing)',
    seam="app.error_response",
    violates=("STOP-ERR-ENVELOPE",),
    consequences=(
        "STOP-ERR-INVALID-JSON",
        "STOP-ERR-NOT-SELF-HOSTED",
        "STOP-ERR-UNAUTHENTICATED",
        "STOP-ERR-X-API-KEY",
        "STOP-ERR-EXPIRED-PAT",
        "STOP-ERR-FORBIDDEN",
        "STOP-ERR-NOT-FOUND-ENV",
        "STOP-ERR-NOT-FOUND-WORK",
        "STOP-ERR-NOT-FOUND-CROSS-ENV",
    ),
)
def flat_error(status: int, error_type: str, message: str, param: str | None = None) -> Response:
    return JSONResponse({"type": error_type, "message": message}, status_code=status)


@fault(
    "error-message-missing",
    "error objects carry no message (kept out of answers 'so nothing leaks')",
    seam="app.error_response",
    violates=("STOP-ERR-ENVELOPE",),
)
def error_without_message(status: int, error_type: str, message: str, param: str | None = None) -> Response:
    error: dict[str, str] = {"type": error_type}
    if param is not None:
        error["param"] = param
    return JSONResponse({"type": "error", "error": error}, status_code=status)


@fault(
    "error-without-content-type",
    "error bodies are JSON text sent without a Content-Type header",
    seam="app.error_response",
    violates=("STOP-ERR-ENVELOPE",),
)
def error_without_media_type(status: int, error_type: str, message: str, param: str | None = None) -> Response:
    """Serialises by hand into a bare Response, which sets no media type."""
    error: dict[str, str] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    return Response(json.dumps({"type": "error", "error": error}), status_code=status)
