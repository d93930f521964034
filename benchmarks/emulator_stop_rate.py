"""Stop requests per second against the emulator vs a bare endpoint of the same framework; peak RSS at 100,000 items.

Run from the repo root:  .venv/bin/python benchmarks/emulator_stop_rate.py [--reps 5] [--requests 2000]

Throughput: each repetition provisions `--requests` fresh `active` items through the hook (outside the timed
window), then C client processes (httpx, one keep-alive connection each) send one graceful stop `{}` per item:
every timed request is a real active -> stopping transition. The same number of POSTs to the same paths go to a
minimal Starlette app served by uvicorn the same way (benchmarks/bare_endpoint.py), interleaved with the emulator
runs so both see the same machine noise. Clients are processes, not threads, so the load generator's GIL is not
the bottleneck being measured. The figure reported is the median over repetitions; ratio = emulator / bare.

Memory: a fresh emulator process, 100,000 items created through the hook (states cycled through all five, one
metadata key each, as the suite provisions them), then VmHWM (peak resident set) from /proc/<pid>/status.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from dataclasses import dataclass

import httpx
from bench_servers import ServerProcess, cpu_count, start_bare_endpoint, start_emulator

PAT = "pt-emulator-primary"
ENVIRONMENT_ID = "env_00000000000000000000000000000001"
HOOK_PATH = "/_emulator/hook"
API = "/api/v1/cloud"
STATES = ("queued", "starting", "active", "stopping", "stopped")
HEADERS = {"Authorization": f"Bearer {PAT}", "Content-Type": "application/json"}


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _client_worker(base_url: str, paths: list[str], barrier, results) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as client:
        client.get("/_emulator/ready")  # open the keep-alive connection before the clock starts
        barrier.wait()
        started = time.monotonic()
        errors = 0
        for path in paths:
            if client.post(path, content=b"{}").status_code != 200:
                errors += 1
        results.put((started, time.monotonic(), len(paths), errors))


def run_load(base_url: str, paths: list[str], clients: int) -> LoadResult:
    """Send one POST {} per path, spread over `clients` processes; rate over the wall span of all of them."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients)
    results = context.Queue()
    shares = [paths[i::clients] for i in range(clients)]
    workers = [context.Process(target=_client_worker, args=(base_url, share, barrier, results)) for share in shares]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(30)
    started = min(o[0] for o in outcomes)
    finished = max(o[1] for o in outcomes)
    return LoadResult(sum(o[2] for o in outcomes), finished - started, sum(o[3] for o in outcomes))


def _load_on(server: ServerProcess, paths: list[str], clients: int) -> tuple[LoadResult, float]:
    """The load's result and the CPU seconds `server` spent meanwhile (the server's own cost, client excluded)."""
    before = server.cpu_seconds()
    result = run_load(server.base_url, paths, clients)
    return result, server.cpu_seconds() - before


def provision(client: httpx.Client, count: int, state: str = "active") -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post(
            HOOK_PATH, json={"state": state, "environment_id": ENVIRONMENT_ID, "metadata": {"suite": "bench"}}
        )
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def stop_path(work_id: str) -> str:
    return f"{API}/environments/{ENVIRONMENT_ID}/work/{work_id}/stop"


