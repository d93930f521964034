"""Self-tests of the heartbeat page's rules as data (conformance/heartbeat_table.py): every cell rests on a catalogue
requirement whose level fits what the cell asserts, every state is covered, and the TTL table is the page's clamp."""

from __future__ import annotations

import pytest

from conformance import catalogue, heartbeat_table, tables
from conformance.heartbeat_table import CELLS, TTL_CASES, UNSPECIFIED


def test_every_state_has_a_cell():
    assert {cell.state for cell in CELLS} == set(tables.STATES)


def test_cell_names_are_unique():
    assert len({cell.name for cell in CELLS}) == len(CELLS)


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.name)
def test_a_cell_asserts_only_what_its_requirement_allows(cell):
    level = catalogue.get(cell.requirement).level
    assert (level == "UNSPECIFIED") == (cell.status is UNSPECIFIED)
    assert catalogue.endpoint_of(cell.requirement) == "heartbeat"
    if cell.status in (409, 412):
        assert heartbeat_table.ERROR_ROWS[cell.requirement].status == cell.status
    if cell.accepted:
        assert cell.state in heartbeat_table.ACCEPTED_STATE


def test_the_page_rows_are_in_the_catalogue_quotes():
    for requirement, row in heartbeat_table.ERROR_ROWS.items():
        quote = catalogue.get(requirement).quote
        assert requirement == "HEARTBEAT-NO-HEARTBEAT-TAKEN" or quote == f"{row.status} | {row.type} | {row.trigger}"


def test_ttl_table_is_the_clamp_of_the_page():
    clamped = {case.desired: case.effective for case in TTL_CASES if case.effective is not UNSPECIFIED}
    assert clamped == {1: 10, 9: 10, 10: 10, 60: 60, 600: 600, 601: 600, 10000: 600}
    assert [case.requirement for case in TTL_CASES if case.desired is None] == ["HEARTBEAT-OPEN-DEFAULT-TTL"]


@pytest.mark.parametrize(
    ("written", "other"),
    [
        ("2026-07-01T08:15:06.120394Z", "2026-07-01T08:15:06.120394+00:00"),
        ("2026-07-01T08:15:06+00:00", "2026-07-01T08:15:06Z"),
        ("2026-07-01T08:15:06z", "2026-07-01T08:15:06+00:00"),
        ("2026-07-01T16:15:06+08:00", None),
    ],
)
def test_rewritten_names_the_same_instant_otherwise(written, other):
    assert heartbeat_table.rewritten(written) == other
