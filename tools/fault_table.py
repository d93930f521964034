"""The mutation table: run the suite against every fault and dialect of the emulator, and write docs/fault-table.md.

Two roles, kept apart below:
- *meta-runs* (`run_suite`): start `python -m qoder_emulator` as a subprocess with one fault or dialect, take the
  QODER_* variables from its `--print-env`, run the conformance suite in a subprocess against it over loopback (the
  way a vendor runs it against their own server) and read which requirements failed from the run's reports.
  tests/test_meta_faults.py asserts on these runs; with QODER_META_RESULTS=DIR it also saves each run as JSON.
- *the table* (`render`, `check`): requirement -> faults -> the cases that caught them, plus the mutation score.
  `python tools/fault_table.py --run` runs the meta-test (which saves its runs) and rewrites docs/fault-table.md;
  `python tools/fault_table.py --check` compares the committed table's deterministic part (requirements, faults, the
  mapping, the dialect runs) with the fault registry and the requirement catalogue (tests/test_fault_table.py).

A fault counts as caught only when the run exits non-zero AND every requirement the fault declares it violates has
a MUST mismatch line (`[ID MUST] ...`) in a failed case: a run that merely errors, or fails for another reason,
does not count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "fault-table.md"
RESULTS_ENV = "QODER_META_RESULTS"
SUITE_TIMEOUT_S = float(os.environ.get("QODER_META_TIMEOUT_S", "600"))
EMULATOR_START_TIMEOUT_S = 20.0
NO_RATE_LIMITS = {"QODER_WRITE_RATE": "0", "QODER_READ_RATE": "0"}
MISMATCH = re.compile(r"\[([A-Z]+-[A-Z0-9-]+) MUST\]")  # any endpoint's requirement (catalogue.ENDPOINTS)

if str(ROOT) not in sys.path:  # running as a script: make the project importable from the checkout
    sys.path.insert(0, str(ROOT))

from conformance import catalogue  # noqa: E402
from qoder_emulator import dialects, faults  # noqa: E402

# ------------------------------------------------------------------------------------------------ the runs to make


def fault_names() -> list[str]:
    return sorted(faults.known_faults())


def must_requirements() -> list[str]:
    return [rid for rid, requirement in catalogue.requirements().items() if requirement.level == "MUST"]


def pairwise_dialects() -> list[dict[str, str]]:
    """The all-defaults dialect, then rows until every pair of values of every two choices appears in some row.

    Greedy and deterministic (no randomness, choices in CHOICES order, ties to the earlier value), so the list and
    its size change only when dialects.CHOICES does. Pairwise covers every single value too.
    """
    choices = [(choice.name, choice.values) for choice in dialects.CHOICES]
    uncovered = {((a, va), (b, vb)) for (a, avs), (b, bvs) in combinations(choices, 2) for va in avs for vb in bvs}
    rows: list[dict[str, str]] = []

    def cover(row: dict[str, str]) -> None:
        names = [name for name, _ in choices]
        for a, b in combinations(names, 2):
            uncovered.discard(((a, row[a]), (b, row[b])))

    defaults = {name: values[0] for name, values in choices}
    rows.append(defaults)
    cover(defaults)

    def gain(row: dict[str, str], name: str, value: str) -> tuple[int, int]:
        """(pairs this value completes with the row so far, uncovered pairs it takes part in at all)."""
        completes = sum(((other, row[other]), (name, value)) in uncovered for other in row)
        takes_part = sum(1 for pair in uncovered if (name, value) in pair)
        return completes, takes_part

    while uncovered:
        row: dict[str, str] = {}
        for name, values in choices:
            # max() keeps the first of equal candidates, so ties go to the earlier value.
            row[name] = max(values, key=lambda value, name=name: gain(row, name, value))
        before = len(uncovered)
        cover(row)
        if len(uncovered) == before:  # pragma: no cover - cannot happen: the first pair left is always gained
            raise AssertionError("pairwise generation made no progress")
        rows.append(row)
    return rows


def dialect_label(dialect: Mapping[str, str]) -> str:
    """Only the choices that differ from the defaults, e.g. `force-on-stopped=conflict,content-type=require-json`."""
    defaults = {choice.name: choice.default for choice in dialects.CHOICES}
    changed = [f"{name}={value}" for name, value in dialect.items() if defaults.get(name) != value]
    return ",".join(changed) or "defaults"


def dialect_args(dialect: Mapping[str, str]) -> list[str]:
    return [arg for name, value in dialect.items() for arg in ("--dialect", f"{name}={value}")]


# ------------------------------------------------------------------------------------------------ one meta-run


@dataclass
class SuiteRun:
    """One run of the whole suite against one emulator configuration, as the reports tell it."""

    label: str  # the fault name, or the dialect label
    kind: str  # "fault" | "dialect"
    emulator_args: list[str]
    exit_status: int | None = None  # None: the suite did not finish within the timeout
    failed: list[str] = field(default_factory=list)  # requirement IDs with verdict "fail"
    caught: dict[str, list[str]] = field(default_factory=dict)  # requirement -> cases with a MUST mismatch on it
    errored: list[str] = field(default_factory=list)  # cases with verdict "error"
    failed_cases: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    output_tail: str = ""  # the suite's last lines, for the assertion message
    output: str = field(default="", repr=False)  # the suite's whole terminal output (not saved)

    def explain(self) -> str:
        lines = [
            f"suite run against `qoder-emulator {shlex.join(self.emulator_args)}`: exit status {self.exit_status}",
            f"failed requirements: {', '.join(self.failed) or 'none'}",
            f"failed cases: {len(self.failed_cases)}; errored cases: {len(self.errored)}",
        ]
        lines += [f"  {case}" for case in (self.failed_cases + self.errored)[:15]]
        return "\n".join(lines) + "\n--- suite output (tail) ---\n" + self.output_tail

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{self.kind}-{self.label}")[:180]
        saved = {key: value for key, value in asdict(self).items() if key != "output"}
        (folder / f"{name}.json").write_text(json.dumps(saved, indent=1, sort_keys=True))


def _clean_environment() -> dict[str, str]:
    """The caller's environment without QODER_* (only the emulator's variables point the suite) and PYTEST_*
    (under xdist, PYTEST_XDIST_WORKER would make the suite's own run look like a worker of ours)."""
    return {name: value for name, value in os.environ.items() if not name.startswith(("QODER_", "PYTEST_"))}


class _Emulator:
    """`python -m qoder_emulator` in a subprocess on a port it picked itself (no race for a free port)."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qoder_emulator", "--port", "0", *self.args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_clean_environment(),
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT_S
        assert self.process.stdout is not None
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                # Keep reading, so that a chatty faulty server (tracebacks on 500s) never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return int(found.group(1))
        self.stop()
        raise RuntimeError("the emulator did not start:\n" + "".join(seen))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def settings(self) -> dict[str, str]:
        printed = subprocess.run(
            [sys.executable, "-m", "qoder_emulator", "--port", str(self.port), "--print-env", *self.args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=EMULATOR_START_TIMEOUT_S,
            check=True,
            env=_clean_environment(),
        )
        settings = {}
        for line in printed.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            settings[name] = shlex.split(value)[0] if value else ""
        return settings

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def run_suite(
    label: str,
    kind: str,
    emulator_args: Sequence[str],
    reports_dir: Path,
    *,
    suite_args: Sequence[str] = (),
    timeout: float = SUITE_TIMEOUT_S,
    quiet: bool = True,
) -> SuiteRun:
    """Start the emulator with `emulator_args`, run the suite against it, and read the verdicts from its reports.
    `quiet=False` runs it at pytest's default verbosity, as a vendor would (to measure what the terminal shows)."""
    run = SuiteRun(label, kind, list(emulator_args))
    reports_dir.mkdir(parents=True, exist_ok=True)
    emulator = _Emulator(emulator_args)
    started = time.monotonic()
    try:
        # Client-side rate limits off, as for the embedded emulator: a loopback server needs none, and the docs'
        # baselines (20 writes/s) would make each run ~30 s instead of ~5 s. Concurrency and rounds stay as for any
        # remote target.
        environment = {**_clean_environment(), **emulator.settings(), **NO_RATE_LIMITS}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *(["-q"] if quiet else []),
            f"--reports-dir={reports_dir}",  # one token: a separate path would be taken for a test path (rootdir)
            f"--junitxml={reports_dir / 'junit.xml'}",
            *suite_args,
        ]
        try:
            finished = subprocess.run(
                command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
            )
            run.exit_status = finished.returncode
            output = finished.stdout + finished.stderr
        except subprocess.TimeoutExpired as expired:
            output = f"{expired.stdout or ''}{expired.stderr or ''}\n(timed out after {timeout:.0f} s)"
    finally:
        emulator.stop()
        run.duration_s = round(time.monotonic() - started, 1)
    run.output = str(output)
    run.output_tail = "\n".join(run.output.splitlines()[-25:])
    _read_reports(run, reports_dir)
    return run


