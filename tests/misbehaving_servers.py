"""Servers that misbehave on purpose, on 127.0.0.1, for the suite's robustness self-tests.

Why raw sockets and not http.server: the interesting behaviours (never answering, resetting with RST, answering
HTML where JSON is expected) must be chosen per request and must not be smoothed over by a framework. Each
connection gets a thread; a `Responder` decides, from the parsed request, what happens: a normal answer, a hang
(the thread waits until the server stops), or a reset (SO_LINGER 0, then close: the peer sees ECONNRESET).

`closed_port()` gives the URL of a port nobody listens on (connection refused).
`FakeTarget` is a tiny, correct-enough target: a hook that creates well-formed work items and a GET that returns
them, whose stop path misbehaves, so that provisioning succeeds and only the request under test goes wrong.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

API_PREFIX = "/api/v1/cloud"
HOOK_PATH = "/_hook"
HEADER_LIMIT = 64 * 1024


@dataclass
class Request:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    reason: str = "Status"


class Hang:
    """Never answer: keep the connection open until the server stops."""


class Reset:
    """Abort the connection with RST (SO_LINGER 0) instead of answering."""


@dataclass
class Drip:
    """Answer at once with the status line and headers, then the body one byte every `pause_s` seconds: each
    read finishes well within any per-read timeout, so only a total deadline ends the exchange."""

    body: bytes = b'{"id": "work_0123", "state": "stopping"}'
    pause_s: float = 2.0
    status: int = 200


@dataclass
class Flood:
    """A body of `total` bytes (None: endless) of JSON white space, sent as fast as the peer reads. Without a
    declared length the body ends when the connection closes (or never)."""

    total: int | None = None
    declare_length: bool = False
    status: int = 200


Action = Answer | Hang | Reset | Drip | Flood
Responder = Callable[[Request], Action]

HANG = Hang()
RESET = Reset()
BAD_GATEWAY = Answer(
    502,
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"<hr><center>nginx</center></body></html>\n",
    content_type="text/html",
    reason="Bad Gateway",
)
INVALID_JSON = Answer(200, b'{"id": "work_0123", "state": "stopping", ', reason="OK")
DEEP_JSON = Answer(200, b"[" * 20_000 + b"]" * 20_000, reason="OK")  # RecursionError in json.loads, unguarded


def json_answer(status: int, document: Any) -> Answer:
    return Answer(status, json.dumps(document).encode(), reason="OK" if status < 400 else "Error")


def always(action: Action) -> Responder:
    return lambda _request: action


def closed_port() -> str:
    """The URL of a loopback port that was free a moment ago and has no listener: connections are refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


class MisbehavingServer:
    """A loopback HTTP/1.1 server whose every request goes through `responder`; use it as a context manager."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, name="misbehaving-accept", daemon=True)

    def __enter__(self) -> MisbehavingServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(2)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            _close_quietly(connection)
        for thread in threads:
            thread.join(2)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(connection,), name="misbehaving-conn", daemon=True)
            with self._lock:
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(0.2)
        pending = b""
        try:
            while not self._stopping.is_set():
                parsed = self._read_request(connection, pending)
                if parsed is None:
                    return
                request, pending = parsed
                with self._lock:
                    self.requests.append(request)
                action = self.responder(request)
                if isinstance(action, Hang):
                    self._stopping.wait()
                    return
                if isinstance(action, Reset):
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    connection.close()
                    return
                if isinstance(action, (Drip, Flood)):
                    self._stream(connection, action)
                    return
                connection.sendall(_encode(action))
        except OSError:
            return
        finally:
            _close_quietly(connection)

    def _stream(self, connection: socket.socket, action: Drip | Flood) -> None:
        """Drip or flood a body; ends when the peer closes, the server stops, or the body is complete."""
        connection.settimeout(5)
        if isinstance(action, Drip):
            head = f"HTTP/1.1 {action.status} OK\r\nContent-Type: application/json\r\n"
            connection.sendall(f"{head}Content-Length: {len(action.body)}\r\n\r\n".encode("latin-1"))
            for index in range(len(action.body)):
                connection.sendall(action.body[index : index + 1])
                if self._stopping.wait(action.pause_s):
                    return
            return
        length = f"Content-Length: {action.total}\r\n" if action.declare_length and action.total else ""
        head = f"HTTP/1.1 {action.status} OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
        connection.sendall(head.encode("latin-1"))
        chunk = b" " * 65536
        sent = 0
        while not self._stopping.is_set() and (action.total is None or sent < action.total):
            piece = chunk if action.total is None else chunk[: action.total - sent]
            connection.sendall(piece)
            sent += len(piece)

    def _read_request(self, connection: socket.socket, pending: bytes) -> tuple[Request, bytes] | None:
        data = pending
        while b"\r\n\r\n" not in data:
            chunk = self._receive(connection)
            if not chunk:
                return None
            data += chunk
            if len(data) > HEADER_LIMIT:
                return None
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(data) < length:
            chunk = self._receive(connection)
            if not chunk:
                return None
            data += chunk
        body, rest = data[:length], data[length:]
        return Request(method, target.split("?", 1)[0], headers, body), rest

    def _receive(self, connection: socket.socket) -> bytes:
        """Bytes from the peer; b'' when it closed or the server is stopping."""
        while not self._stopping.is_set():
            try:
                return connection.recv(65536)
            except TimeoutError:
                continue
        return b""


def _encode(answer: Answer) -> bytes:
    head = (
        f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
        f"Content-Type: {answer.content_type}\r\n"
        f"Content-Length: {len(answer.body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + answer.body


def _close_quietly(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.close()


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


def error_answer(status: int, error_type: str, message: str) -> Answer:
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
