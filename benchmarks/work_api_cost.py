"""What the plain `pytest` run costs as the suite grows: wall time, HTTP requests, requests per case, per endpoint.

Run from the repo root:  .venv/bin/python benchmarks/work_api_cost.py [--reps 5] [--repo PATH --python PATH]

The plain run (`python -m pytest -q -p no:cacheprovider`, no QODER_* variables: the embedded emulator) is started
`--reps` times in `--repo` with `--python` (defaults: this checkout and this interpreter), so an older checkout with
its own virtual environment can be measured by the same script. Requests are counted at the httpx transport by
benchmarks/record_plugin.py (all of them); per case from the case records (setup, under test, read-back). Reported:
median wall time, requests, requests per case (median and the largest), and cases and requests per endpoint (a case
counts for each endpoint its requirement IDs belong to).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from suite_run import REPO, run_suite

from conformance import catalogue


def endpoints_of(case: dict) -> set[str]:
    ids = case.get("requirements") or []
    return {catalogue.endpoint_of(rid) for rid in ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="work-api-bench-") as workdir:
        runs = [run_suite(Path(workdir), {}, [], repo=args.repo, python=args.python) for _ in range(args.reps)]
        last = runs[-1]
        cases = last.cases()
        sent = last.requests_sent()
    per_case = [len(case.get("exchanges", [])) for case in cases]
    roles = Counter(e.get("role") for case in cases for e in case.get("exchanges", []))
    by_endpoint_cases: Counter = Counter()
    by_endpoint_requests: Counter = Counter()
    for case in cases:
        for endpoint in endpoints_of(case):
            by_endpoint_cases[endpoint] += 1
            by_endpoint_requests[endpoint] += len(case.get("exchanges", []))
    report = {
        "repo": str(args.repo),
        "wall_s_all": [round(r.wall_s, 2) for r in runs],
        "wall_s_median": round(statistics.median(r.wall_s for r in runs), 2),
        "exit_status": [r.returncode for r in runs],
        "last_line": last.tail.splitlines()[-1:],
        "cases": len(cases),
        "http_requests_sent": sent,
        "requests_in_cases_by_role": dict(roles),
        "requests_per_case_median": statistics.median(per_case) if per_case else None,
        "requests_per_case_max": max(per_case, default=None),
        "cases_by_endpoint": dict(sorted(by_endpoint_cases.items())),
        "requests_by_endpoint": dict(sorted(by_endpoint_requests.items())),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