def _read_reports(run: SuiteRun, reports_dir: Path) -> None:
    """Verdicts from summary.json (requirements and cases) and mismatch lines from it and from junit.xml."""
    messages: dict[str, list[str]] = {}
    summary_path = reports_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        run.failed = [r["id"] for r in summary.get("requirements", []) if r.get("verdict") == "fail"]
        for case in summary.get("cases", []):
            if case.get("verdict") == "fail":
                run.failed_cases.append(case["nodeid"])
                messages.setdefault(case["nodeid"], []).append(case.get("message") or "")
            elif case.get("verdict") == "error":
                run.errored.append(case["nodeid"])
    junit_path = reports_dir / "junit.xml"
    if junit_path.is_file():
        failed_requirements = set(run.failed)
        for testcase in ElementTree.parse(junit_path).iter("testcase"):
            nodeid = _junit_nodeid(testcase)
            properties = {(p.get("name"), p.get("value")) for p in testcase.iter("property")}
            failure = testcase.find("failure")
            if failure is None:
                continue
            messages.setdefault(nodeid, []).append(f"{failure.get('message', '')}\n{failure.text or ''}")
            if not summary_path.is_file() and ("verdict", "fail") in properties:
                run.failed_cases.append(nodeid)
                failed_requirements |= {value for name, value in properties if name == "requirement"}
        if not summary_path.is_file():
            run.failed = sorted(failed_requirements)
    caught: dict[str, set[str]] = {}
    for nodeid, texts in messages.items():
        for requirement in MISMATCH.findall("\n".join(texts)):
            caught.setdefault(requirement, set()).add(nodeid)
    run.caught = {requirement: sorted(cases) for requirement, cases in sorted(caught.items())}
    run.failed_cases = sorted(set(run.failed_cases))


