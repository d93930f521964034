"""How JSON answers are written where the docs leave the writing open: the dialects that change every answer alike.

Three choices are about the wire form of any JSON answer, not about one endpoint: whether an optional error field
without a value is left out or sent as null (`error-optional-fields`), whether the media type carries a charset
parameter (`response-charset`), and whether UTC is written `Z` or `+00:00` (`utc-designator`). They are applied
once, to every answer on its way out (errors from any route and the hook's answers included), by `DialectMiddleware`,
so no handler and no fault has to know about them. The one input that depends on them is the heartbeat's
`expected_last_heartbeat` echo, mapped back by `stored_echo`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qoder_emulator.dialects import Dialect

OPTIONAL_ERROR_FIELDS = ("param", "feature", "available_from")
# Every field of the work API's objects that holds a timestamp (work item, heartbeat, queue stats).
TIMESTAMP_FIELDS = frozenset(
    {
        "created_at",
        "acknowledged_at",
        "started_at",
        "latest_heartbeat_at",
        "stop_requested_at",
        "stopped_at",
        "last_heartbeat",
        "oldest_queued_at",
    }
)
UTC_OFFSET = "+00:00"


def rewrites(dialect: Dialect) -> bool:
    """Whether any answer needs rewriting under `dialect` (the defaults are what the handlers already write)."""
    return dialect.error_optional_fields != "omit" or dialect.response_charset != "off" or dialect.utc_designator != "Z"


def rewrite_body(body: Any, dialect: Dialect) -> Any:
    """The answer's JSON document as `dialect` writes it."""
    if dialect.utc_designator == UTC_OFFSET:
        body = _with_utc_offset(body)
    if dialect.error_optional_fields == "null" and isinstance(body, dict) and body.get("type") == "error":
        error = body.get("error")
        if isinstance(error, dict):
            body = {**body, "error": {**error, **{name: error.get(name) for name in OPTIONAL_ERROR_FIELDS}}}
    return body


def _with_utc_offset(value: Any) -> Any:
    if isinstance(value, list):
        return [_with_utc_offset(entry) for entry in value]
    if not isinstance(value, dict):
        return value
    return {
        name: entry[:-1] + UTC_OFFSET
        if name in TIMESTAMP_FIELDS and isinstance(entry, str) and entry.endswith("Z")
        else _with_utc_offset(entry)
        for name, entry in value.items()
    }


def stored_echo(expected_last_heartbeat: str | None, dialect: Dialect) -> str | None:
    """The echo in the form the store renders (`Z`); an echo is compared as the exact string the server wrote.

    Under `utc-designator=+00:00` the server wrote `...+00:00`, so that is the exact echo; the `Z` form of the same
    instant is then another rendering and must not match, like any other rewriting of the value.
    """
    if dialect.utc_designator != UTC_OFFSET or expected_last_heartbeat is None:
        return expected_last_heartbeat
    if expected_last_heartbeat.endswith(UTC_OFFSET):
        return expected_last_heartbeat[: -len(UTC_OFFSET)] + "Z"
    if expected_last_heartbeat.endswith(("Z", "z")):
        return expected_last_heartbeat + " (not as written)"  # never equal to a stored rendering
    return expected_last_heartbeat


class DialectMiddleware:
    """Rewrites every JSON answer (media type application/json) as the dialect says; other answers pass as sent."""

    def __init__(self, app: ASGIApp, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            headers, body = self._rewrite(list(start.get("headers", [])), b"".join(chunks))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)

    def _rewrite(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
        media_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
        if media_type.split(b";")[0].strip().lower() != b"application/json":
            return headers, body
        try:
            document = json.loads(body)
        except ValueError:
            return headers, body
        body = json.dumps(
            rewrite_body(document, self.dialect), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
        kept = [(name, value) for name, value in headers if name.lower() not in (b"content-length", b"content-type")]
        if self.dialect.response_charset == "on":
            media_type = b"application/json; charset=utf-8"
        return [*kept, (b"content-type", media_type), (b"content-length", str(len(body)).encode())], body
