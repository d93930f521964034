"""Provisioners: a NEW work item in a wanted state, through the hook, the documented lifecycle, or the emulator.

All three sit behind `Provisioner.provision(state, *, environment_id, metadata) -> dict`. Every created item is
handed to `on_created` (the ledger) the moment the first answer names it, before any further step, so a run that
breaks half-way still knows what it left behind. Every failure is a ProvisioningError naming the step: an error
verdict, never a conformance FAIL.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from conformance import evidence
from conformance.client import SuiteClient
from conformance.config import Settings
from conformance.errors import ProvisioningError

STATES = ("queued", "starting", "active", "stopping", "stopped")
JSON_HEADERS = {"Content-Type": "application/json"}
EXCERPT = 200
POLL_DEADLINE_S = 30.0
LIST_DEADLINE_S = 10.0
LIST_PAGE_PAUSE_S = 0.1  # the docs' baseline: at least 100 ms between paginated reads
LIST_PAGE_SIZE = 100  # the documented maximum ("values above 100 are capped at 100")
# One Worker-ID per process, so items delivered to another xdist worker are never ours to ack.
WORKER_ID = f"qoder-conformance-{os.getpid()}-{secrets.token_hex(4)}"

OnCreated = Callable[[str, str], None]  # (environment_id, work_id)


class Provisioner(Protocol):
    def provision(self, state: str, *, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]: ...


def case_metadata(settings: Settings, nodeid: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Metadata every provisioned item carries: marks it as the suite's, of this run, of this case."""
    metadata = {
        "qoder_conformance": "1",
        "run": settings.run_id,
        "case": hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:12],
    }
    metadata.update(extra or {})
    return metadata


def excerpt(response: httpx.Response, client: SuiteClient | None = None) -> str:
    text = response.content[:EXCERPT].decode("utf-8", errors="replace").replace("\n", " ")
    if client is not None:
        text = client.redact(text)
    return text + ("..." if len(response.content) > EXCERPT else "")


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