def _junit_nodeid(testcase: ElementTree.Element) -> str:
    """xunit1 classname `conformance.test_x` + name `test_y[param]` -> `conformance/test_x.py::test_y[param]`."""
    module = (testcase.get("classname") or "").replace(".", "/")
    return f"{module}.py::{testcase.get('name')}"


# ------------------------------------------------------------------------------------------------ the table


def _short(nodeid: str) -> str:
    return nodeid.removeprefix("conformance/")


def _caught_by(runs: Mapping[str, Mapping[str, Any]], fault: str, requirement: str) -> str:
    run = runs.get(fault)
    if run is None:
        return "not run"
    cases = run.get("caught", {}).get(requirement, [])
    if not cases or run.get("exit_status") in (0, None):
        return "**NOT CAUGHT**"
    shown = ", ".join(f"`{_short(case)}`" for case in cases[:3])
    return shown + (f" and {len(cases) - 3} more" if len(cases) > 3 else "")


def catalogue_rows() -> list[tuple[str, str, str]]:
    """(requirement, level, fault) for every MUST requirement and every fault declaring it: the deterministic part."""
    registry = faults.known_faults()
    rows: list[tuple[str, str, str]] = []
    for rid, requirement in catalogue.requirements().items():
        if requirement.level != "MUST":
            continue
        violating = [name for name, fault in registry.items() if rid in fault.violates]
        rows += [(rid, requirement.level, name) for name in violating] or [(rid, requirement.level, "(none)")]
    return rows


def fault_rows() -> list[tuple[str, str, str, str, str]]:
    return [
        (name, fault.seam, fault.description, ", ".join(fault.violates), ", ".join(fault.consequences) or "-")
        for name, fault in faults.known_faults().items()
    ]


