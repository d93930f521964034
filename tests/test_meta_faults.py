"""The suite proves itself: every fault of the emulator is caught under the requirement it violates and blamed
on nothing else, and no conforming dialect raises a false alarm.

Exactness: against a fault, the failed requirements of summary.json are the fault's `violates` (every one of them)
plus, at most, the `consequences` it declares (requirements whose own checks also see the broken rule: a 400 where a
stop was due leaves the transition row unmet too). A consequence may or may not show, depending on which cases meet
it; a requirement outside both lists never fails, and an UNSPECIFIED requirement never fails at all.

Each case runs the whole conformance suite as a subprocess, over loopback sockets, against `python -m qoder_emulator`
started with one `--fault NAME` or one pairwise combination of `--dialect NAME=VALUE` (tools/fault_table.py does
the running and reads the run's summary.json and junit.xml). A fault that no case catches fails here; so does a
test of the suite that is weakened until it no longer sees a fault. Budget: ~8 s per run (the whole work API
suite), 118 runs (106 faults, 12 dialect combinations): about 10 minutes with `-n 2` on 2 cores. Each run is
the whole suite, as a vendor runs it (no `-m must` selection); only the client-side rate limits are off
(tools/fault_table.py).

With QODER_META_RESULTS=DIR every run is also saved as JSON in DIR, from which
`python tools/fault_table.py --run` writes docs/fault-table.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fault_table_tool import fault_table

from conformance import catalogue
from qoder_emulator import dialects, faults

REGISTRY = faults.known_faults()
DIALECT_RUNS = fault_table.pairwise_dialects()


def _save(run) -> None:
    folder = os.environ.get(fault_table.RESULTS_ENV)
    if folder:
        run.save(Path(folder))


# ------------------------------------------------------------------------------------------------ the catalogue


def test_every_must_requirement_has_a_fault():
    covered = {rid for fault in REGISTRY.values() for rid in fault.violates}
    assert [rid for rid in fault_table.must_requirements() if rid not in covered] == []


def test_every_fault_names_must_requirements_of_the_catalogue():
    requirements = catalogue.requirements()
    wrong = {
        name: [rid for rid in fault.violates if rid not in requirements or requirements[rid].level != "MUST"]
        for name, fault in REGISTRY.items()
    }
    assert {name: ids for name, ids in wrong.items() if ids} == {}


def test_fault_consequences_are_other_judged_requirements_of_the_catalogue():
    requirements = catalogue.requirements()
    wrong = {
        name: [
            rid
            for rid in fault.consequences
            if rid not in requirements or requirements[rid].level == "UNSPECIFIED" or rid in fault.violates
        ]
        for name, fault in REGISTRY.items()
    }
    assert {name: ids for name, ids in wrong.items() if ids} == {}


def test_dialect_runs_cover_every_pair_of_values():
    for (a, a_values), (b, b_values) in _pairs():
        for a_value in a_values:
            for b_value in b_values:
                assert any(row[a] == a_value and row[b] == b_value for row in DIALECT_RUNS), (a, a_value, b, b_value)


def _unspecified(ids: list[str]) -> list[str]:
    return [rid for rid in ids if catalogue.get(rid).level == "UNSPECIFIED"]


def _pairs():
    choices = [(choice.name, choice.values) for choice in dialects.CHOICES]
    return [(left, right) for i, left in enumerate(choices) for right in choices[i + 1 :]]


# ------------------------------------------------------------------------------------------------ the meta-runs


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGISTRY))
def test_fault_is_caught_under_exactly_the_requirements_it_violates(name: str, tmp_path: Path) -> None:
    violates, consequences = REGISTRY[name].violates, REGISTRY[name].consequences
    run = fault_table.run_suite(name, "fault", ["--fault", name], tmp_path / "reports")
    _save(run)
    assert run.exit_status not in (0, None), f"fault {name} was not caught: the suite passed\n{run.explain()}"
    missing = [rid for rid in violates if rid not in run.caught or rid not in run.failed]
    assert not missing, (
        f"fault {name} violates {', '.join(violates)}, but {', '.join(missing)} did not fail on a MUST mismatch "
        f"of its own\n{run.explain()}"
    )
    blamed = [rid for rid in run.failed if rid not in violates and rid not in consequences]
    assert not blamed, (
        f"fault {name} violates {', '.join(violates)} (consequences: {', '.join(consequences) or 'none'}), but "
        f"the summary also fails {', '.join(blamed)}\n{run.explain()}"
    )
    assert _unspecified(run.failed) == [], f"an UNSPECIFIED requirement failed\n{run.explain()}"
    assert run.errored == [], f"cases errored against fault {name}\n{run.explain()}"


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECT_RUNS, ids=[fault_table.dialect_label(dialect) for dialect in DIALECT_RUNS])
def test_conforming_dialect_passes(dialect: dict[str, str], tmp_path: Path) -> None:
    label = fault_table.dialect_label(dialect)
    run = fault_table.run_suite(label, "dialect", fault_table.dialect_args(dialect), tmp_path / "reports")
    _save(run)
    assert run.failed_cases == [] and run.errored == [], f"false alarm on a conforming dialect\n{run.explain()}"
    assert run.failed == [] and _unspecified(run.failed) == [], f"a requirement failed\n{run.explain()}"
    assert run.exit_status == 0, f"the suite exited {run.exit_status} on a conforming dialect\n{run.explain()}"


TERMINAL_BUDGET = 100  # lines a vendor reads for one broken rule (it was ~3,800)


@pytest.mark.slow
def test_one_broken_rule_prints_one_line_per_failed_requirement(tmp_path: Path) -> None:
    name = "stop-drops-metadata"
    run = fault_table.run_suite(name, "fault", ["--fault", name], tmp_path / "reports", quiet=False)
    lines = run.output.splitlines()
    assert run.exit_status == 1 and len(lines) <= TERMINAL_BUDGET, f"{len(lines)} lines\n{run.output}"
    footer = [line for line in lines if line.startswith("FAIL STOP-")]
    assert len(footer) == 1 and footer[0].startswith("FAIL STOP-RESP-UNCHANGED-FIELDS (MUST): metadata"), run.output
    assert " cases · repro " in footer[0] and footer[0].endswith(".sh")  # written whole, not cut at 80 columns
    assert any(line.startswith("full evidence") and "report.html" in line for line in lines)
    assert "pytest_runtest_call" not in run.output and "Traceback" not in run.output
