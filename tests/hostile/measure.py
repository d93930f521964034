"""Run one command as this process's only child, under an address-space limit, and record its peak RSS.

Usage: python measure.py RESULT_FILE LIMIT_BYTES -- COMMAND...

Why a process of its own: `getrusage(RUSAGE_CHILDREN).ru_maxrss` is the peak of the largest waited-for descendant,
so it measures the suite only in a process that has no other child. The limit (RLIMIT_AS) turns a run that would
buffer an endless body into a MemoryError on its own, instead of exhausting a machine other jobs share.
Writes {"returncode": N, "peak_rss_kb": N} to RESULT_FILE; exits with the command's status.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def main(argv: list[str]) -> int:
    result_file, limit, separator, *command = argv
    assert separator == "--" and command, __doc__

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))

    completed = subprocess.run(command, preexec_fn=limit_memory, check=False)  # preexec_fn is safe: no threads here
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    with open(result_file, "w", encoding="utf-8") as stream:
        json.dump({"returncode": completed.returncode, "peak_rss_kb": peak_kb}, stream)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
