"""Observing a run from outside: run the suite (or its CLI) as a user does, then look at what a user would see.

Why an independent secret scanner (and not the suite's canary): the kit checks the suite, so it must not share the
suite's blind spots. It looks for each secret raw, in the Authorization header form, base64 (standard and URL-safe,
with and without padding), base64 embedded at any offset in a longer base64 text, and URL-encoded.

Why runs go through `measure.py`: it runs the suite as its only child under an address-space limit (a run that
buffers an endless body dies there instead of taking the shared machine's memory), and reports the suite's peak
RSS (`RUSAGE_CHILDREN`, of a process that has no other child).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MEASURE = Path(__file__).with_name("measure.py")
REPORTS = ("junit.xml", "summary.json", "summary.md", "report.html")
RUN_LIMIT_S = 120.0
MEMORY_LIMIT_BYTES = 3 * 1024**3  # far above a sane run, far below what an unbounded one would take
EMBEDDED_MINIMUM = 12  # base64 characters; shorter stable runs could match by chance

# ------------------------------------------------------------------------------------------------------------ secrets


def _embedded_base64(raw: bytes) -> list[bytes]:
    """For each alignment of the secret inside a longer base64 text, the characters that depend only on it."""
    patterns = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0\0")
        start = 4 * -(-offset // 3)
        end = 4 * ((offset + len(raw)) // 3)
        if end - start >= EMBEDDED_MINIMUM:
            patterns.append(encoded[start:end])
    return patterns


def secret_forms(secret: str) -> dict[bytes, str]:
    """Every byte pattern that betrays `secret`, and the name of its form."""
    raw = secret.encode("utf-8")
    forms: dict[bytes, str] = {raw: "raw", b"Bearer " + raw: "Bearer"}
    for label, encoded in (
        ("base64", base64.b64encode(raw)),
        ("base64 url-safe", base64.urlsafe_b64encode(raw)),
        ("base64 of the Bearer header", base64.b64encode(b"Bearer " + raw)),
    ):
        forms.setdefault(encoded, label)
        forms.setdefault(encoded.rstrip(b"="), label + " (unpadded)")
    for pattern in _embedded_base64(raw):
        forms.setdefault(pattern, "base64 (embedded)")
        forms.setdefault(pattern.translate(bytes.maketrans(b"+/", b"-_")), "base64 (embedded, url-safe)")
    forms.setdefault(urllib.parse.quote(secret, safe="").encode(), "URL-encoded")
    forms.setdefault(urllib.parse.quote_plus(secret, safe="").encode(), "URL-encoded (plus)")
    return forms


def leaks(data: bytes, where: str, secrets: Mapping[str, str]) -> list[str]:
    """'<where>: <NAME> (<form>)' for each secret found in `data`; never the value."""
    found = []
    for name, value in secrets.items():
        for pattern, form in secret_forms(value).items():
            if pattern in data:
                found.append(f"{where}: {name} ({form})")
                break
    return found


def leaks_in_files(folders: Iterable[Path], secrets: Mapping[str, str], exclude: Iterable[Path] = ()) -> list[str]:
    skipped = {path.resolve() for path in exclude}
    found: list[str] = []
    seen: set[Path] = set()
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            resolved = path.resolve()
            if resolved in skipped or resolved in seen:
                continue
            seen.add(resolved)
            found += leaks(path.read_bytes(), str(path), secrets)
    return found


def fingerprint(paths: Iterable[Path]) -> dict[str, str | None]:
    """sha256 and mode of each file (None when missing): a user file 'unchanged' is an equal fingerprint."""
    result: dict[str, str | None] = {}
    for path in paths:
        if path.is_file():
            result[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {path.stat().st_mode:o}"
        else:
            result[str(path)] = None
    return result


# ------------------------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One finished process: what it printed, how it ended, how long it took, how much memory it peaked at."""

    returncode: int
    output: str  # stdout + stderr, decoded leniently (the raw bytes are in `raw`)
    raw: bytes
    wall_s: float
    reports_dir: Path
    peak_rss_mb: float | None = None

    def summary(self) -> dict[str, Any] | None:
        path = self.reports_dir / "summary.json"
        if not path.is_file():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def cases(self) -> list[dict[str, Any]]:
        summary = self.summary() or {}
        cases = summary.get("cases")
        return cases if isinstance(cases, list) else []

    def junit_verdicts(self) -> dict[str, list[str]]:
        """testcase name -> the values of its `verdict` properties, and 'failure' when it carries a <failure>."""
        path = self.reports_dir / "junit.xml"
        verdicts: dict[str, list[str]] = {}
        for case in ElementTree.parse(path).getroot().iter("testcase"):
            values = [p.get("value") or "" for p in case.iter("property") if p.get("name") == "verdict"]
            if case.find("failure") is not None:
                values.append("failure")
            verdicts[f"{case.get('classname')}::{case.get('name')}"] = values
        return verdicts

    def describe(self) -> str:
        return f"exit {self.returncode} after {self.wall_s:.1f} s; output:\n{self.output[-6000:]}"


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any QODER_* / PYTEST_* variable, colours off, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("QODER_", "PYTEST_"))}
    env.update(PY_COLORS="0", NO_COLOR="1", COLUMNS="200")
    env.update(extra or {})
    return env


def suite_command(reports_dir: Path | str, selection: str | None, *extra: str) -> list[str]:
    """`python -m pytest <repo>/conformance` with showlocals and verbose output (everything a user might turn on)."""
    command = [sys.executable, "-m", "pytest", str(REPO / "conformance"), f"--rootdir={REPO}", "-p", "no:xdist"]
    command += ["-l", "-vv", "-rA", "--color=no", f"--reports-dir={reports_dir}"]
    if selection:
        command += ["-k", selection]
    return command + list(extra)


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    reports_dir: Path,
    limit_s: float = RUN_LIMIT_S,
) -> Run:
    """Run `command` through measure.py (memory limit, peak RSS); a run past `limit_s` has hung: the test fails."""
    handle, name = tempfile.mkstemp(prefix="kit-rss-", suffix=".json")  # outside cwd: the run's folder stays its own
    os.close(handle)
    rss_file = Path(name)
    wrapped = [sys.executable, str(MEASURE), str(rss_file), str(MEMORY_LIMIT_BYTES), "--", *command]
    started = time.monotonic()
    process = subprocess.Popen(
        wrapped, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        raw, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raw, _ = process.communicate()
        pytest.fail(f"the run hung: no exit within {limit_s:.0f} s; output so far:\n{raw.decode(errors='replace')}")
    wall_s = time.monotonic() - started
    peak = None
    if rss_file.stat().st_size:
        measured = json.loads(rss_file.read_text())
        rss_file.unlink()
        peak = measured["peak_rss_kb"] / 1024
        returncode = measured["returncode"]
    else:
        returncode = process.returncode
        rss_file.unlink()
    return Run(returncode, raw.decode("utf-8", errors="replace"), raw, wall_s, reports_dir, peak)


def run_cli(arguments: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Run:
    """`python -m conformance <arguments>` (the `qoder-conformance` command)."""
    command = [sys.executable, "-m", "conformance", *arguments]
    return run(command, env=env, cwd=cwd, reports_dir=cwd, limit_s=60)
