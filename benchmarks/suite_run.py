"""What a full suite run costs: wall time, HTTP requests, overhead over a bare replay, parallel scaling.

Run from the repo root:  .venv/bin/python benchmarks/suite_run.py [--reps 3] [--skip-scaling]

1. The full suite against the embedded emulator (`python -m pytest -p no:cacheprovider --reports-dir DIR`, no
   QODER_* variables), `--reps` times: wall time of the process; HTTP requests counted at the httpx transport by
   benchmarks/record_plugin.py (all of them: preflight, setup, under test, read-back, cleanup) and, per role, from
   the case records; requests per verified requirement (summary.json: requirements whose verdict is pass, fail,
   warn or recorded).
2. Bare replay: the recorded exchanges of the last run (method, URL, headers, body, in the order they were sent),
   replayed with one plain httpx.Client against a fresh emulator child process started by its command line
   (the way the suite starts its embedded emulator); only the requests are timed. Item and session IDs are mapped
   from the recorded answers to the fresh ones, so every replayed request does the same work as the original.
   The ratio is suite wall time / replay time.
3. Parallel scaling: the suite against an emulator started by its command line with `--latency-ms 20`
   (configured by the QODER_* lines it announces), `-n 0` against `-n 4`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bench_servers import HERE, REPO, cpu_count, start_emulator

VERIFIED = ("pass", "fail", "warn", "recorded")
RUN_LIMIT_S = 1800


@dataclass
class SuiteRun:
    wall_s: float
    returncode: int
    reports_dir: Path
    record_dir: Path
    tail: str

    def summary(self) -> dict[str, Any]:
        return json.loads((self.reports_dir / "summary.json").read_text(encoding="utf-8"))

    def requests_sent(self) -> int:
        return sum(json.loads(p.read_text())["requests"] for p in self.record_dir.glob("requests-*.json"))

    def cases(self) -> list[dict[str, Any]]:
        path = self.record_dir / "cases.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_suite(
    workdir: Path, extra_env: dict[str, str], pytest_args: list[str], *, repo: Path = REPO, python: str = sys.executable
) -> SuiteRun:
    """One suite run as a fresh process (`repo` and `python`: another checkout with its own virtualenv)."""
    reports_dir = Path(tempfile.mkdtemp(prefix="reports-", dir=workdir))
    record_dir = Path(tempfile.mkdtemp(prefix="record-", dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QODER_", "PYTEST_"))}
    env.update(extra_env)
    env["QODER_BENCH_RECORD_DIR"] = str(record_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "record_plugin"]
    command += [f"--reports-dir={reports_dir}", *pytest_args]
    started = time.monotonic()
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    wall = time.monotonic() - started
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return SuiteRun(wall, done.returncode, reports_dir, record_dir, tail)


def case_durations(run: SuiteRun) -> dict[str, float]:
    root = ElementTree.parse(run.reports_dir / "junit.xml").getroot()
    return {f"{c.get('classname')}::{c.get('name')}": float(c.get("time", 0)) for c in root.iter("testcase")}


def verified_requirements(summary: dict[str, Any]) -> int:
    return sum(1 for requirement in summary["requirements"] if requirement["verdict"] in VERIFIED)


# ------------------------------------------------------------------------------------------------------- replay

ID_PATTERN = re.compile(r"\b(?:work|sess)_[0-9a-f]{32}\b")
PLACEHOLDER = re.compile(r"\$\{(QODER_[A-Z_]+)\}")


def recorded_exchanges(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    exchanges = [exchange for case in cases for exchange in case.get("exchanges", [])]
    return sorted(exchanges, key=lambda exchange: exchange.get("started_at") or 0.0)


def _ids_in(text: str | None) -> list[str]:
    return ID_PATTERN.findall(text or "")


class Replayer:
    """Sends recorded exchanges again, with the fresh emulator's origin, secrets and IDs substituted."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings
        self.ids: dict[str, str] = {}
        self.origin: str | None = None

    def substitute(self, text: str) -> str:
        text = PLACEHOLDER.sub(lambda found: self.settings.get(found.group(1), found.group(0)), text)
        return ID_PATTERN.sub(lambda found: self.ids.get(found.group(0), found.group(0)), text)

    def request(self, exchange: dict[str, Any], base_url: str) -> httpx.Request:
        url = httpx.URL(exchange["url"])
        target = base_url + url.raw_path.decode("ascii")
        headers = {
            name: self.substitute(value)
            for name, value in (exchange.get("request_headers") or {}).items()
            if name.lower() not in ("host", "content-length")
        }
        body: bytes | None = None
        if exchange.get("request_body_base64"):
            body = base64.b64decode(exchange["request_body_base64"])
        elif exchange.get("request_body") is not None:
            body = self.substitute(exchange["request_body"]).encode("utf-8")
        return httpx.Request(exchange["method"], self.substitute(target), headers=headers, content=body)

    def learn(self, exchange: dict[str, Any], response: httpx.Response) -> None:
        """Map the IDs the original answer introduced to the IDs the fresh emulator answered with, in order."""
        old = [i for i in _ids_in(exchange.get("response_body")) if i not in self.ids]
        new = _ids_in(response.text)
        for old_id, new_id in zip(old, [i for i in new if i not in self.ids.values()], strict=False):
            self.ids[old_id] = new_id


