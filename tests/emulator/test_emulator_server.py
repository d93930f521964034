"""The emulator as a real server (`qoder-emulator` in a subprocess): access log, SIGTERM, a port that is taken.

Each test starts the command line over loopback, as an operator would, and reads what it prints.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from qoder_emulator.access_log import shown_target

ENVIRONMENT = "env_00000000000000000000000000000001"
TOKENS = ("pt-emulator-primary", "pt-emulator-other", "pt-emulator-expired")


class Server:
    """A `python -m qoder_emulator --port 0` and the base URL it announced."""

    def __init__(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qoder_emulator", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.announcement: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.announcement.append(line)
            if line.startswith("Press Ctrl-C to stop."):
                break
        else:
            raise AssertionError(f"the emulator did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]
        first = self.announcement[0]
        self.base_url = first.split(" listening on ", 1)[1].strip()

    def terminate(self) -> tuple[int, str, str]:
        """SIGTERM, then everything it printed after its announcement, and its exit status."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.kill()


def test_access_log_has_one_line_per_request_and_no_token(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        stats = client.get(
            f"/api/v1/cloud/environments/{ENVIRONMENT}/work/stats",
            headers={"Authorization": f"Bearer {TOKENS[0]}"},
        )
        leaky = client.get(
            f"/api/v1/cloud/environments/{ENVIRONMENT}/work",
            params={"limit": "5", "access_token": TOKENS[1]},
            headers={"Authorization": f"Bearer {TOKENS[0]}"},
        )
        in_path = client.post(f"/api/v1/cloud/environments/{TOKENS[2]}/work/x/stop", json={})
    assert (stats.status_code, leaky.status_code, in_path.status_code) == (200, 200, 401)
    status, out, err = server.terminate()
    assert status == 0, err
    lines = out.splitlines()
    assert lines[-1] == "qoder-emulator: stopped (SIGTERM)"
    log = lines[:-1]
    assert len(log) == 3, out
    method, path, code, milliseconds, unit = log[0].split(" ")
    assert (method, path, code, unit) == ("GET", f"/api/v1/cloud/environments/{ENVIRONMENT}/work/stats", "200", "ms")
    assert float(milliseconds) >= 0
    assert log[1].startswith(f"GET /api/v1/cloud/environments/{ENVIRONMENT}/work?limit=…&access_token=… 200 ")
    assert log[2].startswith("POST /api/v1/cloud/environments/<token>/work/x/stop 401 ")
    for token in TOKENS:
        assert token not in out + err


def test_quiet_emulator_logs_nothing() -> None:
    running = Server("--quiet")
    try:
        httpx.get(running.base_url + "/_emulator/ready", timeout=10)
        status, out, _ = running.terminate()
    finally:
        running.kill()
    assert (status, out) == (0, "qoder-emulator: stopped (SIGTERM)\n")


def test_sigterm_right_after_the_announcement_exits_0_with_one_line(server: Server) -> None:
    status, out, err = server.terminate()
    assert (status, out) == (0, "qoder-emulator: stopped (SIGTERM)\n")
    assert "Traceback" not in err and "Exception" not in err


def test_port_in_use_names_the_host_and_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "qoder_emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"qoder-emulator: error: cannot listen on 127.0.0.1:{port}: address already in use")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("path", "query", "shown"),
    [
        ("/a/b", b"", "/a/b"),
        ("/a", b"x=1&y=secret", "/a?x=…&y=…"),
        ("/a", b"&&", "/a?…"),
        ("/a/pt-secret/b", b"", "/a/<token>/b"),
        ("/a\nGET /forged 200", b"", "/a\\nGET /forged 200"),
        ("/" + "p" * 400, b"", "/" + "p" * 299 + "…"),
    ],
)
def test_logged_target(path: str, query: bytes, shown: str) -> None:
    assert shown_target(path, query, ["pt-secret"]) == shown
