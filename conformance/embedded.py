"""The embedded emulator: our reference server, started by its command line as a child process of this run.

Why a child process, not a server thread in the test process: the suite then shares nothing with the server it
judges (not its imports, not its crash, not its GIL: a server thread serialises with the suite's client threads,
which hides real concurrency and slows every request), and reaches it exactly as a user would. It is started when
pytest is configured and answers by the time the tests are collected, so its start-up costs the run nothing.

Its tokens (chosen per run, so the secret canary means something) go to it on standard input, never on the command
line or the disk; its announcement, which prints them, is read from a pipe and never shown.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from conformance.errors import HarnessError

START_TIMEOUT_S = 30.0
ANNOUNCEMENT_END = "Press Ctrl-C to stop."
EXPORT_LINE = re.compile(r"^\s*export (QODER_[A-Z_]+)=(.*)$")
STDERR_LINES_KEPT = 40


class EmbeddedEmulatorError(HarnessError):
    """The embedded emulator could not be started: no run is possible, and it says nothing about any target."""


def announced_setting(line: str) -> tuple[str, str] | None:
    """(`QODER_NAME`, value) from one `export QODER_NAME=value` line of the emulator's announcement, else None."""
    found = EXPORT_LINE.match(line)
    if found is None:
        return None
    return found.group(1), shlex.split(found.group(2))[0] if found.group(2) else ""


def config_toml(config: Mapping[str, list[Mapping[str, Any]]]) -> str:
    """The emulator's config format (arrays of tables of strings and string lists) as TOML text.

    A JSON string or array of strings is also a valid TOML value, so json.dumps writes each value exactly.
    """
    lines: list[str] = []
    for table, rows in config.items():
        for row in rows:
            lines.append(f"[[{table}]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in row.items()]
    return "\n".join(lines) + "\n"


class EmbeddedEmulator:
    """A running `python -m qoder_emulator --port 0 --config - --parent-pid <us>`."""

    def __init__(self, config: Mapping[str, list[Mapping[str, Any]]], *, redact: Callable[[str], str]) -> None:
        spec = importlib.util.find_spec("qoder_emulator")  # found, not imported: the suite never loads its logic
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedEmulatorError("the embedded emulator (qoder_emulator) is not installed; set QODER_BASE_URL")
        package_root = str(Path(next(iter(spec.submodule_search_locations))).parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "qoder_emulator", "--port", "0", "--config", "-"]
        # --quiet: no access log. Its lines would only pile up in the pipe's queue, unread, for the whole run.
        command += ["--parent-pid", str(os.getpid()), "--quiet"]
        self._redact = redact
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self.settings: dict[str, str] | None = None
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
            )
        except OSError as error:
            raise EmbeddedEmulatorError(f"the embedded emulator could not be started: {error}") from None
        # Both pipes are drained for the child's whole life: a full pipe would block the server.
        self._drain(self._process.stdout, self._lines.put, at_end=lambda: self._lines.put(None))
        self._drain(self._process.stderr, self._stderr.append)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(config_toml(config))
            self._process.stdin.close()
        except OSError:
            pass  # it died at once; wait_ready() reports why, from its stderr

    @staticmethod
    def _drain(stream: IO[str] | None, sink: Callable[[str], None], at_end: Callable[[], None] = lambda: None) -> None:
        def pump() -> None:
            assert stream is not None
            for line in stream:
                sink(line.rstrip("\n"))
            at_end()

        threading.Thread(target=pump, name="qoder-embedded-emulator-pipe", daemon=True).start()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> dict[str, str]:
        """The QODER_* settings it announced; raises EmbeddedEmulatorError (with its stderr) if it did not."""
        if self.settings is not None:
            return self.settings
        settings: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise EmbeddedEmulatorError(
                    f"the embedded emulator did not announce itself within {timeout_s:g} s"
                ) from None
            if line is None:
                self._process.wait(5)
                raise EmbeddedEmulatorError(
                    f"the embedded emulator exited during start-up (status {self._process.returncode}): "
                    + self._redact(" | ".join(self._stderr) or "no message")
                )
            setting = announced_setting(line)
            if setting:
                settings[setting[0]] = setting[1]
            elif line.strip() == ANNOUNCEMENT_END:
                self.settings = settings
                return settings

    def stop(self) -> None:
        """Kill it: it holds nothing but this run's items, which end with the run (see the README's cleanup)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)
