"""A pytest plugin for the benchmarks only: counts the suite's HTTP requests and keeps each case's exchanges.

Loaded with `-p record_plugin` (benchmarks/ on PYTHONPATH) and active only when QODER_BENCH_RECORD_DIR is set.
Counting happens at the httpx transport, in every process that sends (xdist workers included), so preflight and
cleanup requests, which belong to no case, are counted too. Case records arrive through the documented seam
(`report.qoder_case`), in the controller.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

RECORD_DIR = os.environ.get("QODER_BENCH_RECORD_DIR")
_sent = {"requests": 0}
_cases: dict[str, dict[str, Any]] = {}


def _counting(original):  # type: ignore[no-untyped-def]
    def handle_request(self, request):  # type: ignore[no-untyped-def]
        _sent["requests"] += 1
        return original(self, request)

    return handle_request


def pytest_configure(config: pytest.Config) -> None:
    if RECORD_DIR:
        httpx.HTTPTransport.handle_request = _counting(httpx.HTTPTransport.handle_request)  # type: ignore[method-assign]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    case = getattr(report, "qoder_case", None)
    if RECORD_DIR and isinstance(case, dict):
        _cases[case.get("nodeid", report.nodeid)] = case  # the last report of a case carries its final record


def pytest_unconfigure(config: pytest.Config) -> None:
    if not RECORD_DIR:
        return
    folder = Path(RECORD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"requests-{os.getpid()}.json").write_text(json.dumps(_sent))
    if not hasattr(config, "workerinput"):
        with (folder / "cases.jsonl").open("w", encoding="utf-8") as out:
            for case in _cases.values():
                out.write(json.dumps(case) + "\n")
