"""The proxy's behaviours: what a hostile target does to the answers of the stop endpoint.

Each is a `Tamper` (request, the emulator's real answer) -> the reply the suite gets. The request is always
forwarded first, so the emulator's state moves exactly as the suite asked (a tampered force stop still stops the
item): what the tests then find live or changed is the suite's doing, not the proxy's.

Only stop answers are tampered with (the request under test, and cleanup's force stops); the hook, GETs and lists
pass through, so provisioning and preflight work and the attack reaches the code that handles the answer.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hostile.server import Drip, Reply, Request, Stream, Whole
from hostile.target import API_PREFIX, Tamper, Upstream

ItemChange = Callable[[Request, dict[str, Any]], None]


def is_stop(request: Request) -> bool:
    return request.method == "POST" and request.path.startswith(API_PREFIX) and request.path.endswith("/stop")


def on_stop_item(change: ItemChange) -> Tamper:
    """Apply `change` to every stop answer that is a JSON object (the work item), in place."""

    def tamper(request: Request, upstream: Upstream) -> Reply:
        item = upstream.json()
        if not is_stop(request) or not isinstance(item, dict):
            return upstream.reply()
        change(request, item)
        return Whole(upstream.status, json.dumps(item).encode(), upstream.content_type)

    return tamper


def on_stop(reply: Callable[[Request, Upstream], Reply]) -> Tamper:
    """Replace every stop answer by `reply` (built from the real one)."""
    return lambda request, upstream: reply(request, upstream) if is_stop(request) else upstream.reply()


# ---------------------------------------------------------------------------------------------- strings from the server


def echo_authorization() -> Tamper:
    """Echo the request's Authorization header into fields the suite compares: raw in `state`, and in `metadata`
    as the header, base64, base64 embedded in a larger blob, and URL-encoded."""

    def change(request: Request, item: dict[str, Any]) -> None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        blob = json.dumps({"echo": {"authorization": header, "note": "a server that reflects what it was sent"}})
        item["state"] = token
        item["metadata"] = {
            "header": header,
            "b64": base64.b64encode(token.encode()).decode(),
            "blob": base64.b64encode(blob.encode()).decode(),
            "url": urllib.parse.quote(header, safe=""),
        }
        item["stopped_at"] = header

    return on_stop_item(change)


ESCAPES = {
    "osc-title": "\x1b]0;kit-owned-title\x07",
    "clear-screen": "\x1b[2J\x1b[H",
    "sgr-red": "\x1b[31;1m",
    "c1-csi": "\x9b31m",
    "carriage-return": "\rall passed",
    "backspaces": "\b\b\b\b",
    "bell": "\x07",
}


def escape_bytes() -> Tamper:
    """ANSI/OSC escapes and other control bytes in every string field the suite compares or shows."""

    def change(_request: Request, item: dict[str, Any]) -> None:
        everything = "".join(ESCAPES.values())
        item["state"] = f"stopp{everything}ed"
        item["stopped_at"] = ESCAPES["osc-title"] + "2026-01-01T00:00:00Z"
        item["metadata"] = {name: f"value {text} end" for name, text in ESCAPES.items()}

    return on_stop_item(change)


SCRIPT_MARKER = "qoderKitPwned"
SCRIPTS = (
    f"<script>{SCRIPT_MARKER}(1)</script>",
    f'"><img src=x onerror="{SCRIPT_MARKER}(2)">',
    f"</textarea></pre><svg onload={SCRIPT_MARKER}(3)>",
    f"javascript:{SCRIPT_MARKER}(4)",
)


def script_strings() -> Tamper:
    """HTML that would run if a report pasted server strings into its page unescaped."""

    def change(_request: Request, item: dict[str, Any]) -> None:
        item["state"] = SCRIPTS[0]
        item["stopped_at"] = SCRIPTS[1]
        item["metadata"] = {f"k{index}": text for index, text in enumerate(SCRIPTS)}
        item[SCRIPTS[2]] = SCRIPTS[3]

    return on_stop_item(change)


def shell_id(marker: str) -> Tamper:
    """An ID full of shell metacharacters (and a line break) in the stop answer: the case FAILs on it, so a repro
    script is written; running that script must not run anything of it. `marker` is a path the payloads touch."""
    payload = f"work_x$(touch {marker}.1)`touch {marker}.2`;touch {marker}.3\ntouch {marker}.4\n#'\"${{IFS}}"

    def change(_request: Request, item: dict[str, Any]) -> None:
        item["id"] = payload
        item["state"] = f"stopped\ntouch {marker}.5\n"

    return on_stop_item(change)


# --------------------------------------------------------------------------------------------- hangs, size, depth


def drip(interval_s: float = 2.0) -> Tamper:
    """The real stop answer, one byte every `interval_s`: every read succeeds, the answer takes minutes."""
    return on_stop(lambda _request, upstream: Drip(upstream.reply().bytes(), interval_s))


def huge_body(size: int = 200 * 1024 * 1024) -> Tamper:
    """A 200 MB JSON-looking body (with its Content-Length) for every stop."""
    return on_stop(lambda _request, _upstream: Stream(size))


def endless_body() -> Tamper:
    """A JSON-looking body that never ends (no Content-Length; sent as fast as the suite reads)."""
    return on_stop(lambda _request, _upstream: Stream(None))


def is_item_read(request: Request) -> bool:
    """GET .../environments/{env}/work/{id}: one item (not the list, not poll or stats)."""
    parts = request.path[len(API_PREFIX) :].strip("/").split("/")
    return (
        request.method == "GET"
        and request.path.startswith(API_PREFIX)
        and len(parts) == 4
        and parts[2] == "work"
        and parts[3] not in ("poll", "stats")
    )


def deep_json(depth: int = 20_000, *, reads: bool = False) -> Tamper:
    """The real item, with `metadata` nested `depth` arrays deep: valid JSON that blows a recursive decoder. On every
    stop answer, and with `reads` also on every GET of an item once it has been stopped (read-back and cleanup)."""
    stopped: set[str] = set()

    def deep(upstream: Upstream) -> Reply:
        item = upstream.json()
        if not isinstance(item, dict):
            return upstream.reply()
        item["metadata"] = None
        text = json.dumps(item).replace('"metadata": null', '"metadata": ' + "[" * depth + "]" * depth)
        return Whole(upstream.status, text.encode(), upstream.content_type)

    def tamper(request: Request, upstream: Upstream) -> Reply:
        if is_stop(request):
            stopped.add(request.path.rsplit("/", 2)[-2])
            return deep(upstream)
        if reads and is_item_read(request) and request.path.rsplit("/", 1)[-1] in stopped:
            return deep(upstream)
        return upstream.reply()

    return tamper


# --------------------------------------------------------------------------------------------------------- redirects


def redirect(location: str, status: int = 307) -> Tamper:
    """Every stop answers a redirect to `location` (another origin, which records what reaches it)."""
    return on_stop(lambda _request, _upstream: Whole(status, b"", extra_headers={"Location": location}))


# ------------------------------------------------------------------------------------------------------- slow stops


@dataclass
class Held(Reply):
    """Answer `reply` only after `seconds` (or when the server stops): a run caught in the middle of a case."""

    reply: Reply
    seconds: float

    def write(self, connection: Any, stopping: threading.Event) -> None:
        if not stopping.wait(self.seconds):
            self.reply.write(connection, stopping)


def hold(seconds: float) -> Tamper:
    """Every stop is forwarded at once, but answered only after `seconds`."""
    return on_stop(lambda _request, upstream: Held(upstream.reply(), seconds))


def wrong_state() -> Tamper:
    """A plainly non-conforming server (every stop answers `active`): cases FAIL, so repro scripts are written."""

    def change(_request: Request, item: dict[str, Any]) -> None:
        item["state"] = "active"

    return on_stop_item(change)
