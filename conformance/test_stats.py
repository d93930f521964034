"""Get work queue stats: the answer's shape, and its counters judged where a shared target allows it.

Exact deltas cannot be asserted while other cases or workers queue, deliver and acknowledge in the same environment.
So the counters are judged only at moments the case can see: right after polls that found nothing claimable (then
`depth` is 0, whatever else is queued and pending), and moments after the case's own delivery (then `pending` and
`workers_polling` are at least 1). When the queue keeps delivering, the case is "not verified".
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conformance import queue_tables, schemas
from conformance.checks import Checker, field_value
from conformance.expectations import body_of, expect_json_media_type, expect_utc_timestamps
from conformance.queue_polling import (
    find_own,
    judge_poll_answer,
    poll,
    queue_environment,
    release,
    require_own,
    see_nothing_claimable,
)

CONVENTIONS = ("CONV-ITEM-SCHEMA", "CONV-JSON", "CONV-TS-UTC")


def stats_answer(check: Checker, response: httpx.Response) -> Any:
    """200 with a JSON media type (STATS-RESP-OK, CONV-JSON), a Work queue stats object (STATS-SCHEMA) whose
    timestamp is in UTC (CONV-TS-UTC). Returns the body."""
    check.equal("STATS-RESP-OK", "stats response status", 200, response.status_code)
    expect_json_media_type(check, "CONV-JSON", response)
    body = body_of(response)
    problems = schemas.validate("work-queue-stats", body) if isinstance(body, dict) else ["not a JSON object"]
    check.that("STATS-SCHEMA", not problems, "Work queue stats schema", "a valid stats object", "; ".join(problems))
    if isinstance(body, dict):
        expect_utc_timestamps(check, "CONV-TS-UTC", {"created_at": body.get("oldest_queued_at")}, "oldest_queued_at: ")
    return body


@pytest.mark.req("STATS-RESP-OK", "STATS-SCHEMA", "CONV-JSON", "CONV-TS-UTC")
def test_stats_is_a_work_queue_stats_object(settings, provision, api, check) -> None:
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        stats_answer(check, api.call("stats", environment))
    finally:
        release(api, settings, [item])


@pytest.mark.req(
    "STATS-DEPTH",
    "STATS-PENDING",
    "STATS-WORKERS-POLLING",
    "STATS-RESP-OK",
    "STATS-SCHEMA",
    "POLL-RESP-OK",
    "POLL-EMPTY-NULL",
    *CONVENTIONS,
)
def test_counters_after_the_case_delivered_its_own_item(settings, provision, api, check) -> None:
    """Deliver the own item to a worker (Worker-ID), poll until nothing is claimable, read the stats, poll once
    more: with nothing claimable before and after, depth is 0; the own item delivered moments ago is pending."""
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        search = find_own(api, check, environment, item["id"], worker_id=queue_tables.WORKER_A)
        if require_own(search) is None:
            return
        if search.reclaimed:
            pytest.skip("not verified: the case's own item came back only through reclaim_older_than_ms=0")
        if not see_nothing_claimable(api, check, environment):
            pytest.skip("not verified: the queue environment kept delivering items (shared and busy)")
        stats = stats_answer(check, api.call("stats", environment))
        after = judge_poll_answer(check, poll(api, environment))
        if after is not None:
            pytest.skip("not verified: an item became claimable while the stats were read (shared queue)")
        check.equal("STATS-DEPTH", "depth while nothing is claimable", 0, field_value(stats, "depth"))
        pending = field_value(stats, "pending")
        check.that(
            "STATS-PENDING",
            isinstance(pending, int) and pending >= 1,
            "pending moments after the case's own item was delivered",
            "at least 1",
            pending,
        )
        workers = field_value(stats, "workers_polling")
        check.that(
            "STATS-WORKERS-POLLING",
            isinstance(workers, int) and workers >= 1,
            f"workers_polling moments after a poll with Worker-ID {queue_tables.WORKER_A}",
            "at least 1",
            workers,
        )
    finally:
        release(api, settings, [item])
