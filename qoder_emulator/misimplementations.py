"""The code a fault plugs into the rules (faults.py) where a replaced table cell is not enough.

Each function is what a developer could really have written at that place, with one mistake: a result wrapped
(the stopped item rebuilt without its metadata), a different parser, or different control flow (a race, a stale
answer). The conforming code they stand in for is named in each section.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from qoder_emulator import machine
from qoder_emulator.inputs import EMPTY, NOT_JSON, InvalidInput
from qoder_emulator.machine import STOPPED, WorkItem

if TYPE_CHECKING:
    from qoder_emulator.store import Store

# ------------------------------------------------------------------------ the stopped item (rules.same_item)


def rebuilt_with_new_created_at(before: WorkItem, after: WorkItem, now: datetime) -> WorkItem:
    """Builds the new record field by field, like the create path does, and so stamps created_at again."""
    return after if after is before else replace(after, created_at=now)


def rebuilt_without_metadata(before: WorkItem, after: WorkItem, now: datetime) -> WorkItem:
    """Builds the new record field by field and leaves out metadata, which silently defaults to empty."""
    return after if after is before else replace(after, metadata={})


def session_released(before: WorkItem, after: WorkItem, now: datetime) -> WorkItem:
    """Frees the session when its work ends, as if a stopped item no longer belonged to it."""
    if after is not before and after.state == STOPPED:
        return replace(after, session_id=None)  # type: ignore[arg-type]
    return after


# ------------------------------------------------------------------------ timestamps (machine.format_timestamp)


def naive_timestamp(moment: datetime) -> str:
    """The datetime.utcnow() habit: the zone is dropped before rendering."""
    return moment.replace(tzinfo=None).isoformat()


def local_zone_timestamp(moment: datetime) -> str:
    """The server runs with TZ=Asia/Shanghai and renders with astimezone(): valid RFC 3339, right instant, not UTC."""
    return moment.astimezone(timezone(timedelta(hours=8))).isoformat()


# ------------------------------------------------------------------------ the PAT (inputs.bearer_token)


def bearer_or_api_key(headers: Mapping[str, str]) -> str | None:
    """Copied from an SDK for the sibling API, where x-api-key is a valid credential."""
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def last_word_of_authorization(headers: Mapping[str, str]) -> str | None:
    words = headers.get("authorization", "").split()
    return words[-1] if words else None


# ------------------------------------------------------------------------ force (inputs.stop_force)


def force_if_key_present(body: Mapping[str, object], dialect: object) -> bool:
    """Checks whether the key is present instead of reading its value."""
    return "force" in body


def force_unless_told_otherwise(body: Mapping[str, object], dialect: object) -> bool:
    """Reads the endpoint's name as the default: a stop stops, unless the caller asks for a graceful one."""
    value = body.get("force", True)
    if not isinstance(value, bool):
        raise InvalidInput("force must be a boolean", param="force")
    return value


def force_is_mandatory(body: Mapping[str, object], dialect: object) -> bool:
    """Validates the body against a schema that lists force as required."""
    if "force" not in body:
        raise InvalidInput("Missing required field: force", param="force")
    value = body["force"]
    if not isinstance(value, bool):
        raise InvalidInput("force must be a boolean", param="force")
    return value


def force_from_form_value(body: Mapping[str, object], dialect: object) -> bool:
    """Written for a form or query parameter, where every value is a string."""
    return body.get("force") == "true"


# ------------------------------------------------------------------------ the body (inputs.parse_json_body)


def parse_every_body(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """Parses whatever arrived, forgetting that the body is optional."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(NOT_JSON) from None


def parse_leniently(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """'Be liberal in what you accept': a body that does not parse is treated as no body."""
    if not raw.strip():
        return EMPTY
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return EMPTY


def parse_without_error_handling(raw: bytes, content_type: str | None, dialect: object) -> Any:
    """Checks for the empty body but lets the decoder's exception escape."""
    if not raw.strip():
        return EMPTY
    return json.loads(raw.decode("utf-8"))


# ------------------------------------------------------------------------ the stop's answer (JSONResponse)


def accepted_response(body: dict[str, Any]) -> Response:
    return JSONResponse(body, status_code=202)


def text_response(body: dict[str, Any]) -> Response:
    return PlainTextResponse(json.dumps(body))


def response_without_nulls(body: dict[str, Any]) -> Response:
    return JSONResponse({name: value for name, value in body.items() if value is not None})


# ------------------------------------------------------------------------ the error envelope (rules.same_body)


def flat_envelope(body: dict[str, Any]) -> dict[str, Any]:
    """The inner error object's type and message at the top level."""
    return {"type": body["error"]["type"], "message": body["error"]["message"]}


def envelope_without_message(body: dict[str, Any]) -> dict[str, Any]:
    """Kept out of answers 'so nothing leaks'."""
    return {**body, "error": {name: value for name, value in body["error"].items() if name != "message"}}


# ------------------------------------------------------------------------ the stop itself (rules.stop_item)


async def stop_answers_loaded_item(work_store: Store, environment_id: str, work_id: str, *, force: bool) -> WorkItem:
    """Loads the item to answer with, stops it through the store, and answers with the object it loaded."""
    item = work_store.get(environment_id, work_id)
    work_store.stop(environment_id, work_id, force=force)
    return item


AUDIT_WRITE_SECONDS = 0.05


async def stop_read_then_write(work_store: Store, environment_id: str, work_id: str, *, force: bool) -> WorkItem:
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
    with work_store._lock:  # the repository's save(): one locked write of a whole item
        work_store._items[new.id] = new
        work_store._sync_queue(new.id)
    return new


# --- errors: the other work pages' input rows ---


def expected_heartbeat_unchecked(query: Mapping[str, str]) -> str | None:
    """expected_last_heartbeat taken as an opaque string: whatever is sent is compared with the lease (a value that is
    no timestamp at all then 'does not match the current lease owner', 412, instead of the 400 row)."""
    return query.get("expected_last_heartbeat")


def metadata_patch_coercing(body: Mapping[str, Any]) -> dict[str, str | None] | None:
    """'Metadata is a string map, so store numbers and booleans as their JSON text' (objects and arrays are refused)."""
    patch = body.get("metadata")
    if not isinstance(patch, dict):
        return None if patch is None else {}
    coerced: dict[str, str | None] = {}
    for key, value in patch.items():
        if isinstance(value, (dict, list)):
            raise InvalidInput("A metadata value is neither string nor null", param="metadata")
        coerced[key] = value if value is None or isinstance(value, str) else json.dumps(value)
    return coerced


# --------------------------------------------------- the updated item and the read item (rules.same_item, same_read)


def update_stamps_heartbeat(before: WorkItem, after: WorkItem, now: datetime) -> WorkItem:
    """Saves the updated record with a 'last seen' stamp, taking any call of the worker for a sign of life."""
    return after if after is before else replace(after, latest_heartbeat_at=now)


class LastSeenOnRead:
    """Every read of an item with a lease stamps a 'last seen' time, and the serializer shows the stamp of the
    previous read in place of latest_heartbeat_at: the first read answers the item as stored, later reads answer
    the time of the read before them. What is stored is not changed."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def __call__(self, item: WorkItem, now: datetime) -> WorkItem:
        if item.latest_heartbeat_at is None or not item.live:
            return item
        previous = self._seen.get(item.id)
        self._seen[item.id] = now
        return item if previous is None else replace(item, latest_heartbeat_at=previous)
