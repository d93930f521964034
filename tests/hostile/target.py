"""A hostile target: a real `qoder-emulator` process behind a KitServer that forwards, tampers, and hooks.

Why the real emulator behind a proxy (and not a fake target): the items the suite must not touch, and the ones it
must leave stopped, then exist in a faithful server whose state the tests read directly (behind the proxy's back),
so "nothing foreign changed" and "nothing of the run left live" are observations, not the kit's own bookkeeping.

The emulator is started by its command line, as a user starts it, with identities chosen per target (random tokens
and environment IDs, so any occurrence of a token in the suite's output is a leak, and nothing is shared between
tests) given on standard input.
"""

from __future__ import annotations

import json
import queue
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from hostile.server import KitServer, Reply, Request, Whole

API_PREFIX = "/api/v1/cloud"
EMULATOR_HOOK = "/_emulator/hook"
HOOK_PATH = "/_kit/hook"
LIVE_STATES = frozenset({"queued", "starting", "active", "stopping"})
START_TIMEOUT_S = 30.0
HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "keep-alive"})


def _token(kind: str) -> str:
    return f"pt-kit-{kind}-{secrets.token_hex(20)}"


def _environment() -> str:
    return "env_" + secrets.token_hex(16)


@dataclass(frozen=True)
class Identities:
    """Who exists in the target: the run's tokens and environments, fresh for every target."""

    pat: str = field(default_factory=lambda: _token("pat"))
    expired_pat: str = field(default_factory=lambda: _token("expired"))
    forbidden_pat: str = field(default_factory=lambda: _token("forbidden"))
    environment: str = field(default_factory=_environment)  # QODER_ENVIRONMENT_ID
    other_environment: str = field(default_factory=_environment)  # QODER_OTHER_ENVIRONMENT_ID, same principal
    cloud_environment: str = field(default_factory=_environment)
    foreign_environment: str = field(default_factory=_environment)  # another principal's self_hosted environment

    def secrets(self) -> dict[str, str]:
        return {"QODER_PAT": self.pat, "QODER_EXPIRED_PAT": self.expired_pat, "QODER_FORBIDDEN_PAT": self.forbidden_pat}

    def config_toml(self) -> str:
        def environment(env_id: str, kind: str, owner: str) -> str:
            return f'[[environment]]\nid = "{env_id}"\ntype = "{kind}"\nowner = "{owner}"\n'

        return (
            f'[[principal]]\nname = "primary"\ntokens = ["{self.pat}"]\nexpired_tokens = ["{self.expired_pat}"]\n'
            f'[[principal]]\nname = "other"\ntokens = ["{self.forbidden_pat}"]\n'
            + environment(self.environment, "self_hosted", "primary")
            + environment(self.other_environment, "self_hosted", "primary")
            + environment(self.cloud_environment, "cloud", "primary")
            + environment(self.foreign_environment, "self_hosted", "other")
            + '[[agent]]\nid = "agent_kit"\n'
        )


class EmulatorProcess:
    """`python -m qoder_emulator --port 0 --config -`, its identities on standard input; killed by `stop()`."""

    def __init__(self, identities: Identities) -> None:
        command = [sys.executable, "-m", "qoder_emulator", "--port", "0", "--config", "-"]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(identities.config_toml())
        self._process.stdin.close()
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:  # drained for its whole life: a full pipe would block the server
            assert self._process.stdout is not None
            for line in self._process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, name="kit-emulator-pipe", daemon=True).start()
        said: list[str] = []
        self.origin = ""
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the kit's emulator did not start: " + " | ".join(said))
            said.append(line)
            if line.strip().startswith("export QODER_BASE_URL="):
                self.origin = line.strip().split("=", 1)[1].strip("'\"")
            if line.strip() == "Press Ctrl-C to stop.":
                break

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)


@dataclass(frozen=True)
class Upstream:
    """The emulator's answer to a forwarded request."""

    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def reply(self) -> Whole:
        return Whole(self.status, self.body, self.content_type)


Tamper = Callable[[Request, Upstream], Reply]
Hook = Callable[[Request, "HostileTarget"], Reply]


def passthrough(_request: Request, upstream: Upstream) -> Reply:
    return upstream.reply()


