"""List work items: the page envelope, creation order, the default and the cap of `limit`, next_page, and the
before_id / after_id windows, judged around the case's own items.

The environment may hold any number of other items (earlier cases, other runs, other workers); every check holds
whatever else is listed: pages start from a cursor of the case's own, and only the case's own items are expected
at given places.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import queue_tables, schemas
from conformance.checks import MISSING, Checker
from conformance.expectations import body_of, expect_json_media_type, expect_utc_timestamps

CONVENTIONS = ("CONV-ITEM-SCHEMA", "CONV-JSON", "CONV-TS-UTC")


def list_page(api: Any, check: Checker, environment_id: str, ok: str = "LIST-ENVELOPE", **params: Any) -> Any:
    """One list request, judged: 200 (under `ok`) with a JSON media type, the page envelope (LIST-ENVELOPE), each
    item a valid Work item with UTC timestamps (the conventions). Returns the page, or MISSING when there is none."""
    response = api.call("list", environment_id, params=params)
    check.equal(ok, "list response status", 200, response.status_code)
    expect_json_media_type(check, "CONV-JSON", response)
    body = body_of(response)
    if response.status_code != 200:
        return MISSING  # judged under `ok`; an error answer is no page to judge
    if not isinstance(body, dict):
        check.that("LIST-ENVELOPE", False, "list answer", "a page envelope", body)
        return MISSING
    items = body.get("data") if isinstance(body.get("data"), list) else []
    problems = schemas.validate("work-list", {**body, "data": []})
    check.that("LIST-ENVELOPE", not problems, "page envelope schema", "a valid page envelope", "; ".join(problems))
    for item in items:
        item_problems = schemas.validate("work-item", item)
        check.that(
            "CONV-ITEM-SCHEMA",
            not item_problems,
            "listed Work item schema",
            "a valid Work item",
            "; ".join(item_problems),
        )
        expect_utc_timestamps(check, "CONV-TS-UTC", item, "listed item: ")
    ids = [item.get("id") if isinstance(item, dict) else None for item in items]
    check.equal("LIST-ENVELOPE", "first_id", ids[0] if ids else None, body.get("first_id", MISSING))
    check.equal("LIST-ENVELOPE", "last_id", ids[-1] if ids else None, body.get("last_id", MISSING))
    return {**body, "ids": ids}


def provision_many(provision: Any, count: int) -> list[str]:
    """`count` queued items of the case, one after another: their IDs in creation order."""
    return [provision("queued")["id"] for _ in range(count)]


@pytest.mark.req("LIST-LIMIT-DEFAULT", "LIST-ENVELOPE", *CONVENTIONS)
def test_default_limit_is_20(settings, provision, api, check) -> None:
    own = provision_many(provision, queue_tables.DEFAULT_LIMIT_ITEMS)
    page = list_page(api, check, settings.environment_id, after_id=own[0])
    if page is not MISSING:
        check.equal(
            "LIST-LIMIT-DEFAULT",
            f"items on a page without limit (after {queue_tables.DEFAULT_LIMIT} more own items exist)",
            queue_tables.DEFAULT_LIMIT,
            len(page["ids"]),
        )


@pytest.mark.req("LIST-LIMIT-CAP", "LIST-ENVELOPE", *CONVENTIONS)
def test_limit_above_100_is_capped_not_refused(settings, api, check) -> None:
    page = list_page(api, check, settings.environment_id, ok="LIST-LIMIT-CAP", limit=queue_tables.OVER_CAP_LIMIT)
    if page is MISSING:
        return
    count = len(page["ids"])
    check.that(
        "LIST-LIMIT-CAP",
        count <= queue_tables.MAX_LIMIT,
        f"items with limit={queue_tables.OVER_CAP_LIMIT}",
        f"at most {queue_tables.MAX_LIMIT}",
        count,
    )
    if page.get("has_more") is True:
        check.equal("LIST-LIMIT-CAP", "items on a capped page with has_more true", queue_tables.MAX_LIMIT, count)


@pytest.mark.req("LIST-ORDER", "LIST-NEXT-PAGE", "LIST-ENVELOPE", *CONVENTIONS)
def test_pages_follow_creation_order_through_next_page(settings, provision, api, check) -> None:
    """From the case's first item, small pages through next_page: each page ascending, next_page = last_id while
    has_more (else null), each page after the previous one, and the case's own items met in creation order."""
    own = provision_many(provision, queue_tables.LIST_ITEMS)
    check.equal("LIST-ORDER", "the case's own IDs in creation order", sorted(own), own)
    seen: list[str] = []
    previous_last: str | None = None
    params: dict[str, Any] = {"after_id": own[0], "limit": queue_tables.PAGE_LIMIT}
    for _ in range(queue_tables.PAGE_WALK_MAX):
        page = list_page(api, check, settings.environment_id, **params)
        if page is MISSING:
            return
        ids = [i for i in page["ids"] if isinstance(i, str)]
        check.equal("LIST-ORDER", "IDs on a page", sorted(ids), ids)
        if previous_last is not None and ids:
            check.that(
                "LIST-NEXT-PAGE",
                ids[0] > previous_last,
                "first ID of the page reached through next_page",
                f"after the previous page's last_id {previous_last!r}",
                ids[0],
            )
        seen += [i for i in ids if i in own]
        has_more = page.get("has_more")
        expected_next = page.get("last_id") if has_more is True else None
        check.equal("LIST-NEXT-PAGE", f"next_page (has_more {has_more!r})", expected_next, page.get("next_page"))
        if has_more is not True or not isinstance(page.get("next_page"), str) or own[-1] in seen:
            break
        previous_last = ids[-1] if ids else previous_last
        params = {"page": page["next_page"], "limit": queue_tables.PAGE_LIMIT}
    check.equal("LIST-NEXT-PAGE", "the case's own items met while following next_page", sorted(own[1:]), sorted(seen))
    check.equal("LIST-ORDER", "the case's own items in the order listed", [i for i in own if i in seen], seen)


@pytest.mark.parametrize("cursor", ["before_id", "after_id"])
@pytest.mark.req("LIST-CURSORS", "LIST-ENVELOPE", *CONVENTIONS)
def test_cursor_window_holds_only_records_beyond_the_cursor(cursor: str, settings, provision, api, check) -> None:
    own = provision_many(provision, queue_tables.LIST_ITEMS)
    anchor = own[-2] if cursor == "before_id" else own[1]
    page = list_page(api, check, settings.environment_id, **{cursor: anchor, "limit": queue_tables.PAGE_LIMIT + 1})
    if page is MISSING:
        return
    ids = [i for i in page["ids"] if isinstance(i, str)]
    beyond = [i for i in ids if (i < anchor if cursor == "before_id" else i > anchor)]
    check.equal("LIST-CURSORS", f"IDs listed with {cursor}={anchor}", ids, beyond)
    if ids:
        low, high = min(ids), max(ids)
        inside = [i for i in own if low <= i <= high and i != anchor]
        check.equal("LIST-CURSORS", "the case's own items inside the window", inside, [i for i in ids if i in own])
        nearest = (
            max((i for i in own if i < anchor), default=None)
            if cursor == "before_id"
            else min((i for i in own if i > anchor), default=None)
        )
        check.that(
            "LIST-CURSORS",
            nearest in ids or len(ids) >= queue_tables.PAGE_LIMIT + 1,
            f"the case's own item next to the cursor ({cursor})",
            "on the page",
            ids,
        )
