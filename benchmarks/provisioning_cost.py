"""The cost of provisioning one item per state: HTTP requests and time, hook vs lifecycle provisioner.

Run from the repo root:  .venv/bin/python benchmarks/provisioning_cost.py [--items 30] [--latency-ms 0]

Uses the suite's own provisioners (conformance.provisioners) with the suite's SuiteClient, against an emulator
started by its command line, so the figures are what a run pays per `provision(state)`. Requests are counted from
the exchanges the client records; the time is the median per item. Each item is force-stopped after it is made,
as the suite does after each case (not counted; `--keep-live` leaves them live, as the suite did before). With
`--latency-ms N` every request costs N ms more, which shows how the request count turns into time against a remote
target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from bench_servers import cpu_count, start_emulator

from conformance import evidence
from conformance.client import SuiteClient
from conformance.config import load_settings
from conformance.ledger import cleanup
from conformance.provisioners import STATES, HookProvisioner, LifecycleProvisioner

METADATA = {"qoder_conformance": "1", "bench": "provisioning"}


def measure(kind: str, environ: dict[str, str], items: int, keep_live: bool) -> dict[str, Any]:
    # Client rate limits off: they would add waits that are a policy, not a cost of the recipe.
    overrides = {"QODER_PROVISIONER": kind, "QODER_WRITE_RATE": "0", "QODER_READ_RATE": "0"}
    settings = load_settings(environ={**environ, **overrides})
    exchanges: list[evidence.Exchange] = []
    client = SuiteClient(settings, exchanges.append, evidence.Redactor(settings.secrets()))
    created: list[dict[str, str]] = []
    provisioner_class = HookProvisioner if kind == "hook" else LifecycleProvisioner
    provisioner = provisioner_class(
        settings, client, lambda env, work_id: created.append({"environment_id": env, "work_id": work_id})
    )
    # As in a suite run, each item is force-stopped after its case (by a client whose requests are not counted).
    cleaner = SuiteClient(settings, lambda exchange: None, evidence.Redactor(settings.secrets()))
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
            if not keep_live:
                cleanup(created[-1:], cleaner)
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
    parser.add_argument("--keep-live", action="store_true", help="leave items live (no per-case cleanup)")
    args = parser.parse_args()
    options = ["--latency-ms", str(args.latency_ms)]
    report: dict[str, Any] = {"cpus": cpu_count(), "latency_ms": args.latency_ms, "items_per_state": args.items}
    with start_emulator(*options) as emulator:
        environ = dict(emulator.settings)
        for kind in ("hook", "lifecycle"):
            report[kind] = measure(kind, environ, args.items, args.keep_live)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
