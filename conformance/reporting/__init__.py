"""Reports of a run: report.html, summary.json, summary.md, repro scripts, and the secret canary over all of them.

The plugin calls `write_all` once at the end of a session. Each artifact is written atomically, and the canary
then scans everything in the reports folder (including what others wrote there, junit.xml and ledger.jsonl):
a file that holds a secret in any common encoding is deleted and reported by variable name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from conformance.reporting import canary, html, markdown, repro, summary
from conformance.reporting.canary import CanaryHit
from conformance.reporting.cases import NEEDS_REPRO, Vetted, safe_name, vet
from conformance.reporting.files import write_atomic
from conformance.results import RunRecord

__all__ = ["CanaryHit", "vet", "write_all"]

REPRO_DIR = "repro"


def write_all(
    run: RunRecord, reports_dir: Path, secrets: Mapping[str, str | None], *, vetted: Vetted | None = None
) -> list[CanaryHit]:
    """Write every report of `run` into `reports_dir`, then scan the folder; returns the canary hits.

    `secrets` maps variable names (QODER_PAT, ...) to their values; values are used only by the canary. `vetted`
    is the judged run when the caller has it (the plugin renders its terminal footer from the same record; the
    repro paths are filled in here).
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    try:
        vetted = vet(run) if vetted is None else vetted
        _write_repros(vetted, reports_dir, set(secrets))
        document = summary.build(vetted)
        write_atomic(reports_dir / "summary.json", summary.render(document))
        write_atomic(reports_dir / "report.html", html.render(vetted))
        write_atomic(reports_dir / "summary.md", markdown.render(vetted))
    finally:
        # Whatever happened above, what did get written is checked for secrets.
        hits = canary.remove(canary.scan([reports_dir], secrets))
    return hits


def _write_repros(vetted: Vetted, reports_dir: Path, secret_names: set[str]) -> None:
    """One script per failed or warned case; stale scripts of an earlier run in the same folder are removed."""
    folder = reports_dir / REPRO_DIR
    if folder.is_dir():
        for stale in folder.glob("*.sh"):
            stale.unlink()
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
