"""The emulator's access log: one line per request, `METHOD PATH STATUS MILLISECONDS ms`, never a secret.

A real server is debugged from its log, so every request gets a line once its response is complete. What it never
holds: a header (the `Authorization` PAT lives there), a body, or a query value (a client may put anything there,
a token included: only the parameter names are kept, e.g. `?block_ms=…`). Any of the emulator's own tokens that
appears in the path is replaced by `<token>`, and anything unprintable is escaped, so a hostile request cannot
forge or break a line. The path is cut at PATH_LIMIT characters.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATH_LIMIT = 300
ELIDED = "…"


def stdout_line(line: str) -> None:
    """The default sink: standard output, flushed, so `qoder-emulator ... | tee` shows requests as they happen."""
    print(line, file=sys.stdout, flush=True)


def printable(text: str) -> str:
    """Control and other unprintable characters as escapes: one request, one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shown_target(path: str, query: bytes, secrets: Iterable[str]) -> str:
    """The request target as logged: the path (tokens masked), then the query's parameter names only."""
    for secret in secrets:
        if secret:
            path = path.replace(secret, "<token>")
    path = printable(path)
    if len(path) > PATH_LIMIT:
        path = path[:PATH_LIMIT] + ELIDED
    if query:
        names = [name for name, _ in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
        path += "?" + "&".join(f"{printable(name)[:40]}={ELIDED}" for name in names[:20]) if names else "?" + ELIDED
    return path


class AccessLogMiddleware:
    """Writes one line per HTTP request once the response is complete (or the app failed without one: 500)."""

    def __init__(self, app: ASGIApp, secrets: Iterable[str], write: Callable[[str], None] = stdout_line) -> None:
        self.app = app
        self.secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))  # longest first
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": None}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            target = shown_target(scope.get("path", ""), scope.get("query_string", b""), self.secrets)
            code = status["code"] if status["code"] is not None else 500
            self.write(f"{printable(scope.get('method', '?'))} {target} {code} {elapsed_ms:.1f} ms")
