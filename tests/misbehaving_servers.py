"""Servers that misbehave on purpose, on 127.0.0.1, for the suite's robustness self-tests.

Why raw sockets and not http.server: the interesting behaviours (never answering, resetting with RST, answering
HTML where JSON is expected) must be chosen per request and must not be smoothed over by a framework. The server
is the self-tests' one raw-socket server (`hostile/server.py`); a `Responder` decides, from the parsed request,
what happens: a normal answer, a hang (the thread waits until the server stops), a reset (SO_LINGER 0, then close:
the peer sees ECONNRESET), a dripped body or a flood. This module keeps the names the robustness tests use.

`closed_port()` gives the URL of a port nobody listens on (connection refused).
`FakeTarget` is a tiny, correct-enough target: a hook that creates well-formed work items and a GET that returns
them, whose stop path misbehaves, so that provisioning succeeds and only the request under test goes wrong.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hostile.server import Drip as _Drip
from hostile.server import Hang, KitServer, Reply, Request, Reset, Stream, Whole

API_PREFIX = "/api/v1/cloud"
HOOK_PATH = "/_hook"

Action = Reply
Responder = Callable[[Request], Action]


class Drip(_Drip):
    """Answer at once with the status line and headers, then the body one byte every `pause_s` seconds: each
    read finishes well within any per-read timeout, so only a total deadline ends the exchange."""

    def __init__(
        self, body: bytes = b'{"id": "work_0123", "state": "stopping"}', pause_s: float = 2.0, status: int = 200
    ) -> None:
        super().__init__(Whole(status, body, reason="OK").bytes(), pause_s, head_at_once=True)


class Flood(Stream):
    """A body of `total` bytes (None: endless), sent as fast as the peer reads. Without a declared length the
    body ends when the connection closes (or never)."""

    def __init__(self, total: int | None = None, declare_length: bool = False) -> None:
        super().__init__(total, declare_length=declare_length)


class MisbehavingServer(KitServer):
    """A loopback HTTP/1.1 server whose every request goes through `responder`; use it as a context manager."""

    @property
    def base_url(self) -> str:
        return self.origin


HANG = Hang()
RESET = Reset()
BAD_GATEWAY = Whole(
    502,
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"<hr><center>nginx</center></body></html>\n",
    content_type="text/html",
    reason="Bad Gateway",
)
INVALID_JSON = Whole(200, b'{"id": "work_0123", "state": "stopping", ', reason="OK")
DEEP_JSON = Whole(200, b"[" * 20_000 + b"]" * 20_000, reason="OK")  # RecursionError in json.loads, unguarded


def json_answer(status: int, document: Any) -> Whole:
    return Whole(status, json.dumps(document).encode(), reason="OK" if status < 400 else "Error")


def always(action: Action) -> Responder:
    return lambda _request: action


def closed_port() -> str:
    """The URL of a loopback port that was free a moment ago and has no listener: connections are refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------------ the fake target


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


# The lifecycle timestamps a state has reached (the later states include the earlier ones).
_REACHED = {
    "queued": (),
    "starting": ("acknowledged_at",),
    "active": ("acknowledged_at", "started_at", "latest_heartbeat_at"),
    "stopping": ("acknowledged_at", "started_at", "latest_heartbeat_at", "stop_requested_at"),
    "stopped": ("acknowledged_at", "started_at", "latest_heartbeat_at", "stop_requested_at", "stopped_at"),
}


def work_item(state: str, environment_id: str, metadata: dict[str, str]) -> dict[str, Any]:
    """A well-formed Work item object in `state` (field order as in the docs' examples)."""
    now = _now()
    item: dict[str, Any] = {
        "id": _new_id("work_"),
        "type": "work",
        "environment_id": environment_id,
        "data": {"type": "session", "id": _new_id("sess_")},
        "state": state,
        "created_at": now,
    }
    for stamp in ("acknowledged_at", "started_at", "latest_heartbeat_at", "stop_requested_at", "stopped_at"):
        item[stamp] = now if stamp in _REACHED[state] else None
    item["metadata"] = dict(metadata)
    return item


def error_answer(status: int, error_type: str, message: str) -> Whole:
    return json_answer(status, {"type": "error", "error": {"type": error_type, "message": message}})


def echo_authorization(request: Request) -> Action:
    """A stop answer that puts the request's Authorization header (the token) into the fields the suite compares,
    with ANSI/OSC escapes around it: a mismatch then shows the echoed value."""
    echoed = request.headers.get("authorization", "")
    escapes = "\x1b]0;pwned\x07\x1b[31m"
    return json_answer(200, {"id": echoed, "type": "work", "state": f"{escapes}{echoed}", "metadata": {"a": echoed}})


@dataclass
class FakeTarget:
    """A target that answers preflight and reads back correctly, but whose stop endpoint does `on_stop`.

    `on_hook`, when given, replaces the hook's answer too, so that provisioning is what breaks.
    """

    pat: str
    environment_id: str
    on_stop: Action | Responder  # a Responder decides from the request (e.g. echoes its Authorization)
    on_hook: Action | None = None
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, request: Request) -> Action:
        if request.headers.get("authorization") != f"Bearer {self.pat}":
            return error_answer(401, "authentication_error", "PAT invalid or expired")
        if request.method == "POST" and request.path == HOOK_PATH:
            return self.on_hook or self._hook(request)
        if not request.path.startswith(API_PREFIX + "/environments/"):
            return error_answer(404, "not_found_error", "Not found")
        parts = request.path[len(API_PREFIX) + 1 :].split("/")  # environments, env, [work, [id, [verb]]]
        if parts[1] != self.environment_id:
            return error_answer(404, "not_found_error", "Environment not found")
        return self._environment_route(request, parts[2:])

    def _environment_route(self, request: Request, rest: list[str]) -> Action:
        if not rest and request.method == "GET":
            return json_answer(
                200,
                {"id": self.environment_id, "type": "environment", "name": "fake", "config": {"type": "self_hosted"}},
            )
        if rest == ["work"] and request.method == "GET":
            data = list(self.items.values())
            return json_answer(
                200,
                {
                    "data": data,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                    "has_more": False,
                    "next_page": None,
                },
            )
        if rest == ["work", "stats"] and request.method == "GET":
            return json_answer(
                200,
                {"type": "work_queue_stats", "depth": 0, "pending": 0, "oldest_queued_at": None, "workers_polling": 0},
            )
        if len(rest) >= 2 and rest[0] == "work":
            item = self.items.get(rest[1])
            if item is None:
                return error_answer(404, "not_found_error", "Environment or work item not found")
            if len(rest) == 2 and request.method == "GET":
                return json_answer(200, item)
            if rest[2:] == ["stop"] and request.method == "POST":
                return self.on_stop(request) if callable(self.on_stop) else self.on_stop
        return error_answer(404, "not_found_error", "Not found")

    def _hook(self, request: Request) -> Action:
        try:
            wanted = json.loads(request.body)
            state, environment_id = wanted["state"], wanted["environment_id"]
        except (ValueError, KeyError, TypeError):
            return error_answer(400, "invalid_request_error", "hook body must carry state and environment_id")
        if state not in _REACHED or environment_id != self.environment_id:
            return error_answer(400, "invalid_request_error", "unknown state or environment")
        item = work_item(state, environment_id, wanted.get("metadata") or {})
        self.items[item["id"]] = item
        return json_answer(201, item)
