"""The self-tests' one raw-socket HTTP/1.1 server on 127.0.0.1: each request goes to a handler, whose reply writes
itself to the socket.

Why not http.server or a framework: the attacks are about the bytes on the wire (a status line dripped one byte
every 2 s, a body without end, a Content-Length of 200 MB, a connection reset with RST, no answer at all), which a
framework would buffer, smooth over or forbid. The request target is kept raw (path and query, percent-escapes as
sent), so a test can see exactly what the suite asked for. Both the hostile kit and the robustness self-tests
(`tests/misbehaving_servers.py`) serve through this module, so there is one accept/serve/parse loop to trust.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

HEADER_LIMIT = 64 * 1024
BODY_LIMIT = 8 * 1024 * 1024
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # raw request target: path and query exactly as sent
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class Reply:
    """What the server does with one request; subclasses write bytes to the connection."""

    keep_alive = True

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        raise NotImplementedError


def head(status: int, headers: dict[str, str], *, reason: str = "Kit") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Whole(Reply):
    """A complete answer with a correct Content-Length."""

    status: int
    body: bytes
    content_type: str = "application/json"
    extra_headers: dict[str, str] | None = None
    reason: str = "Kit"

    def bytes(self) -> bytes:
        headers = {"Content-Type": self.content_type, "Content-Length": str(len(self.body))}
        headers.update(self.extra_headers or {})
        return head(self.status, headers, reason=self.reason) + self.body

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        connection.sendall(self.bytes())


class Hang(Reply):
    """Never answer: keep the connection open until the server stops."""

    keep_alive = False

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        stopping.wait()


class Reset(Reply):
    """Abort the connection with RST instead of answering: SO_LINGER 0, so the close that ends the exchange resets."""

    keep_alive = False

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass
class Drip(Reply):
    """The whole answer, one byte every `interval_s`: each read succeeds, none ends it. By default the status line
    is dripped too; with `head_at_once` the status line and headers go at once and only the body drips."""

    answer: bytes
    interval_s: float = 2.0
    head_at_once: bool = False
    keep_alive = False

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        start = 0
        if self.head_at_once:
            start = self.answer.index(b"\r\n\r\n") + 4
            connection.sendall(self.answer[:start])
        for index in range(start, len(self.answer)):
            connection.sendall(self.answer[index : index + 1])
            if stopping.wait(self.interval_s):
                return


@dataclass
class Stream(Reply):
    """A 200 JSON-looking body of `size` bytes (None: without end), generated as it is sent, never held whole.
    The size is declared in Content-Length unless `declare_length` is off (then the body ends when the connection
    closes)."""

    size: int | None
    declare_length: bool = True
    keep_alive = False

    def chunks(self) -> Iterator[bytes]:
        opening = b'{"id": "work_' + b"0" * 26 + b'", "state": "stopped", "padding": "'
        yield opening
        filler = b"x" * CHUNK
        if self.size is None:
            while True:
                yield filler
        remaining = self.size - len(opening) - 3
        while remaining > 0:
            yield filler[: min(CHUNK, remaining)]
            remaining -= CHUNK
        yield b'"}\n'

    def write(self, connection: socket.socket, stopping: threading.Event) -> None:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if self.size is not None and self.declare_length:
            headers["Content-Length"] = str(self.size)
        connection.sendall(head(200, headers, reason="OK"))
        for chunk in self.chunks():
            if stopping.is_set():
                return
            connection.sendall(chunk)  # raises once the suite hangs up: the thread ends there


Handler = Callable[[Request], Reply]


class KitServer:
    """Serve `handler` on 127.0.0.1 (a free port) in threads; every request is logged in `requests`. Serving starts
    at once; `stop()` (or leaving the `with` block) ends it and every connection it holds."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="kit-accept", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> KitServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(2)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
        for thread in threads:
            thread.join(2)
        self._listener.close()

    def logged(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(connection,), name="kit-conn", daemon=True)
            with self._lock:
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(0.2)
        pending = b""
        try:
            while not self.stopping.is_set():
                parsed = self._read_request(connection, pending)
                if parsed is None:
                    return
                request, pending = parsed
                with self._lock:
                    self.requests.append(request)
                reply = self.handler(request)
                connection.settimeout(None)
                reply.write(connection, self.stopping)
                connection.settimeout(0.2)
                if not reply.keep_alive:
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                connection.close()

    def _read_request(self, connection: socket.socket, pending: bytes) -> tuple[Request, bytes] | None:
        data = pending
        while b"\r\n\r\n" not in data:
            chunk = self._receive(connection)
            if not chunk or len(data) > HEADER_LIMIT:
                return None
            data += chunk
        raw_head, data = data.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = min(int(headers.get("content-length", "0") or 0), BODY_LIMIT)
        while len(data) < length:
            chunk = self._receive(connection)
            if not chunk:
                return None
            data += chunk
        return Request(method, target, headers, data[:length]), data[length:]

    def _receive(self, connection: socket.socket) -> bytes:
        """Bytes from the peer; b'' when it closed or the server is stopping."""
        while not self.stopping.is_set():
            try:
                return connection.recv(65536)
            except TimeoutError:
                continue
        return b""
