"""Hostile provider-state hooks: each answers the suite's hook call (interface.md's contract) with something wrong.

Each is a `Hook` (the suite's request, the target) -> reply. Where the answer is built from an item the hook really
made on the emulator, that item is recorded in `target.hook_leftovers`: the suite must reject the answer as a
provisioning error naming the hook, and then never send a request about it (so it stays as the hook left it).

Answers that are plainly about a real item (a pre-existing one, one of another environment) carry that item exactly
as the emulator holds it: the attack is the ID, not a forgery the suite could not tell from the truth. Answers with
a bad ID (path traversal, a line break, shell metacharacters) copy a genuine new item in the state, environment and
metadata asked for, so that only the ID is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hostile.server import Reply, Request, Stream, Whole
from hostile.target import Hook, HostileTarget, wanted

STATES = ("queued", "starting", "active", "stopping", "stopped")


def _answer(item: dict[str, Any]) -> Reply:
    return Whole(201, json.dumps(item).encode())


def _genuine(request: Request, target: HostileTarget, **changes: Any) -> dict[str, Any]:
    """A new item as asked (or with the given changes to state / environment / metadata), recorded as a leftover."""
    asked = wanted(request)
    item = target.create_item(
        changes.get("state", asked.get("state", "")),
        changes.get("environment_id", asked.get("environment_id")),
        changes.get("metadata", asked.get("metadata")),
    )
    target.hook_leftovers.add(item["id"])
    return item


def existing_item(environment_id: str, work_id: str) -> Hook:
    """Answer with an item that existed before the run (of this environment or another), as the emulator holds it."""

    def hook(_request: Request, target: HostileTarget) -> Reply:
        item = target.get_item(environment_id, work_id)
        assert item is not None, f"the pre-existing item {work_id} is gone"
        return _answer(item)

    return hook


def forged_id(make_id: Callable[[HostileTarget], str]) -> Hook:
    """A genuine new item as asked, whose ID is replaced by `make_id(target)`."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        item = _genuine(request, target)
        item["id"] = make_id(target)
        return _answer(item)

    return hook


def traversal_to(environment_id: str, work_id: str) -> Hook:
    """`../../<env>/work/<id>`: spliced into a path unencoded, it addresses an item of another environment."""
    return forged_id(lambda _target: f"../../{environment_id}/work/{work_id}")


def newline_id() -> Hook:
    return forged_id(lambda _target: "work_0123456789abcdef\r\nX-Kit-Injected: 1\n")


def shell_metacharacters_id(marker: str) -> Hook:
    return forged_id(lambda _target: f"work_$(touch {marker}.h1)`touch {marker}.h2`;touch {marker}.h3&|<>")


def wrong_environment() -> Hook:
    """A new item as asked, but made in another environment of the same principal (and answered as it is)."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        return _answer(_genuine(request, target, environment_id=target.ids.other_environment))

    return hook


def wrong_state() -> Hook:
    """A new item in another state than the one asked for (answered as it is)."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        asked = wanted(request).get("state")
        other = "queued" if asked != "queued" else "active"
        return _answer(_genuine(request, target, state=other))

    return hook


def without_run_metadata() -> Hook:
    """A new item as asked, but without the metadata the suite sent (someone else's)."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        return _answer(_genuine(request, target, metadata={"owner": "somebody else"}))

    return hook


PARTIAL_FIELDS = ("created_at", "data", "stop_requested_at", "stopped_at", "type")


def partial_item() -> Hook:
    """A new item as asked, answered with documented fields missing: a baseline the server cannot be blamed for."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        item = _genuine(request, target)
        for name in PARTIAL_FIELDS:
            item.pop(name, None)
        return _answer(item)

    return hook


def other_created_at() -> Hook:
    """A new item as asked, answered with another `created_at` than the server holds."""

    def hook(request: Request, target: HostileTarget) -> Reply:
        item = _genuine(request, target)
        item["created_at"] = "2001-02-03T04:05:06Z"
        return _answer(item)

    return hook


def refusing_with(body: str, status: int = 500) -> Hook:
    """Refuse every call with `body` as plain text (what a broken hook's error page says, control bytes included)."""

    def hook(_request: Request, _target: HostileTarget) -> Reply:
        return Whole(status, body.encode("utf-8"), content_type="text/plain")

    return hook


def huge_answer(size: int = 200 * 1024 * 1024) -> Hook:
    """Answer every call with a 200 MB JSON-looking body (generated as it is sent)."""
    return lambda _request, _target: Stream(size)
