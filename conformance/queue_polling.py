"""Polling on a shared target: find the case's own item among whatever else is queued, see the queue without
claimable items, hand the case's items back.

Other cases (xdist workers, other runs, other teams' workers) may have items queued in the same environment at the
same time, and a poll delivers any of them. The rules here: look only for the case's own item by ID; never ack,
heartbeat, stop or update an item the case did not provision (a delivered foreign item is judged as an answer and
then left alone); poll a bounded number of times (queue_tables.POLL_TRIES) and say "not verified" when the bound is
reached, never "pass" or "FAIL".

Why poll without parameters first: each such poll delivers a different claimable item (a delivered item is held
back for reclaim_older_than_ms, default 5000), so the case walks the queue. When a poll answers null, the case's
item may have been delivered to someone else moments ago; reclaim_older_than_ms=0 makes it claimable again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from conformance import evidence, queue_tables
from conformance.checks import MISSING, Checker, field_value
from conformance.expectations import body_of, expect_item_answer, expect_json_media_type


def queue_environment(settings: Any) -> str:
    """The environment the queue cases use: QODER_OTHER_ENVIRONMENT_ID when configured, else QODER_ENVIRONMENT_ID.

    The other cases create their items in QODER_ENVIRONMENT_ID (and on the embedded emulator leave them queued until
    the end of the run); the second environment is the quieter queue, so a case reaches its own item in a few polls.
    """
    return settings.other_environment_id or settings.environment_id


def worker_headers(worker_id: str | None) -> dict[str, str]:
    return {"Worker-ID": worker_id} if worker_id else {}


def poll(
    api: Any, environment_id: str, *, worker_id: str | None = None, params: Mapping[str, Any] | None = None
) -> httpx.Response:
    """One poll, as a request under test (never retried)."""
    return api.call("poll", environment_id, headers=worker_headers(worker_id), params=dict(params or {}))


def judge_poll_answer(
    check: Checker, response: httpx.Response, *, ok: str = "POLL-RESP-OK", empty: str | None = "POLL-EMPTY-NULL"
) -> Any:
    """A poll answer: 200 with a JSON media type, and a valid Work item (CONV-*) or the JSON literal null.

    An object is judged as a delivered item under `ok`; anything else as a "no work" answer, under `empty`
    (POLL-EMPTY-NULL: 200, JSON media type, the literal null) when the case judges it, else under `ok`.
    Returns the item, None for null, or MISSING when the answer is neither (already judged): the caller then stops.
    """
    body = body_of(response)
    if isinstance(body, dict):
        item = expect_item_answer(check, ok, response)
        usable = response.status_code == 200 and isinstance(item.get("id"), str)
        check.that(ok, usable, "poll answer", "a Work item or null", item)
        return item if usable else MISSING
    judged = empty or ok
    check.equal(judged, "poll response status (no work)", 200, response.status_code)
    expect_json_media_type(check, judged if empty else "CONV-JSON", response, "no-work ")
    check.that(judged, body is None, "poll body (no work)", "the JSON literal null", response.text[:200])
    return None if body is None and response.status_code == 200 else MISSING


@dataclass
class Search:
    """What a search for the case's own item saw."""

    own: Any = None  # the own item as the poll delivered it, or None
    delivered: list[dict[str, Any]] = field(default_factory=list)  # every item delivered (foreign ones included)
    broken: bool = False  # an answer was neither an item nor null (already judged)
    reclaimed: bool = False  # the own item came from a reclaim_older_than_ms=0 poll (a poll had answered null)


def find_own(
    api: Any,
    check: Checker,
    environment_id: str,
    work_id: str,
    *,
    worker_id: str | None = None,
    tries: int = queue_tables.POLL_TRIES,
    only_queued: str | None = None,
) -> Search:
    """Poll until the case's own queued item is delivered (at most `tries` polls).

    Every answer is judged (POLL-RESP-OK and the conventions); with `only_queued`, every delivered item must be
    queued (judged under that requirement). A null answer to a reclaim_older_than_ms=0 poll while the own item is
    queued (read back) is a failure under POLL-RESP-OK: that poll can claim the item. Reaching the bound, or the item
    leaving the queued state meanwhile, is "not verified". A no-work answer is judged under POLL-EMPTY-NULL.
    """
    search = Search()
    reclaim_all = False
    nulls = 0  # null answers to reclaim_older_than_ms=0 polls: a server may count time coarsely (whole seconds)
    for _ in range(tries):
        params = {"reclaim_older_than_ms": 0} if reclaim_all else {}
        item = judge_poll_answer(check, poll(api, environment_id, worker_id=worker_id, params=params))
        if item is MISSING:
            search.broken = True
            return search
        if item is None and not reclaim_all:
            reclaim_all = search.reclaimed = True
            continue
        if item is None:
            nulls += 1
            if nulls < queue_tables.REDELIVERY_TRIES:
                time.sleep(queue_tables.REDELIVERY_PAUSE_S)
                continue
            if not still_queued(api, environment_id, work_id):
                pytest.skip("not verified: the case's own item left the queued state while it was searched for")
            check.that(
                "POLL-RESP-OK",
                False,
                "polls with reclaim_older_than_ms=0 while the case's own item is queued",
                "the item (it is claimable)",
                f"null {nulls} times",
            )
            search.broken = True
            return search
        search.delivered.append(item)
        if only_queued is not None:
            check.equal(only_queued, f"state of delivered item {item['id']}", "queued", field_value(item, "state"))
        if item["id"] == work_id:
            search.own = item
            return search
    return search


def require_own(search: Search, tries: int = queue_tables.POLL_TRIES) -> dict[str, Any] | None:
    """The own item found, None when an answer was already judged broken; skips the case as not verified when the
    bound was reached while other items kept coming (a busy shared queue is no verdict on the server)."""
    if search.own is not None or search.broken:
        return search.own
    pytest.skip(
        f"not verified: {tries} polls delivered {len(search.delivered)} other items but not the case's own "
        "(the queue is shared and busy)"
    )


def still_queued(api: Any, environment_id: str, work_id: str) -> bool:
    """Whether the case's own item is still queued (a read-back): a null poll is blamed only while it is."""
    return field_value(body_of(api.get(environment_id, work_id)), "state") == "queued"


def see_nothing_claimable(api: Any, check: Checker, environment_id: str) -> bool:
    """Poll without parameters until a null answer (bounded), then once more: True when two polls in a row saw
    nothing claimable. Items delivered on the way are foreign or the case's own; none is touched."""
    nulls = 0
    for _ in range(queue_tables.POLL_TRIES):
        item = judge_poll_answer(check, poll(api, environment_id))
        if item is MISSING:
            return False
        nulls = nulls + 1 if item is None else 0
        if nulls >= queue_tables.EMPTY_PROOF_POLLS:
            return True
    return False


def release(api: Any, settings: Any, items: list[dict[str, Any]]) -> None:
    """Force-stop the case's own items at its end on the embedded emulator, whose per-case cleanup is off: the queue
    environment then holds no claimable item of this case when the next one starts. Elsewhere the provision
    fixture's cleanup does it."""
    if not settings.embedded:
        return
    for item in items:
        api.call(
            "stop",
            item["environment_id"],
            item["id"],
            content=b'{"force": true}',
            headers={"Content-Type": "application/json"},
            role=evidence.CLEANUP,
        )