class HookProvisioner:
    """POST {QODER_HOOK_URL} (interface.md): the target puts a new item in the state directly."""

    def __init__(self, settings: Settings, client: SuiteClient, on_created: OnCreated) -> None:
        self.settings = settings
        self.client = client
        self.on_created = on_created

    def provision(self, state: str, *, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        _check_state(state)
        hook = self.settings.hook_url or ""
        body = json.dumps({"state": state, "environment_id": environment_id, "metadata": dict(metadata)}).encode()
        response = self.client.absolute("POST", hook, role=evidence.SETUP, content=body, headers=JSON_HEADERS)
        item = _json(response)
        if isinstance(item, dict) and isinstance(item.get("id"), str) and response.status_code in (200, 201):
            self.on_created(environment_id, item["id"])
        where = f"the hook {self.client.redact(hook)}"
        if response.status_code not in (200, 201):
            raise ProvisioningError(
                f"{where} answered {response.status_code} for state {state!r}: {excerpt(response, self.client)}"
            )
        problems = _item_problems(item, state, environment_id, metadata)
        if problems:
            raise ProvisioningError(f"{where} answered {response.status_code} for state {state!r} but {problems}")
        return item


class LifecycleProvisioner:
    """Documented API only (interface.md's recipe): sessions, list, poll, ack, heartbeat, stop."""

    def __init__(
        self,
        settings: Settings,
        client: SuiteClient,
        on_created: OnCreated,
        *,
        poll_deadline_s: float = POLL_DEADLINE_S,
        list_deadline_s: float = LIST_DEADLINE_S,
        cursors: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.on_created = on_created
        # Per environment, the newest work ID listed so far; shared by the provisioners of one process.
        self.cursors = {} if cursors is None else cursors
        self.poll_deadline_s = poll_deadline_s
        self.list_deadline_s = list_deadline_s

    def provision(self, state: str, *, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        _check_state(state)
        item = self._queued(environment_id, metadata)
        work = f"/environments/{environment_id}/work/{item['id']}"
        if state != "queued":
            self._deliver(environment_id, item["id"])
            self._step("ack", "POST", work + "/ack", "starting", headers={"Worker-ID": WORKER_ID})
        if state in ("active", "stopping", "stopped"):
            self._step(
                "heartbeat", "POST", work + "/heartbeat", None, params={"expected_last_heartbeat": "NO_HEARTBEAT"}
            )
        if state == "stopping":
            self._step("stop {}", "POST", work + "/stop", "stopping", content=b"{}", headers=JSON_HEADERS)
        if state == "stopped":
            self._step("stop {force: true}", "POST", work + "/stop", "stopped", content=b'{"force": true}',
                       headers=JSON_HEADERS)  # fmt: skip
        final = self.client.request("GET", work, role=evidence.SETUP)
        body = _json(final)
        if final.status_code != 200:
            raise ProvisioningError(
                f"lifecycle: final GET {work} answered {final.status_code}: {excerpt(final, self.client)}"
            )
        problems = _item_problems(body, state, environment_id, metadata)
        if problems:
            raise ProvisioningError(f"lifecycle: after the recipe for {state!r}, {problems}")
        return body

    def _queued(self, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        body = {"agent": self.settings.agent_id, "environment_id": environment_id, "metadata": dict(metadata)}
        created = self.client.request(
            "POST", "/sessions", role=evidence.SETUP, content=json.dumps(body).encode(), headers=JSON_HEADERS
        )
        session = _json(created)
        if created.status_code not in (200, 201) or not isinstance(session, dict) or not session.get("id"):
            raise ProvisioningError(
                f"lifecycle step 'create session' (POST /sessions) answered {created.status_code}: "
                f"{excerpt(created, self.client)}"
            )
        item = self._find_session_item(environment_id, session["id"])
        self.on_created(environment_id, item["id"])
        current = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if any(current.get(key) != value for key, value in metadata.items()):
            updated = self.client.request(
                "POST",
                f"/environments/{environment_id}/work/{item['id']}",
                role=evidence.SETUP,
                content=json.dumps({"metadata": dict(metadata)}).encode(),
                headers=JSON_HEADERS,
            )
            if updated.status_code != 200 or not isinstance(_json(updated), dict):
                raise ProvisioningError(
                    f"lifecycle step 'update metadata' answered {updated.status_code}: {excerpt(updated, self.client)}"
                )
            item = _json(updated)
        if item.get("state") != "queued":
            raise ProvisioningError(f"lifecycle: the new session's work item is {item.get('state')!r}, not 'queued'")
        return item

    def _find_session_item(self, environment_id: str, session_id: str) -> dict[str, Any]:
        """Find the item whose data.id is the session in the environment's work list.

        The list is in "ascending ID order, which matches queue creation order" (api-reference §5.1), so a new item
        comes after every item listed before: the search starts `after_id` the newest ID this process has seen in
        the environment, 100 items a page (the documented maximum), and costs one request or two however many items
        the environment holds. Should the target order otherwise, a miss is searched again from the beginning.
        """
        deadline = time.monotonic() + self.list_deadline_s
        while True:
            cursor = self.cursors.get(environment_id)
            found = self._search_list(environment_id, session_id, cursor)
            if found is None and cursor is not None:
                found = self._search_list(environment_id, session_id, None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise ProvisioningError(
                    f"lifecycle: no work item for session {session_id} appeared in the list of {environment_id} "
                    f"within {self.list_deadline_s:g} s"
                )
            time.sleep(0.2)

    def _search_list(self, environment_id: str, session_id: str, after_id: str | None) -> dict[str, Any] | None:
        params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
        if after_id:
            params["after_id"] = after_id
        while True:
            listed = self.client.request("GET", f"/environments/{environment_id}/work", role=evidence.SETUP,
                                         params=params)  # fmt: skip
            document = _json(listed)
            if listed.status_code != 200 or not isinstance(document, dict):
                raise ProvisioningError(
                    f"lifecycle step 'list work' answered {listed.status_code}: {excerpt(listed, self.client)}"
                )
            items = [item for item in document.get("data") or [] if isinstance(item, dict)]
            if items and isinstance(items[-1].get("id"), str):
                self.cursors[environment_id] = items[-1]["id"]
            for item in items:
                if (item.get("data") or {}).get("id") == session_id:
                    return item
            page = document.get("next_page") if document.get("has_more") else None
            if not page:
                return None
            params = {"limit": LIST_PAGE_SIZE, "page": page}  # page, before_id and after_id are exclusive
            time.sleep(LIST_PAGE_PAUSE_S)

    def _deliver(self, environment_id: str, work_id: str) -> None:
        """Poll until THIS item is delivered; other items (another worker's) are left alone, never acked."""
        deadline = time.monotonic() + self.poll_deadline_s
        while time.monotonic() < deadline:
            polled = self.client.request(
                "GET",
                f"/environments/{environment_id}/work/poll",
                role=evidence.SETUP,
                params={"block_ms": 999},
                headers={"Worker-ID": WORKER_ID},
            )
            if polled.status_code != 200:
                raise ProvisioningError(
                    f"lifecycle step 'poll' answered {polled.status_code}: {excerpt(polled, self.client)}"
                )
            delivered = _json(polled)
            if isinstance(delivered, dict) and delivered.get("id") == work_id:
                return
        raise ProvisioningError(
            f"lifecycle step 'poll': work item {work_id} was not delivered within {self.poll_deadline_s:g} s"
        )

    def _step(
        self,
        name: str,
        method: str,
        path: str,
        expected_state: str | None,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self.client.request(
            method, path, role=evidence.SETUP, content=content, headers=headers, params=params
        )
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise ProvisioningError(
                f"lifecycle step '{name}' ({method} {path}) answered {response.status_code}: "
                f"{excerpt(response, self.client)}"
            )
        if expected_state is not None and body.get("state") != expected_state:
            raise ProvisioningError(
                f"lifecycle step '{name}' left the item {body.get('state')!r}, expected {expected_state!r}"
            )
        return body


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; one of {STATES}")


def _item_problems(item: Any, state: str, environment_id: str, metadata: Mapping[str, str]) -> str:
    """'' when `item` is a work item in `state` and `environment_id` carrying `metadata`, else what is wrong."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return "the answer is not a Work item object"
    wrong = []
    if item.get("state") != state:
        wrong.append(f"state is {item.get('state')!r}")
    if item.get("environment_id") != environment_id:
        wrong.append(f"environment_id is {item.get('environment_id')!r}")
    carried = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    if any(carried.get(key) != value for key, value in metadata.items()):
        wrong.append("the metadata was not carried")
    return f"item {item['id']}: " + "; ".join(wrong) if wrong else ""


def make_provisioner(
    settings: Settings, client: SuiteClient, on_created: OnCreated, list_cursors: dict[str, str] | None = None
) -> Provisioner:
    """The configured provisioner; embedded is the hook provisioner against the emulator the plugin launched.
    `list_cursors` carries the lifecycle provisioner's place in each work list from one case to the next."""
    if settings.provisioner == "lifecycle":
        return LifecycleProvisioner(settings, client, on_created, cursors=list_cursors)
    return HookProvisioner(settings, client, on_created)
