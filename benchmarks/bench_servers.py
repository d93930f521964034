"""Server processes for the benchmarks: the emulator (started by its command line) and a bare endpoint.

Why separate processes: throughput and memory are properties of the server process alone; a server in the
benchmark's own process would share its GIL with the load generator and its heap with the client.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance.embedded import ANNOUNCEMENT_END, announced_setting

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
URL_PATTERN = re.compile(r"listening on (http://\S+)")


class ServerProcess:
    """A server child process whose first lines announce `listening on http://...`."""

    def __init__(self, command: list[str], name: str, announcement_end: str | None = None) -> None:
        self.name = name
        self.settings: dict[str, str] = {}  # the `export QODER_...=...` lines it announced, if any
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.base_url = self._announced_url(timeout=30)
        if announcement_end is not None:
            self._read_settings_until(announcement_end)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _announced_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if not ready:
                if self.process.poll() is not None:
                    break
                continue
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            found = URL_PATTERN.search(line)
            if found:
                return found.group(1)
        self.stop()
        raise RuntimeError(f"{self.name} did not announce its URL within {timeout} s")

    def _read_settings_until(self, end: str) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            setting = announced_setting(line)
            if setting:
                self.settings[setting[0]] = setting[1]
            if line.strip() == end:
                return
        raise RuntimeError(f"{self.name} ended its announcement without {end!r}")

    def status_kb(self, field: str) -> int:
        """A `/proc/<pid>/status` figure in kB (VmHWM = peak resident set, VmRSS = current)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (/proc/<pid>/stat fields 14 and 15)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_emulator(*options: str) -> ServerProcess:
    """`python -m qoder_emulator --port 0 [options]`: the way a user starts it."""
    command = [sys.executable, "-m", "qoder_emulator", "--port", "0", *options]
    return ServerProcess(command, "emulator", announcement_end=ANNOUNCEMENT_END)


def start_bare_endpoint() -> ServerProcess:
    return ServerProcess([sys.executable, str(HERE / "bare_endpoint.py")], "bare endpoint")


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
