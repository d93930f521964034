"""Poll work: what a poll delivers, what it leaves as it was, when it delivers again, how long it waits.

Every case works on a shared target: it provisions its own items in the queue environment
(queue_polling.queue_environment), looks only for its own item by ID among whatever a poll delivers, never touches
another item, and says "not verified" when a busy queue keeps it from seeing what it needs.
"""

from __future__ import annotations

import time

import pytest

from conformance import queue_tables
from conformance.checks import MISSING, field_value
from conformance.expectations import body_of
from conformance.queue_polling import (
    find_own,
    judge_poll_answer,
    poll,
    queue_environment,
    release,
    require_own,
    see_nothing_claimable,
    still_queued,
)

CONVENTIONS = ("CONV-ITEM-SCHEMA", "CONV-JSON", "CONV-TS-UTC")


@pytest.mark.req("POLL-RESP-OK", "POLL-NOT-ACK", "POLL-ONLY-QUEUED", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_poll_delivers_own_queued_item_without_acknowledging_it(settings, provision, api, check) -> None:
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        own = require_own(find_own(api, check, environment, item["id"], only_queued="POLL-ONLY-QUEUED"))
        if own is not None:
            check.equal("POLL-NOT-ACK", "delivered item: state", "queued", field_value(own, "state"))
            check.equal("POLL-NOT-ACK", "delivered item: acknowledged_at", None, field_value(own, "acknowledged_at"))
            after = body_of(api.get(environment, item["id"]))
            check.equal("POLL-NOT-ACK", "GET after the poll: state", "queued", field_value(after, "state"))
            check.equal(
                "POLL-NOT-ACK", "GET after the poll: acknowledged_at", None, field_value(after, "acknowledged_at")
            )
    finally:
        release(api, settings, [item])


@pytest.mark.parametrize("state", queue_tables.NOT_POLLABLE_STATES)
@pytest.mark.req("POLL-ONLY-QUEUED", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_poll_never_delivers_an_item_that_is_not_queued(state: str, settings, provision, api, check) -> None:
    """Poll until nothing is claimable (bounded): every delivered item is queued, and the case's own item in
    `state` is never among them."""
    environment = queue_environment(settings)
    item = provision(state, environment_id=environment)
    try:
        for _ in range(queue_tables.POLL_TRIES):
            delivered = judge_poll_answer(check, poll(api, environment))
            if delivered is None or delivered is MISSING:
                break
            check.equal("POLL-ONLY-QUEUED", f"state of delivered item {delivered['id']}", "queued", delivered["state"])
            check.that(
                "POLL-ONLY-QUEUED",
                delivered["id"] != item["id"],
                f"the case's own {state} item",
                "never delivered",
                f"delivered in state {field_value(delivered, 'state')!r}",
            )
    finally:
        release(api, settings, [item])


@pytest.mark.req("POLL-EMPTY-NULL", "POLL-RESP-OK", *CONVENTIONS)
def test_poll_with_nothing_claimable_is_200_with_json_null(settings, api, check) -> None:
    """Judged only when two polls in a row see nothing claimable; each such answer must be 200 with JSON null."""
    seen_empty = see_nothing_claimable(api, check, queue_environment(settings))
    if not seen_empty and not check.mismatches:
        pytest.skip("not verified: the queue environment kept delivering items (shared and busy)")


@pytest.mark.req("POLL-RECLAIM", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_delivered_item_comes_back_only_after_reclaim_older_than_ms(settings, provision, api, check) -> None:
    environment = queue_environment(settings)
    item = provision("queued", environment_id=environment)
    try:
        own = require_own(find_own(api, check, environment, item["id"]))
        if own is None:
            return
        hold = {"reclaim_older_than_ms": queue_tables.RECLAIM_HOLD_MS}
        for _ in range(queue_tables.POLL_TRIES):
            delivered = judge_poll_answer(check, poll(api, environment, params=hold))
            if delivered is None or delivered is MISSING:
                break
            check.that(
                "POLL-RECLAIM",
                delivered["id"] != item["id"],
                f"poll with reclaim_older_than_ms={queue_tables.RECLAIM_HOLD_MS} moments after delivery",
                "not the case's own item",
                "its own item",
            )
        foreign = 0
        for attempt in range(queue_tables.REDELIVERY_TRIES):
            delivered = judge_poll_answer(check, poll(api, environment, params={"reclaim_older_than_ms": 0}))
            if delivered is MISSING:
                break
            if isinstance(delivered, dict) and delivered["id"] == item["id"]:
                check.equal("POLL-RECLAIM", "redelivered item: state", "queued", field_value(delivered, "state"))
                break
            foreign += delivered is not None
            if attempt == queue_tables.REDELIVERY_TRIES - 1:
                if foreign or not still_queued(api, environment, item["id"]):
                    pytest.skip("not verified: older items of others kept coming, or the own item left the queue")
                check.that(
                    "POLL-RECLAIM",
                    False,
                    "polls with reclaim_older_than_ms=0 after the delivery",
                    "the case's own item delivered again",
                    "null every time",
                )
            time.sleep(queue_tables.REDELIVERY_PAUSE_S)
    finally:
        release(api, settings, [item])


@pytest.mark.req("POLL-BLOCK-MS", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_long_poll_waits_at_most_block_ms(settings, api, check) -> None:
    """Only on a queue seen without claimable items: a long poll then has nothing to deliver and must answer within
    block_ms plus a generous margin (measured against a non-blocking poll's own time)."""
    environment = queue_environment(settings)
    if not see_nothing_claimable(api, check, environment):
        if not check.mismatches:
            pytest.skip("not verified: the queue environment kept delivering items (shared and busy)")
        return
    started = time.monotonic()
    judge_poll_answer(check, poll(api, environment))
    baseline = time.monotonic() - started
    started = time.monotonic()
    judge_poll_answer(check, poll(api, environment, params={"block_ms": queue_tables.BLOCK_MS}))
    waited = time.monotonic() - started
    bound = queue_tables.BLOCK_MS / 1000 + queue_tables.BLOCK_MARGIN_S + queue_tables.BLOCK_MARGIN_FACTOR * baseline
    check.that(
        "POLL-BLOCK-MS",
        waited <= bound,
        f"time to answer a poll with block_ms={queue_tables.BLOCK_MS}",
        f"at most {bound:.2f} s",
        f"{waited:.2f} s",
    )


@pytest.mark.req("POLL-ORDER", "POLL-RESP-OK", "POLL-EMPTY-NULL", *CONVENTIONS)
def test_which_of_two_queued_items_comes_first_is_recorded(settings, provision, api, check) -> None:
    environment = queue_environment(settings)
    first = provision("queued", environment_id=environment)
    second = provision("queued", environment_id=environment)
    try:
        order = {first["id"]: "the older (created first)", second["id"]: "the newer (created second)"}
        for _ in range(queue_tables.POLL_TRIES):
            delivered = judge_poll_answer(check, poll(api, environment))
            if delivered is None or delivered is MISSING:
                break
            if delivered["id"] in order:
                check.observe("POLL-ORDER", "of two queued own items, the poll delivered first", order[delivered["id"]])
                break
    finally:
        release(api, settings, [first, second])
