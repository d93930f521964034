"""Requirement IDs on cases: the `req` marker's IDs, their level and endpoint markers and keywords, unknown IDs
refused.

A plugin module registered (by the package's pytest_configure) only for the suite's own runs: another project of
the environment may have a `req` marker of its own, which these hooks must not touch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance import catalogue

LEVEL_ORDER = ("MUST", "SHOULD", "UNSPECIFIED")


def requirement_ids(item: pytest.Item) -> list[str]:
    found: list[str] = []
    for marker in item.iter_markers("req"):
        for rid in marker.args:
            if rid not in found:
                found.append(rid)
    return found


def strongest_level(ids: list[str]) -> str:
    levels = {catalogue.get(rid).level for rid in ids if rid in catalogue.requirements()}
    return next((level for level in LEVEL_ORDER if level in levels), "")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """An unknown requirement ID is a collection error of the file that uses it, naming the ID."""
    report = yield
    if report.outcome != "passed":
        return report
    known = catalogue.requirements()
    unknown = sorted(
        {rid for node in report.result or [] if isinstance(node, pytest.Item) for rid in requirement_ids(node)}
        - set(known)
    )
    if unknown:
        report.outcome = "failed"
        report.longrepr = (
            f"unknown requirement ID(s) {', '.join(unknown)} in @pytest.mark.req; "
            f"every ID must be in a file of {catalogue.CATALOGUE_DIR}"
        )
    return report


def pytest_itemcollected(item: pytest.Item) -> None:
    """Level and endpoint markers and ID keywords, before -m/-k deselection: `-m must`, `-m heartbeat`,
    `-m "stop and must"`, `-k STOP-TR-FORCE` select."""
    added: set[str] = set()
    for rid in requirement_ids(item):
        if rid not in catalogue.requirements():
            continue
        requirement = catalogue.get(rid)
        for marker in (requirement.marker, requirement.endpoint):
            if marker not in added:  # once per case, however many of its IDs share a level or an endpoint
                item.add_marker(marker)
                added.add(marker)
        item.extra_keyword_matches.add(rid)
