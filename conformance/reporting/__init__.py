"""Reports of a run: report.html, summary.json, summary.md, repro scripts, and the secret canary over all of them.

The plugin calls `manifest.begin_run` at session start and `write_all` once at the end. Each artifact is written
atomically and independently (one that cannot be rendered is named in summary.json's record problems, and the
others are still written; summary.json last, so it can say so). The canary then scans exactly the files this run
wrote (its reports, repro scripts, and the extra files the plugin names: junit.xml, the run's ledger), never
anything else in the folder: a file of the run that holds a secret in any known encoding is deleted and reported
by variable name. Stale repro scripts are removed only when an earlier run's manifest lists them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from conformance.evidence import Secret
from conformance.reporting import canary, html, manifest, markdown, repro, summary
from conformance.reporting.canary import CanaryHit
from conformance.reporting.cases import NEEDS_REPRO, Vetted, safe_name, vet
from conformance.reporting.files import write_atomic
from conformance.results import RunRecord

__all__ = ["CanaryHit", "vet", "write_all"]

REPRO_DIR = "repro"


def write_all(
    run: RunRecord,
    reports_dir: Path,
    secrets: Mapping[str, Secret | str | None],
    *,
    also_scan: Iterable[Path | str] = (),
    problems: Iterable[str] = (),
    vetted: Vetted | None = None,
) -> list[CanaryHit]:
    """Write every report of `run` into `reports_dir`, then scan what was written; returns the canary hits.

    `secrets` maps variable names (QODER_PAT, ...) to their values; values are used only by the canary.
    `also_scan`: other files this run wrote (junit.xml, its ledger), scanned and, on a hit, removed too.
    `problems`: harness failures of the session (e.g. in cleanup) that summary.json must record.
    `vetted`: the judged run when the caller has it (the plugin renders its terminal footer from the same record;
    the repro paths are filled in here).
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    run_id = str((run.config or {}).get("run_id") or "") if isinstance(run.config, dict) else ""
    earlier = manifest.earlier_files(reports_dir, run_id)
    written: list[str] = []
    extra = [Path(path) for path in also_scan]
    try:
        vetted = vet(run) if vetted is None else vetted
        vetted.problems.extend(problems)
        written += _write_repros(vetted, reports_dir, set(secrets), earlier)
        for name, render in (("report.html", html.render), ("summary.md", markdown.render)):
            if _write_one(vetted, reports_dir, name, lambda render=render: render(vetted)):
                written.append(name)
        if _write_one(vetted, reports_dir, "summary.json", lambda: summary.render(summary.build(vetted))):
            written.append("summary.json")
    finally:
        # Whatever happened above, what this run did write is checked for secrets (and nothing else is).
        hits = canary.remove(canary.scan([reports_dir / name for name in written] + extra, secrets))
        removed = {Path(hit.path).resolve() for hit in hits if hit.removed}
        kept = [name for name in written if (reports_dir / name).resolve() not in removed]
        kept += _relative_inside(reports_dir, [path for path in extra if path.resolve() not in removed])
        with contextlib.suppress(OSError):
            manifest.finish_run(reports_dir, run_id, kept, earlier)
    return hits


def _write_one(vetted: Vetted, reports_dir: Path, name: str, render: Callable[[], str]) -> bool:
    """One report; a failure to render or write it is recorded (summary.json's record problems), not raised."""
    try:
        write_atomic(reports_dir / name, render())
    except Exception as error:  # one broken report must not cost the others
        vetted.problems.append(f"{name} could not be written: {error.__class__.__name__}: {error}")
        return False
    return True


def _relative_inside(folder: Path, paths: list[Path]) -> list[str]:
    root = folder.resolve()
    inside = []
    for path in paths:
        with contextlib.suppress(ValueError, OSError):
            if path.is_file():
                inside.append(path.resolve().relative_to(root).as_posix())
    return inside


def _write_repros(vetted: Vetted, reports_dir: Path, secret_names: set[str], earlier: list[str]) -> list[str]:
    """One script per failed or warned case; returns their names. Stale scripts are removed only when an earlier
    run's manifest lists them: a `repro/*.sh` this suite did not write is never touched."""
    for name in earlier:
        if name.startswith(f"{REPRO_DIR}/") and name.endswith(".sh"):
            with contextlib.suppress(OSError):
                (reports_dir / name).unlink()
    written: list[str] = []
    taken: set[str] = set()
    for case in vetted.cases:
        if case.verdict not in NEEDS_REPRO:
            continue
        name = f"{REPRO_DIR}/{safe_name(case.nodeid, taken)}.sh"
        try:
            write_atomic(reports_dir / name, repro.render(case, vetted.run, secret_names), executable=True)
        except Exception as error:  # one odd record must not cost the other reports
            vetted.notes.append(f"{case.nodeid}: repro script could not be written ({error!r})")
            continue
        case.repro = name
        written.append(name)
    return written
