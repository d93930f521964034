"""Files: a run deletes or overwrites only files it wrote itself.

Attack class "files" of the issue. The reports folder is the user's own folder (`--reports-dir=.`), holding the
user's `qoder-conformance.toml`, `.env` and a `repro/mine.sh`, each containing the token (as such files do), and an
unrelated file. The target is plainly non-conforming, so the run FAILs cases and writes repro scripts; then a second
run in the same folder removes its predecessor's stale scripts. Every user file must be byte-for-byte as it was
(same content, same mode), while each run still writes its four reports and no secret outside the user's files.
"""

from __future__ import annotations

from pathlib import Path

from hostile import expect, observe, tamper
from hostile.expect import World


def _plant(world: World) -> list[Path]:
    pat = world.target.ids.pat
    files = {
        "qoder-conformance.toml": f'base_url = "https://staging.example.com"\npat = "{pat}"\n',
        ".env": f"QODER_PAT={pat}\nQODER_ENVIRONMENT_ID={world.target.ids.environment}\n",
        "repro/mine.sh": f'#!/bin/sh\ncurl -H "Authorization: Bearer {pat}" https://staging.example.com/\n',
        "notes.txt": "my notes, no secret here\n",
    }
    planted = []
    for name, text in files.items():
        path = world.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        planted.append(path)
    (world.workdir / "repro/mine.sh").chmod(0o755)
    return planted


def test_a_run_in_the_user_s_folder_touches_only_its_own_files(world: World) -> None:
    world.planted = _plant(world)
    before = observe.fingerprint(world.planted)
    world.target.tamper = tamper.wrong_state()

    for attempt in ("first run", "second run (removes its predecessor's stale repro scripts)"):
        run = world.run_suite(expect.TWO_CASES, reports_dir=".")
        after = observe.fingerprint(world.planted)
        changed = [path for path, print_ in after.items() if print_ != before[path]]
        assert not changed, f"{attempt}: the user's files were changed or removed: {changed}\n{run.describe()}"
        expect.safe_run(world, run, status=expect.EXIT_FAILED)
        verdicts = {case["nodeid"]: case["verdict"] for case in run.cases()}
        assert set(verdicts.values()) == {"fail"}, f"{attempt}: the target must be caught: {verdicts}"
        own_scripts = [p for p in (world.workdir / "repro").glob("*.sh") if p.name != "mine.sh"]
        assert own_scripts, f"{attempt}: no repro script was written for the failed cases"