class HostileTarget:
    """The emulator, the proxy in front of it (`origin`), and the hook (`hook_url`); `tamper` and `hook` are the
    behaviours, replaceable at any time (`hostile.tamper`, `hostile.hook`)."""

    def __init__(self, identities: Identities | None = None) -> None:
        self.ids = identities or Identities()
        self.emulator = EmulatorProcess(self.ids)
        self.direct = httpx.Client(base_url=self.emulator.origin, timeout=10)
        self.tamper: Tamper = passthrough
        self.hook: Hook = honest_hook
        # Items the hook made but did not hand over honestly: the suite must reject them, and then never touch them.
        self.hook_leftovers: set[str] = set()
        self.server = KitServer(self._handle)
        self.origin = self.server.origin
        self.hook_url = self.origin + HOOK_PATH

    def close(self) -> None:
        self.server.stop()
        self.direct.close()
        self.emulator.stop()

    def __enter__(self) -> HostileTarget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def suite_environment(self) -> dict[str, str]:
        """The QODER_* variables that point the suite at the proxy, with the hook provisioner."""
        return {
            "QODER_BASE_URL": self.origin,
            "QODER_PAT": self.ids.pat,
            "QODER_ENVIRONMENT_ID": self.ids.environment,
            "QODER_OTHER_ENVIRONMENT_ID": self.ids.other_environment,
            "QODER_CLOUD_ENVIRONMENT_ID": self.ids.cloud_environment,
            "QODER_FORBIDDEN_PAT": self.ids.forbidden_pat,
            "QODER_EXPIRED_PAT": self.ids.expired_pat,
            "QODER_PROVISIONER": "hook",
            "QODER_HOOK_URL": self.hook_url,
            "QODER_TIMEOUT": "5",
            "QODER_WRITE_RATE": "0",
            "QODER_READ_RATE": "0",
        }

    # ------------------------------------------------------------------------------------------- the proxy's work

    def _handle(self, request: Request) -> Reply:
        if request.path == HOOK_PATH:
            return self.hook(request, self)
        return self.tamper(request, self.forward(request))

    def forward(self, request: Request) -> Upstream:
        headers = [(name, value) for name, value in request.headers.items() if name not in HOP_BY_HOP]
        answer = self.direct.request(
            request.method, httpx.URL(self.emulator.origin + request.target), headers=headers, content=request.body
        )
        return Upstream(answer.status_code, answer.content, answer.headers.get("content-type", "application/json"))

    # ------------------------------------------------------------------- the emulator, directly (behind the proxy)

    def _token_for(self, environment_id: str) -> str:
        return self.ids.forbidden_pat if environment_id == self.ids.foreign_environment else self.ids.pat

    def create_item(
        self, state: str, environment_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """A new item, made through the emulator's own hook (not through the proxy, not by the suite)."""
        environment_id = environment_id or self.ids.environment
        answer = self.direct.post(
            EMULATOR_HOOK,
            json={"state": state, "environment_id": environment_id, "metadata": dict(metadata or {})},
            headers={"Authorization": f"Bearer {self._token_for(environment_id)}"},
        )
        answer.raise_for_status()
        return answer.json()

    def get_item(self, environment_id: str, work_id: str) -> dict[str, Any] | None:
        answer = self.direct.get(
            f"{API_PREFIX}/environments/{environment_id}/work/{work_id}",
            headers={"Authorization": f"Bearer {self._token_for(environment_id)}"},
        )
        return answer.json() if answer.status_code == 200 else None

    def list_items(self, environment_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        while True:
            answer = self.direct.get(
                f"{API_PREFIX}/environments/{environment_id}/work",
                params=params,
                headers={"Authorization": f"Bearer {self._token_for(environment_id)}"},
            )
            answer.raise_for_status()
            page = answer.json()
            items += page["data"]
            if not page["has_more"]:
                return items
            params = {"limit": "100", "after_id": page["last_id"]}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every item of every self_hosted environment, by ID, as the emulator holds it."""
        environments = (self.ids.environment, self.ids.other_environment, self.ids.foreign_environment)
        return {item["id"]: item for env in environments for item in self.list_items(env)}


# --------------------------------------------------------------------------------------------------- the honest hook


def wanted(request: Request) -> dict[str, Any]:
    """What the suite asked the hook for: state, environment_id, metadata."""
    try:
        body = json.loads(request.body)
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def honest_hook(request: Request, target: HostileTarget) -> Reply:
    """The contract: a NEW item in that state, in that environment, carrying the metadata (made on the emulator with
    the kit's own token, so a hook URL with userinfo still works)."""
    asked = wanted(request)
    try:
        item = target.create_item(asked.get("state", ""), asked.get("environment_id"), asked.get("metadata"))
    except httpx.HTTPStatusError as refused:
        return Whole(refused.response.status_code, refused.response.content)
    return Whole(201, json.dumps(item).encode())
