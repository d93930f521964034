"""docs/fault-table.md is generated; it must agree with the fault registry, the catalogue and the dialect runs.

Only the deterministic columns are compared (requirement, level, fault; the faults' seams, descriptions and
violated requirements; the pairwise dialect combinations). The "caught by" and "run" columns come from a meta-run:
`python tools/fault_table.py --run` regenerates everything.
"""

from __future__ import annotations

import json

from fault_table_tool import ROOT, fault_table


def test_committed_table_is_up_to_date():
    problems = fault_table.check(fault_table.TABLE.read_text())
    assert problems == [], "; ".join(problems) + " -- run `python tools/fault_table.py --run`"


def test_committed_table_reports_a_full_mutation_score():
    text = fault_table.TABLE.read_text()
    total = len(fault_table.fault_names())
    assert f"**Mutation score: {total}/{total} faults caught (100%).**" in text
    assert "NOT CAUGHT" not in text


def test_check_notices_a_fault_missing_from_the_table():
    text = fault_table.render({}, {})
    assert fault_table.check(text) == []
    first_fault = fault_table.fault_names()[0]
    edited = "\n".join(line for line in text.splitlines() if f"| `{first_fault}` |" not in line)
    assert fault_table.check(edited) != []


def test_readme_links_the_table():
    assert "docs/fault-table.md" in (ROOT / "README.md").read_text()


def test_reports_are_read_per_mismatch_not_per_case_requirement(tmp_path):
    """A failed case marked with many requirements catches only those its MUST mismatch lines name."""
    summary = {
        "requirements": [
            {"id": "STOP-TR-QUEUED", "level": "MUST", "verdict": "fail"},
            {"id": "STOP-TS-STOPPED-AT", "level": "MUST", "verdict": "fail"},
        ],
        "cases": [
            {
                "nodeid": "conformance/test_x.py::test_a",
                "requirements": ["STOP-TR-QUEUED", "STOP-TS-STOPPED-AT"],
                "verdict": "fail",
                "message": "[STOP-TS-STOPPED-AT MUST] stopped_at once stopped: expected a timestamp, observed None",
            },
            {
                "nodeid": "conformance/test_x.py::test_b",
                "requirements": ["STOP-OPEN-CHARSET"],
                "verdict": "warn",
                "message": "[STOP-OPEN-CHARSET SHOULD] response status: expected 200, observed 400",
            },
        ],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    run = fault_table.SuiteRun("f", "fault", [])
    fault_table._read_reports(run, tmp_path)
    assert run.failed == ["STOP-TR-QUEUED", "STOP-TS-STOPPED-AT"]
    assert run.caught == {"STOP-TS-STOPPED-AT": ["conformance/test_x.py::test_a"]}
    assert run.failed_cases == ["conformance/test_x.py::test_a"]