def measure_rates(emulator: ServerProcess, bare: ServerProcess, reps: int, per_rep: int, levels: list[int]) -> dict:
    rates: dict[str, dict[int, list[float]]] = {"emulator": {c: [] for c in levels}, "bare": {c: [] for c in levels}}
    cpu: dict[str, dict[int, list[float]]] = {"emulator": {c: [] for c in levels}, "bare": {c: [] for c in levels}}
    with httpx.Client(base_url=emulator.base_url, headers=HEADERS, timeout=30) as setup:
        for rep in range(reps):
            for clients in levels:
                ids = provision(setup, per_rep)
                paths = [stop_path(work_id) for work_id in ids]
                emulated, emulator_cpu = _load_on(emulator, paths, clients)
                baseline, bare_cpu = _load_on(bare, paths, clients)
                cpu["emulator"][clients].append(emulator_cpu / len(paths) * 1e6)
                cpu["bare"][clients].append(bare_cpu / len(paths) * 1e6)
                if emulated.errors or baseline.errors:
                    raise RuntimeError(f"non-200 answers: emulator {emulated.errors}, bare {baseline.errors}")
                # The stops were real transitions: the items are now stopping.
                sample = setup.get(f"{API}/environments/{ENVIRONMENT_ID}/work/{ids[-1]}").json()
                if sample["state"] != "stopping":
                    raise RuntimeError(f"a graceful stop on an active item left it {sample['state']!r}")
                rates["emulator"][clients].append(emulated.rate)
                rates["bare"][clients].append(baseline.rate)
                print(
                    f"rep {rep + 1}/{reps} clients={clients}: emulator {emulated.rate:7.0f}/s"
                    f"  bare {baseline.rate:7.0f}/s  ratio {emulated.rate / baseline.rate:5.1%}"
                    f"  server CPU/request: emulator {cpu['emulator'][clients][-1]:.0f} us"
                    f"  bare {cpu['bare'][clients][-1]:.0f} us",
                    flush=True,
                )
    summary = {}
    for clients in levels:
        emulator_median = statistics.median(rates["emulator"][clients])
        bare_median = statistics.median(rates["bare"][clients])
        summary[clients] = {
            "emulator_rps_median": round(emulator_median),
            "bare_rps_median": round(bare_median),
            "ratio": round(emulator_median / bare_median, 3),
            "emulator_cpu_us_per_request_median": round(statistics.median(cpu["emulator"][clients])),
            "bare_cpu_us_per_request_median": round(statistics.median(cpu["bare"][clients])),
            "emulator_rps_all": [round(r) for r in rates["emulator"][clients]],
            "bare_rps_all": [round(r) for r in rates["bare"][clients]],
        }
    return summary


def _fill_worker(base_url: str, count: int, offset: int, results) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as client:
        for index in range(count):
            state = STATES[(offset + index) % len(STATES)]
            response = client.post(
                HOOK_PATH, json={"state": state, "environment_id": ENVIRONMENT_ID, "metadata": {"suite": "bench"}}
            )
            if response.status_code not in (200, 201):
                results.put(("error", response.status_code))
                return
    results.put(("ok", count))


def measure_memory(items: int, fillers: int) -> dict:
    with start_emulator() as emulator:
        baseline_kb = emulator.status_kb("VmRSS")
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        share = items // fillers
        started = time.monotonic()
        workers = [
            context.Process(target=_fill_worker, args=(emulator.base_url, share, i * share, results))
            for i in range(fillers)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=1800) for _ in workers]
        for worker in workers:
            worker.join(30)
        if any(kind != "ok" for kind, _ in outcomes):
            raise RuntimeError(f"creating items failed: {outcomes}")
        seconds = time.monotonic() - started
        with httpx.Client(base_url=emulator.base_url, headers=HEADERS, timeout=60) as client:
            page = client.get(f"{API}/environments/{ENVIRONMENT_ID}/work", params={"limit": 1}).json()
            if not page.get("has_more"):
                raise RuntimeError("the emulator does not list the created items")
        return {
            "items": share * fillers,
            "fill_seconds": round(seconds, 1),
            "rss_before_mb": round(baseline_kb / 1024, 1),
            "vm_hwm_mb": round(emulator.status_kb("VmHWM") / 1024, 1),
            "vm_rss_mb": round(emulator.status_kb("VmRSS") / 1024, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="stops per repetition and concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--items", type=int, default=100_000, help="items held for the memory figure (0: skip)")
    parser.add_argument("--fillers", type=int, default=4, help="client processes creating the items")
    parser.add_argument("--skip-rate", action="store_true")
    args = parser.parse_args()

    report: dict = {"cpus": cpu_count()}
    if not args.skip_rate:
        with start_emulator() as emulator, start_bare_endpoint() as bare:
            report["stop_rate"] = measure_rates(emulator, bare, args.reps, args.requests, args.clients)
    if args.items:
        report["memory"] = measure_memory(args.items, args.fillers)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
