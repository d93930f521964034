"""`qoder-conformance`: the suite's tools outside a pytest run.

run [PYTEST OPTIONS] run the bundled conformance cases (an installed copy, from any directory); pytest's exit status
verify SUMMARY      is this summary.json a certificate for the installed suite and spec? (exit 0 / 1; 2: unreadable)
cleanup --ledger    force-stop every item a killed run left live, from its ledger (the latest run's lines by default)
requirements        list the requirement catalogue (text or JSON; --endpoint NAME filters)
drift               is every requirement's quote still on its doc page? (exit 0 no / 1 drift / 2 a page unreadable)
scan PATH...        the secret canary over files, with the tokens from the QODER_* variables (exit 1 on a hit)

Exit status 2 is a usage error or an input that cannot be used, so scripts can tell "no" (1) from "cannot say" (2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import conformance
from conformance import catalogue
from conformance.reporting import canary, verify

# The interface's token variables: the only configuration values that are secrets.
TOKEN_VARIABLES = ("QODER_PAT", "QODER_FORBIDDEN_PAT", "QODER_EXPIRED_PAT")
USAGE_ERROR = 2


def _verify(arguments: argparse.Namespace) -> int:
    try:
        document = verify.load(Path(arguments.summary))
    except verify.SummaryUnreadable as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    problems = verify.problems(document)
    for problem in problems:
        print(f"- {problem}")
    print(verify.conclusion(document, problems))
    return 1 if problems else 0


def load_settings(config_file: str | None) -> Any:
    """Settings exactly as the suite loads them (option > environment > file > default), via conformance.config.

    The one place the CLI depends on the configuration module's loader, so a rename there is a one-line change.
    """
    from conformance import config

    return config.load_settings(config_file=config_file)


def cleanup_items(path: Path, settings: Any, *, run_id: str | None = None, all_runs: bool = False) -> dict[str, Any]:
    """The ledger module's cleanup, imported only when asked for (it needs the HTTP client, verify does not)."""
    from conformance.ledger import cleanup_from_ledger

    return cleanup_from_ledger(path, settings, run_id=run_id, all_runs=all_runs)


def _cleanup(arguments: argparse.Namespace) -> int:
    """Cleanup of one run of a ledger (the latest by default). The PAT goes only to the configured QODER_BASE_URL:
    a line recorded for another target, or that is not a well-formed entry, is reported under "skipped"."""
    from conformance.errors import HarnessError

    path = Path(arguments.ledger)
    if not path.is_file():
        print(f"error: {path}: no such ledger file", file=sys.stderr)
        return USAGE_ERROR
    try:
        settings = load_settings(arguments.config)
        outcome = cleanup_items(path, settings, run_id=arguments.run_id, all_runs=arguments.all_runs)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        print(f"error: {path}: cannot be read ({error.strerror or error})", file=sys.stderr)
        return USAGE_ERROR
    hits = canary.scan_text(json.dumps(outcome, default=str), _secrets())
    if hits:  # never print a token, even one a target echoed back into an error message
        print("error: the cleanup outcome contains a secret and is not shown; see the ledger", file=sys.stderr)
    else:
        print(json.dumps(outcome, indent=2, default=str))
    failed = outcome.get("failed") if isinstance(outcome, dict) else None
    skipped = outcome.get("skipped") if isinstance(outcome, dict) else None
    others = outcome.get("other_runs") if isinstance(outcome, dict) else None
    if others:
        print(
            f"not considered: {sum(others.values())} entries of {len(others)} older run(s) "
            f"({', '.join(others)}); use --run-id RUN or --all",
            file=sys.stderr,
        )
    if skipped:
        print(f"{len(skipped)} ledger line(s) skipped (malformed, or another target); see 'skipped'", file=sys.stderr)
    if failed:
        print(f"{len(failed)} item(s) could not be stopped and may still be live", file=sys.stderr)
    return 1 if failed or skipped else 0


def _requirements(arguments: argparse.Namespace) -> int:
    wanted = set(arguments.endpoint or ())
    requirements = [r for r in catalogue.requirements().values() if not wanted or r.endpoint in wanted]
    if arguments.format == "json":
        listing = [
            {"id": r.id, "level": r.level, "summary": r.summary, "page": r.page, "endpoint": r.endpoint}
            for r in requirements
        ]
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    if not requirements:
        print(f"no requirements of {', '.join(sorted(wanted))} in the catalogue", file=sys.stderr)
        return 0
    width = max(len(r.id) for r in requirements)
    for requirement in requirements:
        print(f"{requirement.id:<{width}}  {requirement.level:<11}  {requirement.summary}")
    return 0


