"""The whole suite against `qoder-emulator` as an external target on loopback: rate limits off (the loopback
default) against the remote default (20 writes/s, 50 reads/s).

Run from the repo root:  .venv/bin/python benchmarks/loopback_target.py [--reps 3]

Why: a target on this machine (a vendor's prototype, the emulator started by hand) is a local server under test,
not a shared service, so the docs' client baselines only add waits. The two settings are run interleaved, one of
each per repetition, against the same emulator process (started by its command line, `--quiet`); the figure is the
median wall time of `python -m pytest conformance` per setting and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench_servers import REPO, start_emulator

SETTINGS = {
    "loopback default (rates off)": {},
    "remote default (20 w/s, 50 r/s)": {"QODER_WRITE_RATE": "20", "QODER_READ_RATE": "50"},
}


def one_run(environ: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory(prefix="qoder-bench-") as reports:
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:randomly", f"--reports-dir={reports}"],
            cwd=REPO,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            check=False,
        )
        elapsed = time.monotonic() - started
    if completed.returncode != 0:
        raise RuntimeError(f"the suite exited {completed.returncode} against the emulator")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    base = {name: value for name, value in os.environ.items() if not name.startswith("QODER_")}
    with start_emulator("--quiet") as emulator:
        target = {**base, **emulator.settings}
        times: dict[str, list[float]] = {label: [] for label in SETTINGS}
        for _ in range(args.reps):
            for label, overrides in SETTINGS.items():
                times[label].append(one_run({**target, **overrides}))
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, values in times.items():
        print(f"{label}: median {medians[label]:.1f} s  ({', '.join(f'{v:.1f}' for v in values)})")
    fast, slow = medians.values()
    print(f"ratio: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
