"""`qoder-emulator`: serve the emulator until Ctrl-C, or print the QODER_* variables that point the suite at it.

Start-up problems (bad config file, unknown fault or dialect, port in use) are one clear line on stderr and exit
status 2, never a traceback. Ctrl-C (SIGINT) and SIGTERM (what `kill`, Docker and CI runners send) both stop it
cleanly: a one-line message and exit status 0. Each request is logged on standard output (access_log.py) unless
`--quiet`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence

import uvicorn

from qoder_emulator import config as config_module
from qoder_emulator import dialects, faults
from qoder_emulator.access_log import stdout_line
from qoder_emulator.app import API_PREFIX
from qoder_emulator.config import ConfigError
from qoder_emulator.launch import Assembly, bind, origin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qoder-emulator",
        description="A local server of the Qoder self-hosted work API (for the conformance suite and SDK work).",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port, required (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file with principals, environments and agents ('-': read it from standard input, so tokens "
        "never touch the disk; default: the built-in identities)",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, metavar="N", help="add N ms to every response (default: 0)"
    )
    parser.add_argument(
        "--print-env", action="store_true", help="print the QODER_* export lines and exit (default: serve)"
    )
    parser.add_argument(
        "--quiet",
        "--no-access-log",
        dest="quiet",
        action="store_true",
        help="no access log (default: one line per request on standard output: method, path, status, ms)",
    )
    parser.add_argument(
        "--dialect",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="choose behaviour where the docs are silent, repeatable (see --list-dialects for each default)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="turn on a deliberate deviation, repeatable (default: none; see --list-faults)",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        metavar="PID",
        help="stop when the process PID (the launcher, our parent) is gone: no orphan server if it is killed "
        "(default: serve until stopped)",
    )
    parser.add_argument("--list-faults", action="store_true", help="list the known faults and exit")
    parser.add_argument("--list-dialects", action="store_true", help="list the dialect choices and exit")
    return parser


def _export_lines(settings: dict[str, str]) -> str:
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in settings.items())


def _list_dialects() -> str:
    lines = []
    for choice in dialects.CHOICES:
        values = " | ".join(f"{v}{' (default)' if v == choice.default else ''}" for v in choice.values)
        lines.append(f"{choice.name}: {values}\n    {choice.question}")
    return "\n".join(lines)


def _stop_when_orphaned(server: uvicorn.Server, parent_pid: int, interval_s: float = 0.5) -> None:
    """Watch our parent: once it is gone (we are re-parented), stop serving. Polling getppid() is portable and,
    unlike checking the PID, cannot be fooled by a new process that reuses the number."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        server.should_exit = True

    threading.Thread(target=watch, name="qoder-emulator-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    if argv is None:
        argv = sys.argv[1:]
    if "--list-faults" in argv:
        print(faults.describe())
        return 0
    if "--list-dialects" in argv:
        print(_list_dialects())
        return 0
    args = parser.parse_args(argv)
    try:
        if args.port < 0 or args.port > 65535:
            raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
        if args.latency_ms < 0:
            raise ValueError(f"--latency-ms must be >= 0, got {args.latency_ms}")
        dialect = dict(dialects.parse_assignment(text) for text in args.dialect)
        config = config_module.loads(sys.stdin.read(), "standard input") if args.config == "-" else args.config
        access_log = None if args.quiet or args.print_env else stdout_line
        assembly = Assembly.build(
            config=config, latency_ms=args.latency_ms, fault_names=args.fault, dialect=dialect, access_log=access_log
        )
        if args.print_env:
            if args.port == 0:
                raise ValueError("--print-env needs a fixed --port (the port the emulator will be started on)")
            print(_export_lines(assembly.settings(args.host, args.port)))
            return 0
        sock = bind(args.host, args.port)
    except OSError as error:  # bind(): its message names the host and port
        print(f"qoder-emulator: error: {error.strerror or error}", file=sys.stderr)
        return 2
    except (ConfigError, dialects.DialectError, faults.FaultError, ValueError) as error:
        print(f"qoder-emulator: error: {error}", file=sys.stderr)
        return 2

    port = sock.getsockname()[1]
    settings = assembly.settings(args.host, port)
    base = origin(args.host, port)
    server = assembly.server()
    terminated = _stop_on_sigterm(server)  # before the announcement: a launcher may send SIGTERM right after it
    print(f"Qoder work API emulator listening on {base}")
    print(f"  API base URL (SDK base_url / QODER_MANAGED_BASE_URL): {base}{API_PREFIX}")
    print(f"  hook URL: {settings['QODER_HOOK_URL']}")
    if assembly.overrides.names:
        print(f"  FAULTS ON: {', '.join(assembly.overrides.names)}")
    print("  emulator test credentials (point the conformance suite at this server):")
    print("\n".join("    " + line for line in _export_lines(settings).splitlines()))
    print("Press Ctrl-C to stop.", flush=True)
    if args.parent_pid is not None:
        _stop_when_orphaned(server, args.parent_pid)
    how = "stopped"
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        how = "stopped (Ctrl-C)"  # uvicorn re-raises the SIGINT it handled; stopping on Ctrl-C is the normal way out
    finally:
        sock.close()
    if terminated.is_set():
        how = "stopped (SIGTERM)"
    print(f"qoder-emulator: {how}", flush=True)
    return 0


def _stop_on_sigterm(server: uvicorn.Server) -> threading.Event:
    """SIGTERM (kill, Docker, CI runners) stops the server like Ctrl-C: a graceful shutdown, then exit status 0.

    uvicorn handles SIGTERM itself while it serves, then restores this handler and raises the signal again for it;
    without a handler that second SIGTERM would end the process with status 143 and no word. This one only asks
    the server to stop (never raises), so a SIGTERM before uvicorn has started, or after it, is just as clean."""
    terminated = threading.Event()

    def handle(signum: int, frame: object) -> None:
        terminated.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, handle)
    return terminated


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