def replay(exchanges: list[dict[str, Any]]) -> dict[str, Any]:
    """In this process: start an emulator child, replay, stop it. `requests_s` times the requests alone."""
    with start_emulator() as running:  # a child process, as the suite's embedded emulator is
        replayer = Replayer(running.settings)
        statuses: Counter[str] = Counter()
        same_status = 0
        with httpx.Client(timeout=30) as client:
            started = time.monotonic()
            for exchange in exchanges:
                try:
                    response = client.send(replayer.request(exchange, running.base_url))
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1
                    continue
                replayer.learn(exchange, response)
                statuses[str(response.status_code)] += 1
                same_status += response.status_code == exchange.get("status")
            seconds = time.monotonic() - started
    return {
        "requests": len(exchanges),
        "requests_s": round(seconds, 2),
        "same_status_as_recorded": same_status,
        "statuses": dict(statuses),
    }


def replay_process(exchanges: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """The replay as a script run end to end, like the suite: interpreter start, imports, its own emulator child,
    the requests, shutdown. `process_s` is that whole wall time."""
    path = workdir / "exchanges.json"
    path.write_text(json.dumps(exchanges), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--replay-file", str(path)], cwd=REPO, capture_output=True, text=True, check=True
    )
    process_s = time.monotonic() - started
    return {**json.loads(done.stdout), "process_s": round(process_s, 2)}


# --------------------------------------------------------------------------------------------------- scenarios


SESSION_TIME = re.compile(r" in (\d+(?:\.\d+)?)s")
NO_CASE = "no_case_has_this_name"


def session_seconds(run: SuiteRun) -> float | None:
    """pytest's own "N passed in X s": the session without interpreter start-up and imports."""
    found = SESSION_TIME.findall(run.tail)
    return float(found[-1]) if found else None


def full_suite(workdir: Path, reps: int) -> dict[str, Any]:
    # Suite, no-case run and replay are interleaved repetition by repetition, so a noisy moment on a shared machine
    # hits all three alike; every replay sends the exchanges the first suite run recorded.
    runs, empty, replays = [], [], []
    exchanges: list[dict[str, Any]] = []
    for rep in range(reps):
        run = run_suite(workdir, {}, [])
        runs.append(run)
        # The same run with every case deselected: start-up, plugin, emulator, preflight, reports, cleanup.
        empty.append(run_suite(workdir, {}, ["-k", NO_CASE]).wall_s)
        exchanges = exchanges or recorded_exchanges(run.cases())
        replays.append(replay_process(exchanges, workdir))
        print(
            f"full suite rep {rep + 1}/{reps}: {run.wall_s:.1f} s (no-case run {empty[-1]:.1f} s, replay process "
            f"{replays[-1]['process_s']:.2f} s, its request loop {replays[-1]['requests_s']:.2f} s), exit "
            f"{run.returncode}: {run.tail}",
            flush=True,
        )
    last = runs[0]
    summary = last.summary()
    cases = last.cases()
    roles = Counter(exchange.get("role") for case in cases for exchange in case.get("exchanges", []))
    sent = last.requests_sent()
    verified = verified_requirements(summary)
    replay_median = statistics.median(r["requests_s"] for r in replays)
    replay_process_median = statistics.median(r["process_s"] for r in replays)
    wall_median = statistics.median(r.wall_s for r in runs)
    fixed_median = statistics.median(empty)
    # The replay covers the case exchanges only; preflight and cleanup requests belong to no case.
    replay_all_requests = replay_median * sent / len(exchanges) if exchanges else 0.0
    sessions = [s for s in (session_seconds(r) for r in runs) if s is not None]
    return {
        "wall_s_all": [round(r.wall_s, 1) for r in runs],
        "wall_s_median": round(wall_median, 1),
        "exit_status": last.returncode,
        "cases": summary["counts"]["cases"],
        "requirements": summary["counts"]["requirements"],
        "requirements_verified": verified,
        "http_requests_sent": sent,
        "http_requests_in_case_evidence": sum(roles.values()),
        "by_role": dict(roles),
        "requests_per_verified_requirement": round(sent / verified, 1) if verified else None,
        "replay": replays[-1],
        "replay_s_all": [r["requests_s"] for r in replays],
        "replay_s_median": replay_median,
        "replay_process_s_all": [r["process_s"] for r in replays],
        "replay_process_s_median": replay_process_median,
        "suite_to_replay_process_ratio": round(wall_median / replay_process_median, 2),
        "suite_to_replay_ratio": round(wall_median / replay_median, 2) if replay_median else None,
        "replay_s_scaled_to_all_requests": round(replay_all_requests, 2),
        "suite_to_scaled_replay_ratio": round(wall_median / replay_all_requests, 2) if replay_all_requests else None,
        "pytest_session_s_median": statistics.median(sessions) if sessions else None,
        "no_case_run_s_all": [round(s, 2) for s in empty],
        "no_case_run_s_median": round(fixed_median, 2),
        "suite_minus_fixed_to_scaled_replay_ratio": (
            round((wall_median - fixed_median) / replay_all_requests, 2) if replay_all_requests else None
        ),
    }


def scaling(workdir: Path, reps: int, latency_ms: int, workers: int, rate_limits: bool) -> dict[str, Any]:
    options = ("--latency-ms", str(latency_ms))
    serial, parallel, serial_empty, parallel_empty = [], [], [], []
    with start_emulator(*options) as emulator:
        env = dict(emulator.settings)
        if not rate_limits:
            # A remote target gets the docs' client baselines (20 writes/s, 50 reads/s) by default; those, not the
            # latency, would bound both runs. Off, the latency is what parallel workers can hide.
            env.update(QODER_WRITE_RATE="0", QODER_READ_RATE="0")
        for rep in range(reps):
            for label, args, into in (("-n 0", ["-n", "0"], serial), (f"-n {workers}", ["-n", str(workers)], parallel)):
                run = run_suite(workdir, env, args)
                into.append(run.wall_s)
                # The same mode with no case selected: what it costs before and after the cases.
                empty = run_suite(workdir, env, [*args, "-k", NO_CASE]).wall_s
                (serial_empty if into is serial else parallel_empty).append(empty)
                longest = max(case_durations(run).values(), default=0.0)
                print(
                    f"latency {latency_ms} ms {label} rep {rep + 1}/{reps}: {run.wall_s:.1f} s (no-case run "
                    f"{empty:.1f} s, longest case {longest:.1f} s): {run.tail}",
                    flush=True,
                )
    return {
        "latency_ms": latency_ms,
        "client_rate_limits": "docs' baselines (20 writes/s, 50 reads/s)" if rate_limits else "off",
        "serial_s_all": [round(s, 1) for s in serial],
        "parallel_s_all": [round(s, 1) for s in parallel],
        "workers": workers,
        "speedup_median": round(statistics.median(serial) / statistics.median(parallel), 2),
        "serial_no_case_run_s_median": round(statistics.median(serial_empty), 1),
        "parallel_no_case_run_s_median": round(statistics.median(parallel_empty), 1),
        "speedup_of_the_case_phase": round(
            (statistics.median(serial) - statistics.median(serial_empty))
            / max(0.1, statistics.median(parallel) - statistics.median(parallel_empty)),
            2,
        ),
        "longest_case_s": round(longest, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--rate-limits", action="store_true", help="keep the remote client rate limits on")
    parser.add_argument("--replay-file", type=Path, help=argparse.SUPPRESS)  # internal: one replay process
    args = parser.parse_args()
    if args.replay_file:
        print(json.dumps(replay(json.loads(args.replay_file.read_text(encoding="utf-8")))))
        return
    report: dict[str, Any] = {"cpus": cpu_count()}
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as workdir:
        if not args.skip_full:
            report["full_suite"] = full_suite(Path(workdir), args.reps)
        if not args.skip_scaling:
            report["scaling"] = scaling(Path(workdir), args.reps, args.latency_ms, args.workers, args.rate_limits)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
