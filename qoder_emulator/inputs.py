"""Turning raw request pieces (bytes, header values, query strings) into checked values, or InvalidInput.

Kept apart from the Starlette layer so every malformed-input rule can be unit-tested without a server, and so
that no malformed input can reach the store: a request is either fully parsed or rejected with a 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from qoder_emulator.dialects import Dialect
from qoder_emulator.machine import NO_HEARTBEAT

MAX_BODY_BYTES = 32 * 1024 * 1024  # conventions/overview: 32 MB, over-limit -> 400 invalid_request_error
NOT_JSON = "Request body is not valid JSON"
_INTEGER = re.compile(r"^-?[0-9]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class InvalidInput(Exception):
    """A 400 invalid_request_error; `param` names the offending field when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class _Empty:
    """No body at all (zero bytes or only whitespace): the documented default request."""

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY = _Empty()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes, content_type: str | None, dialect: Dialect) -> Any:
    """The decoded JSON value, or EMPTY. JSON is UTF-8 (RFC 8259) whatever charset the header claims."""
    if not raw.strip():
        return EMPTY
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if not is_json and dialect.content_type == "require-json":
        raise InvalidInput("Content-Type must be application/json when a body is sent")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput(NOT_JSON) from None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The PAT from `Authorization: Bearer <PAT>` (scheme case-insensitive), else None."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def body_object(value: Any, dialect: Dialect, *, allowed: Collection[str]) -> dict[str, Any]:
    """The body as an object; EMPTY is {}. Unknown fields and non-objects follow the dialect."""
    if value is EMPTY:
        return {}
    if not isinstance(value, dict):
        if dialect.non_object_body == "ignore":
            return {}
        raise InvalidInput("Request body must be a JSON object")
    if dialect.unknown_body_fields == "reject":
        for name in value:
            if name not in allowed:
                raise InvalidInput(f"Unknown field: {name}", param=name)
    return value


def stop_force(body: Mapping[str, Any], dialect: Dialect) -> bool:
    """`force` as the Stop page defines it: absent means false; only a JSON boolean is a value."""
    value = body.get("force", False)
    if value is None and dialect.non_boolean_force == "null-as-default":
        return False
    if not isinstance(value, bool):
        raise InvalidInput("force must be a boolean", param="force")
    return value


def metadata_patch(body: Mapping[str, Any]) -> dict[str, str | None] | None:
    """Update metadata's `metadata`: None when omitted (or null), else a string-or-null map."""
    patch = body.get("metadata")
    if patch is None:
        return None
    if not isinstance(patch, dict):
        raise InvalidInput("metadata must be an object", param="metadata")
    for value in patch.values():
        if value is not None and not isinstance(value, str):
            raise InvalidInput("A metadata value is neither string nor null", param="metadata")
    return patch


def string_metadata(value: Any) -> dict[str, str]:
    """Metadata at creation (sessions, hook): string values only; omitted or null means {}."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("metadata must be an object with string values", param="metadata")
    return value


def query_integer(
    query: Mapping[str, str], name: str, *, minimum: int | None, maximum: int | None = None, message: str
) -> int | None:
    """An integer query parameter in range (a bound of None: unbounded), None when absent; anything else is a 400
    with `message`."""
    if name not in query:
        return None
    text = query[name]
    if not _INTEGER.match(text):
        raise InvalidInput(message, param=name)
    value = int(text)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidInput(message, param=name)
    return value


def expected_last_heartbeat(query: Mapping[str, str]) -> str | None:
    """NO_HEARTBEAT, an RFC 3339 timestamp (kept verbatim for the exact-echo comparison), or None."""
    if "expected_last_heartbeat" not in query:
        return None
    text = query["expected_last_heartbeat"]
    if text == NO_HEARTBEAT:
        return text
    if _RFC3339.match(text):
        try:  # the regex checks the shape; this checks the calendar (no month 13, no February 30)
            datetime.strptime(text[:19].replace("t", "T"), "%Y-%m-%dT%H:%M:%S")
            return text
        except ValueError:
            pass
    raise InvalidInput(
        "expected_last_heartbeat is neither NO_HEARTBEAT nor an RFC 3339 timestamp", param="expected_last_heartbeat"
    )
