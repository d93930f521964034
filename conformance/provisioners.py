"""Provisioners: a NEW work item in a wanted state, through the hook, the documented lifecycle, or the emulator.

All three sit behind `Provisioner.provision(state, *, environment_id, metadata) -> dict`. An answer is hostile input
until proven otherwise, so an item is handed to `on_created` (the ledger, and so the cleanup) only once the suite has
proved it owns it: its ID has the suite's accepted form (conformance/paths.py), is new to this run, and the item is
in the environment asked for and carries the run's metadata, as the SERVER holds it. An answer that fails that proof
is rejected (RejectedItem): the suite sends no request about its ID, records nothing and touches nothing.

The item returned to the case, the baseline of every "unchanged fields" check, is the server's, never the hook's
claim: the hook's answer is read back (one GET) and must agree with the server's item on every documented field; a
discrepancy is the hook's and is an error verdict, never a FAIL of the server. The lifecycle provisioner already
ends with a GET, so it costs nothing extra.

Every failure is a ProvisioningError naming the step: an error verdict, never a conformance FAIL.
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

from conformance import evidence, schemas
from conformance.client import SuiteClient
from conformance.config import Settings
from conformance.errors import ProvisioningError
from conformance.paths import ENVIRONMENT_ID_FORM, WORK_ID_FORM, is_environment_id, is_work_id, public_url, work_path

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
SHOWN = 60  # characters of a hostile value quoted in a message
NOT_TOUCHED = "the suite sent no request about it and did not record it"


class RejectedItem(ProvisioningError):
    """The answer named an item the suite cannot prove it owns: nothing is sent about it, recorded or cleaned."""


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
    text = evidence.printable(text, one_line=True)  # no raw control bytes
    if client is not None:
        text = client.redact(text)
    return text + ("..." if len(response.content) > EXCERPT else "")


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def shown(value: Any) -> str:
    """A hostile value for a message: scalars as a bounded repr (control characters escaped), anything else by type."""
    if value is None or isinstance(value, (str, int, float, bool)):
        text = repr(value)
        return text if len(text) <= SHOWN else text[:SHOWN] + "...'"
    return f"a JSON {type(value).__name__}"


def documented_fields() -> list[str]:
    """The Work item's documented fields (the schema's `required` list, in the docs' order)."""
    return list(schemas.load("work-item")["required"])


def _check_environment(environment_id: str) -> None:
    if not is_environment_id(environment_id):
        raise ProvisioningError(
            f"environment ID {shown(environment_id)} is not of the accepted form ({ENVIRONMENT_ID_FORM}): "
            "no item is provisioned in it"
        )


