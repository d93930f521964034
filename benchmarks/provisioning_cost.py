"""The cost of provisioning one item per state: HTTP requests and time, hook vs lifecycle provisioner.

Run from the repo root:  /work/venv/bin/python benchmarks/provisioning_cost.py [--items 30] [--latency-ms 0]

Uses the suite's own provisioners (conformance.provisioners) with the suite's SuiteClient, against an emulator
started by its command line, so the figures are what a run pays per `provision(state)`. Requests are counted from
the exchanges the client records; the time is the median per item. With `--latency-ms N` every request costs N ms
more, which shows how the request count turns into time against a remote target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench_servers import REPO, cpu_count, start_emulator

from conformance import evidence
from conformance.client import SuiteClient
from conformance.config import load_settings
from conformance.provisioners import STATES, HookProvisioner, LifecycleProvisioner

METADATA = {"qoder_conformance": "1", "bench": "provisioning"}


def emulator_environ(port: int, options: list[str]) -> dict[str, str]:
    printed = subprocess.run(
        [sys.executable, "-m", "qoder_emulator", "--port", str(port), *options, "--print-env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    environ = {}
    for line in printed.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        environ[name] = value.strip("'")
    return environ


def measure(kind: str, environ: dict[str, str], items: int) -> dict[str, Any]:
    # Client rate limits off: they would add waits that are a policy, not a cost of the recipe.
    overrides = {"QODER_PROVISIONER": kind, "QODER_WRITE_RATE": "0", "QODER_READ_RATE": "0"}
    settings = load_settings(environ={**environ, **overrides})
    exchanges: list[evidence.Exchange] = []
    client = SuiteClient(settings, exchanges.append, evidence.Redactor(settings.secrets()))
    created: list[str] = []
    provisioner_class = HookProvisioner if kind == "hook" else LifecycleProvisioner
    provisioner = provisioner_class(settings, client, lambda _env, work_id: created.append(work_id))
    per_state = {}
    for state in STATES:
        seconds, requests = [], []
        for _ in range(items):
            before = len(exchanges)
            started = time.monotonic()
            item = provisioner.provision(state, environment_id=settings.environment_id, metadata=METADATA)
            seconds.append(time.monotonic() - started)
            requests.append(len(exchanges) - before)
            if item.get("state") != state:
                raise RuntimeError(f"{kind} provisioned {item.get('state')!r} for {state!r}")
        last = exchanges[-requests[-1] :]
        methods = [f"{e.method} {e.url.split('/api/v1/cloud', 1)[-1].split('?')[0]}" for e in last]
        per_state[state] = {
            "requests_median": statistics.median(requests),
            "requests_max": max(requests),
            "ms_median": round(statistics.median(seconds) * 1000, 1),
            "last_sequence": methods,
        }
    return per_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=30, help="items per state and provisioner")
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    options = ["--latency-ms", str(args.latency_ms)]
    report: dict[str, Any] = {"cpus": cpu_count(), "latency_ms": args.latency_ms, "items_per_state": args.items}
    with start_emulator(*options) as emulator:
        environ = emulator_environ(int(emulator.base_url.rsplit(":", 1)[1]), options)
        for kind in ("hook", "lifecycle"):
            report[kind] = measure(kind, environ, args.items)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