def dialect_rows() -> list[str]:
    return [dialect_label(dialect) for dialect in pairwise_dialects()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(runs: Mapping[str, Mapping[str, Any]], dialect_runs: Mapping[str, Mapping[str, Any]]) -> str:
    """The whole document; `runs` maps fault name -> saved SuiteRun dict, `dialect_runs` dialect label -> dict."""
    registry = faults.known_faults()
    caught = [name for name in registry if _fault_caught(runs.get(name), registry[name].violates)]
    dialects_clean = [label for label in dialect_rows() if _dialect_clean(dialect_runs.get(label))]
    score = f"{len(caught)}/{len(registry)}"
    percent = 100 * len(caught) // max(len(registry), 1)
    lines = [
        "# Fault table: every MUST requirement, the faults that violate it, and the cases that caught them",
        "",
        "Generated by `python tools/fault_table.py --run` from the meta-test (`tests/test_meta_faults.py`): the",
        "conformance suite is run, as a subprocess over loopback, against `python -m qoder_emulator --fault NAME` for",
        "every fault of the emulator's fault list (`qoder_emulator/faults.py`) and against pairwise",
        "combinations of its dialects (`--dialect NAME=VALUE`, behaviour the docs leave open). A fault is caught when",
        "the run exits non-zero and every requirement the fault violates has a MUST mismatch in a failed case; the",
        "meta-test also requires that nothing else fails but the consequences the fault declares.",
        "Do not edit by hand: `tests/test_fault_table.py` fails when the requirement, fault or dialect columns",
        "disagree with the fault list and the catalogue.",
        "",
        f"**Mutation score: {score} faults caught ({percent}%).** "
        f"**Dialect runs without a FAIL: {len(dialects_clean)}/{len(dialect_rows())}.**",
        "",
        "## By requirement",
        "",
        "| requirement | level | fault | caught by (failed cases with a mismatch on this requirement) |",
        "|---|---|---|---|",
    ]
    for rid, level, name in catalogue_rows():
        lines.append(f"| {rid} | {level} | `{name}` | {_caught_by(runs, name, rid)} |")
    lines += [
        "",
        "## Faults",
        "",
        "| fault | seam | misimplementation | violates | declared consequences (may also fail) | run |",
        "|---|---|---|---|---|---|",
    ]
    for name, seam, description, violates, consequences in fault_rows():
        run = _run_summary(runs.get(name))
        lines.append(f"| `{name}` | {seam} | {_cell(description)} | {violates} | {consequences} | {run} |")
    lines += [
        "",
        "## Dialects (pairwise combinations; every run must pass with zero FAILs)",
        "",
        "| dialect (choices that differ from the defaults) | run |",
        "|---|---|",
    ]
    for label in dialect_rows():
        lines.append(f"| {label} | {_run_summary(dialect_runs.get(label))} |")
    return "\n".join(lines) + "\n"


def _fault_caught(run: Mapping[str, Any] | None, violates: Iterable[str]) -> bool:
    if not run or run.get("exit_status") in (0, None):
        return False
    return set(violates) <= set(run.get("caught", {}))


def _dialect_clean(run: Mapping[str, Any] | None) -> bool:
    return bool(run) and run.get("exit_status") == 0 and not run.get("failed_cases")  # type: ignore[union-attr]


def _run_summary(run: Mapping[str, Any] | None) -> str:
    if not run:
        return "not run"
    failed = len(run.get("failed_cases", []))
    errored = len(run.get("errored", []))
    summary = f"exit {run.get('exit_status')}, {failed} failed, {errored} errored cases"
    if run.get("kind") == "fault":
        summary += f"; {len(run.get('failed', []))} requirement(s) failed"
    if run.get("exit_status") not in (0, None) and not failed and not errored:
        # The suite stopped before any case, e.g. its preflight refused the target: show the first reason it gave.
        reason = next((line for line in run.get("output_tail", "").splitlines() if line.startswith("  - ")), "")
        summary += " (no case ran" + (f"; preflight: {_cell(reason.strip(' -!'))}" if reason else "") + ")"
    return summary


# ------------------------------------------------------------------------------------------------ checking


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading`, as stripped cells."""
    section = text.split(f"## {heading}", 1)
    if len(section) < 2:
        return []
    rows = []
    for line in section[1].split("\n## ", 1)[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows[1:]  # without the header


def check(text: str) -> list[str]:
    """What in the committed table disagrees with the registry and the catalogue (empty: up to date)."""
    problems = []
    expected_requirements = [[rid, level, f"`{name}`"] for rid, level, name in catalogue_rows()]
    if [row[:3] for row in _table_rows(text, "By requirement")] != expected_requirements:
        problems.append("the 'By requirement' table (requirement, level, fault) is out of date")
    expected_faults = [[f"`{name}`", seam, _cell(d), v, c] for name, seam, d, v, c in fault_rows()]
    if [row[:5] for row in _table_rows(text, "Faults")] != expected_faults:
        problems.append("the 'Faults' table (fault, seam, misimplementation, violates, consequences) is out of date")
    if [row[:1] for row in _table_rows(text, "Dialects")] != [[label] for label in dialect_rows()]:
        problems.append("the 'Dialects' table (the pairwise combinations) is out of date")
    return problems


# ------------------------------------------------------------------------------------------------ command line


def _load_runs(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    fault_runs: dict[str, Any] = {}
    dialect_runs: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        run = json.loads(path.read_text())
        (fault_runs if run["kind"] == "fault" else dialect_runs)[run["label"]] = run
    return fault_runs, dialect_runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--run", action="store_true", help="run the meta-test (-n 2) and rewrite docs/fault-table.md")
    mode.add_argument("--from", dest="source", metavar="DIR", help=f"render from runs saved by {RESULTS_ENV}=DIR")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed table is out of date")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers for --run (default 2)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(TABLE.read_text()) if TABLE.is_file() else [f"{TABLE} does not exist"]
        print("\n".join(problems) or "docs/fault-table.md is up to date")
        return 1 if problems else 0
    if args.run:
        with tempfile.TemporaryDirectory(prefix="qoder-meta-") as folder:
            command = [sys.executable, "-m", "pytest", "tests/test_meta_faults.py", "-q", "-n", args.workers]
            status = subprocess.run(command, cwd=ROOT, env={**os.environ, RESULTS_ENV: folder}, check=False).returncode
            TABLE.write_text(render(*_load_runs(Path(folder))))
        print(f"wrote {TABLE.relative_to(ROOT)} (meta-test exit status {status})")
        return status
    TABLE.write_text(render(*_load_runs(Path(args.source))))
    print(f"wrote {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