class HookProvisioner:
    """POST {QODER_HOOK_URL} (interface.md): the target puts a new item in the state directly.

    Costs two requests per item: the hook, and one GET that reads the item back from the server (the proof of
    ownership and the fair baseline); a wrong-state, partial or altered answer is an error, not a FAIL.
    """

    def __init__(
        self, settings: Settings, client: SuiteClient, on_created: OnCreated, *, seen: set[str] | None = None
    ) -> None:
        self.settings = settings
        self.client = client
        self.on_created = on_created
        self.seen = set() if seen is None else seen  # every work ID this process has accepted in this run

    def provision(self, state: str, *, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        _check_state(state)
        _check_environment(environment_id)
        hook = self.settings.hook_url or ""
        where = f"the hook {public_url(hook)}"
        body = json.dumps({"state": state, "environment_id": environment_id, "metadata": dict(metadata)}).encode()
        response = self.client.absolute("POST", hook, role=evidence.SETUP, content=body, headers=JSON_HEADERS)
        if response.status_code not in (200, 201):
            raise ProvisioningError(
                f"{where} answered {response.status_code} for state {state!r}: {excerpt(response, self.client)}"
            )
        answer = _json(response)
        claim = f"{where} answered {response.status_code} for state {state!r}"
        problem = _ownership_problem(answer, environment_id, metadata, self.seen, state=state)
        if problem:
            raise RejectedItem(self.client.redact(f"{claim}, rejected: {problem}"))
        work_id = answer["id"]
        server = self._read_back(claim, environment_id, work_id, metadata)
        _record(self.on_created, self.seen, environment_id, work_id)
        wrong = []
        if server.get("state") != state:
            wrong.append(f"the server holds it in state {shown(server.get('state'))}")
        differ = [name for name in documented_fields() if answer.get(name, _MISSING) != server.get(name, _MISSING)]
        if differ:
            wrong.append(
                "the answer differs from the item the server holds in "
                + ", ".join(f"{name} (hook {_field(answer, name)}, server {_field(server, name)})" for name in differ)
            )
        if wrong:
            raise ProvisioningError(
                self.client.redact(f"{claim}: item {work_id}: " + "; ".join(wrong) + " (it is recorded and cleaned)")
            )
        return server

    def _read_back(self, claim: str, environment_id: str, work_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        """The item as the server holds it; rejected unless the server confirms it is ours (env and metadata)."""
        read = self.client.request("GET", work_path(environment_id, work_id), role=evidence.SETUP)
        server = _json(read)
        if read.status_code != 200 or not isinstance(server, dict):
            raise RejectedItem(
                self.client.redact(
                    f"{claim} naming item {work_id}, but GET of it in {environment_id} answered {read.status_code}: "
                    f"{excerpt(read, self.client)}; not recorded"
                )
            )
        if (
            server.get("id") != work_id
            or server.get("environment_id") != environment_id
            or not _carries(server, metadata)
        ):
            raise RejectedItem(
                self.client.redact(
                    f"{claim} naming item {work_id}, but the server's item is not this run's (its id, environment or "
                    "metadata differ from what the hook claimed): it was read once and is left alone, not recorded"
                )
            )
        return server


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
        seen: set[str] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.on_created = on_created
        self.seen = set() if seen is None else seen  # every work ID this process has accepted in this run
        # Per environment, the newest work ID listed so far; shared by the provisioners of one process.
        self.cursors = {} if cursors is None else cursors
        self.poll_deadline_s = poll_deadline_s
        self.list_deadline_s = list_deadline_s

    def provision(self, state: str, *, environment_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        _check_state(state)
        _check_environment(environment_id)
        item = self._queued(environment_id, metadata)
        work = work_path(environment_id, item["id"])
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
        # Ours: the item of the session just created. Its ID must still be of the accepted form, new, and in place.
        problem = _ownership_problem(item, environment_id, {}, self.seen)
        if problem:
            raise RejectedItem(self.client.redact(f"lifecycle: the new session's work item is rejected: {problem}"))
        _record(self.on_created, self.seen, environment_id, item["id"])
        if not _carries(item, metadata):
            updated = self.client.request(
                "POST",
                work_path(environment_id, item["id"]),
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
            listed = self.client.request("GET", work_path(environment_id), role=evidence.SETUP,
                                         params=params)  # fmt: skip
            document = _json(listed)
            if listed.status_code != 200 or not isinstance(document, dict):
                raise ProvisioningError(
                    f"lifecycle step 'list work' answered {listed.status_code}: {excerpt(listed, self.client)}"
                )
            listed_items = document.get("data")
            items = [item for item in listed_items if isinstance(item, dict)] if isinstance(listed_items, list) else []
            if items and is_work_id(items[-1].get("id")):
                self.cursors[environment_id] = items[-1]["id"]
            for item in items:
                data = item.get("data")
                if isinstance(data, dict) and data.get("id") == session_id:
                    return item
            page = document.get("next_page") if document.get("has_more") is True else None
            if not isinstance(page, str) or not page:
                return None
            params = {"limit": LIST_PAGE_SIZE, "page": page}  # page, before_id and after_id are exclusive
            time.sleep(LIST_PAGE_PAUSE_S)

    def _deliver(self, environment_id: str, work_id: str) -> None:
        """Poll until THIS item is delivered; other items (another worker's) are left alone, never acked."""
        deadline = time.monotonic() + self.poll_deadline_s
        while time.monotonic() < deadline:
            polled = self.client.request(
                "GET",
                work_path(environment_id, None, "/poll"),
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


_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "absent"})()


def _field(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name, _MISSING)
    return "absent" if value is _MISSING else shown(value)


def _ownership_problem(
    item: Any, environment_id: str, metadata: Mapping[str, str], seen: set[str], *, state: str | None = None
) -> str:
    """'' when `item` may be taken as this run's new item in `environment_id`, else why not (no value shown raw).

    The proof the answer itself can give: an ID of the accepted form, not seen before in this run, the environment
    asked for, the state asked for (when one was), and the run's metadata. An answer that itself names another
    state is not the item asked for, so it is rejected before any request about it. A wrong environment is
    reported with the ID so the user can stop the item: the suite cannot prove that item is its own, so it leaves
    it alone.
    """
    if not isinstance(item, dict):
        return f"the answer is not a Work item object ({shown(item)}); {NOT_TOUCHED}"
    work_id = item.get("id")
    if not is_work_id(work_id):
        return f"its id {shown(work_id)} is not a work ID of the accepted form ({WORK_ID_FORM}); {NOT_TOUCHED}"
    if work_id in seen:
        return f"item {work_id} is not new: this run already had it; {NOT_TOUCHED} again"
    if item.get("environment_id") != environment_id:
        return (
            f"item {work_id} is in environment {shown(item.get('environment_id'))}, not {environment_id}: the suite "
            f"cannot prove it owns it, so {NOT_TOUCHED}; it may still be live there: stop it yourself, and fix the "
            "hook to create items in the environment it is asked for"
        )
    if state is not None and item.get("state") != state:
        return (
            f"item {work_id} is in state {shown(item.get('state'))}, not {state!r}: not the item asked for, so "
            f"{NOT_TOUCHED}; it may still be live: stop it yourself, and fix the hook"
        )
    if not _carries(item, metadata):
        return f"item {work_id} does not carry this run's metadata, so it is not proved new; {NOT_TOUCHED}"
    return ""


def _record(on_created: OnCreated, seen: set[str], environment_id: str, work_id: str) -> None:
    """Hand a proven item to the ledger; a ledger that cannot be written is an error naming the item left live."""
    seen.add(work_id)
    try:
        on_created(environment_id, work_id)
    except OSError as error:
        raise ProvisioningError(
            f"item {work_id} was created but could not be recorded in the ledger ({error.strerror or error}); "
            "it may still be live"
        ) from error


def _item_problems(item: Any, state: str, environment_id: str, metadata: Mapping[str, str]) -> str:
    """'' when `item` is a work item in `state` and `environment_id` carrying `metadata`, else what is wrong."""
    if not isinstance(item, dict) or not is_work_id(item.get("id")):
        return "the answer is not a Work item object"
    wrong = []
    if item.get("state") != state:
        wrong.append(f"state is {shown(item.get('state'))}")
    if item.get("environment_id") != environment_id:
        wrong.append(f"environment_id is {shown(item.get('environment_id'))}")
    if not _carries(item, metadata):
        wrong.append("the metadata was not carried")
    return f"item {item['id']}: " + "; ".join(wrong) if wrong else ""


def _carries(item: Mapping[str, Any], metadata: Mapping[str, str]) -> bool:
    """Whether `item` carries every key of `metadata` with its value (other keys may be there too)."""
    carried = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    return all(carried.get(key) == value for key, value in metadata.items())


def make_provisioner(
    settings: Settings,
    client: SuiteClient,
    on_created: OnCreated,
    list_cursors: dict[str, str] | None = None,
    seen: set[str] | None = None,
) -> Provisioner:
    """The configured provisioner; embedded is the hook provisioner against the emulator the plugin launched.
    `list_cursors` carries the lifecycle provisioner's place in each work list from one case to the next; `seen`, the
    work IDs the process accepted so far in the run (an answer naming one again is not a new item)."""
    if settings.provisioner == "lifecycle":
        return LifecycleProvisioner(settings, client, on_created, cursors=list_cursors, seen=seen)
    return HookProvisioner(settings, client, on_created, seen=seen)