def _drift(arguments: argparse.Namespace) -> int:
    from conformance import drift

    if arguments.pages_dir is not None and not Path(arguments.pages_dir).is_dir():
        print(f"error: {arguments.pages_dir}: no such folder", file=sys.stderr)
        return USAGE_ERROR
    if not 0 < arguments.timeout <= 3600:  # also refuses nan and inf
        print("error: --timeout must be a number of seconds above 0 and at most 3600", file=sys.stderr)
        return USAGE_ERROR
    pages_dir = Path(arguments.pages_dir) if arguments.pages_dir is not None else None
    report = drift.run(drift.selected(arguments.endpoint or ()), pages_dir=pages_dir, timeout=arguments.timeout)
    if arguments.json:
        print(json.dumps(drift.as_json(report), indent=2, ensure_ascii=False))
    else:
        print("\n".join(drift.lines(report)))
    return report.status


def _secrets() -> dict[str, str]:
    return {name: os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)}


def _scan(arguments: argparse.Namespace) -> int:
    missing = [path for path in arguments.paths if not Path(path).exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return USAGE_ERROR
    secrets = _secrets()
    if not secrets:
        print(f"error: none of {', '.join(TOKEN_VARIABLES)} is set: nothing to look for", file=sys.stderr)
        return USAGE_ERROR
    hits = canary.scan(arguments.paths, secrets)
    if arguments.remove:
        hits = canary.remove(hits)
    for hit in hits:
        print(hit.line())
    if not hits:
        print(f"clean: no trace of {', '.join(sorted(secrets))} in {', '.join(arguments.paths)}")
    return 1 if hits else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="qoder-conformance", description="Tools of the Qoder work API conformance suite."
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {conformance.__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Listed for --help only: main() hands everything after `run` to pytest untouched (see conformance/run.py).
    commands.add_parser(
        "run",
        add_help=False,
        help="run the conformance suite: `run [pytest options]`, e.g. `run -n 2 -m must` (`run --help`: every option)",
    )

    check = commands.add_parser("verify", help="check that a summary.json certifies conformance")
    check.add_argument("summary", metavar="SUMMARY", help="path of a run's summary.json")
    check.set_defaults(handler=_verify)

    clean = commands.add_parser("cleanup", help="force-stop every item a killed run left live")
    clean.add_argument("--ledger", required=True, metavar="PATH", help="the killed run's ledger.jsonl")
    clean.add_argument("--config", metavar="FILE", help="configuration file, as for the suite (optional)")
    which = clean.add_mutually_exclusive_group()
    which.add_argument("--run-id", metavar="RUN", help="the run whose items to stop (default: the ledger's latest run)")
    which.add_argument("--all", dest="all_runs", action="store_true", help="the items of every run in the ledger")
    clean.set_defaults(handler=_cleanup)

    endpoints = tuple(catalogue.ENDPOINTS.values())
    listing = commands.add_parser("requirements", help="list the requirement catalogue")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.add_argument(
        "--endpoint", action="append", choices=endpoints, metavar="NAME", help=f"only these ({', '.join(endpoints)})"
    )
    listing.set_defaults(handler=_requirements)

    drifting = commands.add_parser(
        "drift",
        help="list every requirement whose quote is no longer on its doc page",
        description="Reads every page the catalogue quotes (its .md variant first, then the page itself; or saved "
        "copies with --pages-dir) and lists every requirement whose quote is no longer on it, with what to do. "
        "Only the catalogue's http(s) URLs are fetched; redirects are followed only within the same host.",
        epilog="exit status: 0 no drift; 1 drift found (some quote is no longer on its page); 2 a page could not be "
        "read (nothing drifted among the pages that were read), or a usage error",
    )
    drifting.add_argument(
        "--endpoint", action="append", choices=endpoints, metavar="NAME", help="only this endpoint's requirements"
    )
    drifting.add_argument("--json", action="store_true", help="the outcome as JSON")
    drifting.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="total deadline for reading one page, all its variants together (default: 20)",
    )
    drifting.add_argument(
        "--pages-dir",
        metavar="DIR",
        help="read saved copies instead of fetching: DIR/<host>/<path> of each page URL (e.g. "
        "DIR/docs.qoder.com/cloud-agents/api/environments/work/stop.md; the rendered page at its path or path.html)",
    )
    drifting.set_defaults(handler=_drift)

    scan = commands.add_parser("scan", help="look for the configured tokens in files (exit 1 on a hit)")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    scan.add_argument("--remove", action="store_true", help="delete every file that holds a token")
    scan.set_defaults(handler=_scan)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # pytest's options are pytest's to parse (and `run --help` is pytest's help)
        from conformance import run

        return run.main(argv[1:])
    arguments = parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except BrokenPipeError:  # `qoder-conformance requirements | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
