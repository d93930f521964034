"""Helpers shared by the emulator self-tests: an HTTP helper bound to one emulator, and the error-envelope check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from qoder_emulator import RunningEmulator

API = "/api/v1/cloud"


class Http:
    """Thin httpx wrapper bound to one emulator and its default credentials."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.settings = emulator.settings
        self.env = emulator.settings["QODER_ENVIRONMENT_ID"]
        self.pat = emulator.settings["QODER_PAT"]
        self.client = httpx.Client(base_url=emulator.base_url, timeout=10)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.pat}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {} if anonymous else self.auth(token)
        sent.update(headers or {})
        return self.client.request(method, path if path.startswith("/_") else API + path, headers=sent, **kwargs)

    def work(self, work_id: str = "", *, env: str | None = None, suffix: str = "") -> str:
        path = f"/environments/{env or self.env}/work"
        if work_id:
            path += f"/{work_id}"
        return path + suffix

    def provision(self, state: str, *, env: str | None = None, metadata: Mapping[str, str] | None = None) -> dict:
        response = self.request(
            "POST",
            "/_emulator/hook",
            json={"state": state, "environment_id": env or self.env, "metadata": dict(metadata or {"case": "x"})},
        )
        assert response.status_code == 201, response.text
        return response.json()

    def stop(self, item: Mapping[str, Any], *, content: bytes | None = None, **kwargs: Any) -> httpx.Response:
        return self.request(
            "POST", self.work(item["id"], env=item["environment_id"], suffix="/stop"), content=content, **kwargs
        )

    def get(self, item: Mapping[str, Any]) -> dict:
        response = self.request("GET", self.work(item["id"], env=item["environment_id"]))
        assert response.status_code == 200, response.text
        return response.json()


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict:
    """The documented envelope, exactly: {"type":"error","error":{"type","message"[, "param"]}}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == "error"
    assert set(body) == {"type", "error"}
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"type", "message", "param"}
    return body["error"]
