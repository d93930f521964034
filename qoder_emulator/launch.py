"""Starting the emulator: from Python (`launch`, a background thread) and, via `Assembly`, from the command line.

The socket is bound before the server starts, so the port is known (and printed) even when 0 asked for a free
one, and `launch` returns only once the server has answered a real HTTP request.
"""

from __future__ import annotations

import errno
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from qoder_emulator import config as config_module
from qoder_emulator import dialects, faults, rules
from qoder_emulator.access_log import AccessLogMiddleware
from qoder_emulator.app import API_PREFIX, HOOK_PATH, build_app
from qoder_emulator.store import Store

ConfigSource = str | Path | Mapping[str, Any] | config_module.EmulatorConfig | None


def origin(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class Assembly:
    """Everything an emulator instance is made of, validated before any socket is opened."""

    store: Store
    app: Any
    overrides: rules.Rules  # the conforming rules, changed by the chosen faults

    @classmethod
    def build(
        cls,
        *,
        config: ConfigSource = None,
        latency_ms: int = 0,
        fault_names: Iterable[str] = (),
        dialect: Mapping[str, str] | None = None,
        access_log: Callable[[str], None] | None = None,
    ) -> Assembly:
        """`access_log`: where each request's log line goes (None: no access log)."""
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        loaded = config_module.load(config)
        overrides = faults.resolve(fault_names)
        work_store = Store(loaded, dialect=dialects.resolve(dialect), overrides=overrides)
        app = build_app(work_store, overrides=overrides, latency_ms=latency_ms)
        if access_log is not None:
            tokens = [token for p in loaded.principals for token in (*p.tokens, *p.expired_tokens)]
            app = AccessLogMiddleware(app, tokens, access_log)
        return cls(work_store, app, overrides)

    def settings(self, host: str, port: int) -> dict[str, str]:
        base = origin(host, port)
        return self.store.config.settings(base, base + HOOK_PATH)

    def server(self) -> uvicorn.Server:
        return uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
                timeout_keep_alive=5,
            )
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; an OSError's message names the host and port (e.g. a port in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets that say they are TCP, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = (error.strerror or str(error)).lower()
        hint = " (another process is listening there: choose another --port, or 0 for any free port)"
        in_use = error.errno == errno.EADDRINUSE
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {reason}{hint if in_use else ''}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class RunningEmulator:
    """A live emulator in a background thread; `.stop()` or use it as a context manager."""

    def __init__(self, assembly: Assembly, server: uvicorn.Server, thread: threading.Thread, host: str, port: int):
        self.assembly = assembly
        self.host = host
        self.port = port
        self.base_url = origin(host, port)
        self.api_url = self.base_url + API_PREFIX
        self.hook_url = self.base_url + HOOK_PATH
        self.settings = assembly.settings(host, port)
        self._server = server
        self._thread = thread

    @property
    def store(self) -> Store:
        return self.assembly.store

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a stuck connection; don't hang the caller forever
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningEmulator({self.base_url}, faults={list(self.assembly.overrides.names)})"


def _wait_until_answering(host: str, port: int, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the emulator thread exited during start-up")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=1)
            connection.request("GET", "/_emulator/ready")
            connection.getresponse().read()
            connection.close()
            return
        except OSError as error:
            last_error = error
            time.sleep(0.02)
    raise RuntimeError(f"the emulator did not answer within {timeout} s: {last_error}")


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: ConfigSource = None,
    latency_ms: int = 0,
    faults: Iterable[str] = (),
    dialect: Mapping[str, str] | None = None,
) -> RunningEmulator:
    """Start an emulator on `host:port` (0 = a free port) and return once it answers HTTP."""
    assembly = Assembly.build(config=config, latency_ms=latency_ms, fault_names=faults, dialect=dialect)
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    server = assembly.server()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="qoder-emulator", daemon=True)
    thread.start()
    try:
        _wait_until_answering(host, actual_port, thread, timeout=15)
    except Exception:
        server.should_exit = True
        thread.join(5)
        sock.close()
        raise
    return RunningEmulator(assembly, server, thread, host, actual_port)
