"""Self-tests for the requirement catalogue: it rests on the spec text, it is well-formed, and the suite covers it.

The drift check is the point of storing quotes and hashes: when a doc page (copied into conformance/spec/) or a
quote changes, these tests fail and name the requirement to review, so no requirement silently outlives its text.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from pathlib import Path

from conformance import catalogue, tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ID_PATTERN = re.compile(rf"^({'|'.join(catalogue.ENDPOINTS)})-[A-Z0-9-]+$")
TEST_MODULES = sorted(catalogue.PACKAGE_DIR.glob("test_*.py"))
# Modules that hold the docs' tables as data: cases reach many requirement IDs through them, not by literal.
TABLE_MODULES = sorted(
    path
    for path in catalogue.PACKAGE_DIR.glob("*.py")
    if not path.name.startswith("test_") and path.name != "catalogue.py"
)


def raw_entries() -> list[dict]:
    """The catalogue as written, before catalogue.requirements() can refuse it, so the tests name what is wrong."""
    return [
        entry
        for path in catalogue.catalogue_files()
        for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("requirement", [])
    ]


def string_literals(tree: ast.AST) -> set[str]:
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def imports_tables(tree: ast.AST) -> bool:
    """`from conformance import tables`, `import conformance.tables` or `from conformance.tables import ...`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module == "conformance.tables":
                return True
            if node.module == "conformance" and any(alias.name == "tables" for alias in node.names):
                return True
        if isinstance(node, ast.Import) and any(alias.name == "conformance.tables" for alias in node.names):
            return True
    return False


def table_requirement_ids() -> set[str]:
    """The IDs test modules reach through tables.py rather than by literal."""
    return (
        {row.requirement for row in tables.TRANSITIONS}
        | {form.requirement for form in tables.BODY_FORMS}
        | set(tables.ERRORS)
    )


def referenced_ids(module: Path) -> set[str]:
    """Catalogue IDs a conformance test module names, directly or through tables.py."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    found = string_literals(tree) & set(catalogue.requirements())
    if imports_tables(tree):
        found |= table_requirement_ids()
    return found


# --- spec drift ---------------------------------------------------------------------------------------------------


def test_every_quote_is_in_the_spec_text_and_matches_its_hash():
    problems = catalogue.drift()
    assert not problems, "spec drift:\n" + "\n".join(problems)


def test_drift_check_reports_a_changed_quote(monkeypatch):
    """The check must bite: a quote edited away from the page is reported, naming the requirement."""
    original = catalogue.get("STOP-BODY-FORCE")
    changed = dataclasses.replace(original, quote="force=true means a stop that waits for the worker to drain.")
    monkeypatch.setitem(catalogue.requirements(), "STOP-BODY-FORCE", changed)

    problems = catalogue.drift()

    assert len(problems) == 2, problems
    assert all(problem.startswith("STOP-BODY-FORCE: ") for problem in problems)
    assert "no longer in conformance/spec/stop-work-item.txt" in problems[0]
    assert "Review the requirement" in problems[0]
    assert "does not match its quote" in problems[1]
    assert f'set sha256 = "{catalogue.quote_digest(changed.quote)}"' in problems[1]


def test_drift_check_reports_a_changed_page(monkeypatch, tmp_path):
    """A doc update that rewords the quoted sentence is reported even though quote and hash still agree."""
    page = catalogue.spec_text("stop-work-item.txt").replace("force=true means", "force=true now means")
    (tmp_path / "stop-work-item.txt").write_text(page, encoding="utf-8")
    monkeypatch.setattr(catalogue, "SPEC_DIR", tmp_path)

    problems = catalogue.drift([catalogue.get("STOP-BODY-FORCE"), catalogue.get("STOP-BODY-GRACEFUL")])

    assert [problem.split(":")[0] for problem in problems] == ["STOP-BODY-FORCE"]
    assert "no longer in conformance/spec/stop-work-item.txt" in problems[0]


def test_drift_check_reports_a_hash_that_does_not_match(monkeypatch):
    original = catalogue.get("STOP-TR-QUEUED")
    monkeypatch.setitem(catalogue.requirements(), "STOP-TR-QUEUED", dataclasses.replace(original, sha256="0" * 64))
    problems = catalogue.drift()
    assert len(problems) == 1 and problems[0].startswith("STOP-TR-QUEUED: stored sha256 "), problems


def test_drift_check_reports_an_unreadable_source():
    original = catalogue.get("STOP-TR-QUEUED")
    problems = catalogue.drift([dataclasses.replace(original, source="no-such-page.txt")])
    assert len(problems) == 1 and "cannot be read" in problems[0], problems


def test_quotes_match_however_the_page_wraps_them():
    quote = catalogue.get("STOP-BODY-OPTIONAL").quote
    rewrapped = quote.replace(" ", "\n   ", 3)
    assert catalogue.quote_digest(rewrapped) == catalogue.quote_digest(quote)
    assert catalogue.normalize(rewrapped) in catalogue.normalize(catalogue.spec_text("stop-work-item.txt"))


def test_table_rows_are_quoted_with_their_cell_boundaries():
    """A quoted table row reads `false | queued | stopped`, never the run-together "falsequeuedstopped"."""
    assert catalogue.get("STOP-TR-QUEUED").quote == "false | queued | stopped"
    assert catalogue.get("STOP-TR-STOPPED-IDEMPOTENT").quote == "false | stopped | Returns the existing stopped item"
    for requirement_id, row in tables.ERRORS.items():
        requirement = catalogue.get(requirement_id)
        if requirement.source == "stop-work-item.txt":
            assert requirement.quote == f"{row.status} | {row.type} | {row.trigger}", requirement_id


def test_spec_tables_keep_their_cell_boundaries():
    """Every table of the Stop page keeps its cells apart, header rows included, so quotes can be read back."""
    lines = catalogue.spec_text("stop-work-item.txt").splitlines()
    for header in ("force | Current state | Result", "HTTP | Type | Trigger", "Header | Required | Description"):
        assert header in lines
    run_together = ("falsequeuedstopped", "400invalid_request_error", "Content-TypeNo", "forcebooleanNo")
    assert not [line for line in lines if line.startswith(run_together)]
    for requirement in catalogue.requirements().values():
        if " | " in requirement.quote:
            assert all(cell.strip() for cell in requirement.quote.split("|")), requirement.id


# --- well-formed ------------------------------------------------------------------------------------------------


def test_ids_are_unique():
    ids = [entry["id"] for entry in raw_entries()]
    duplicates = sorted({requirement_id for requirement_id in ids if ids.count(requirement_id) > 1})
    assert not duplicates, f"duplicate requirement IDs in {catalogue.CATALOGUE_DIR}: {duplicates}"


def test_ids_are_well_formed():
    bad = [entry["id"] for entry in raw_entries() if not ID_PATTERN.match(entry["id"])]
    assert not bad, f"IDs not matching {ID_PATTERN.pattern}: {bad}"


def test_levels_are_valid():
    bad = {entry["id"]: entry["level"] for entry in raw_entries() if entry["level"] not in catalogue.LEVELS}
    assert not bad, f"levels must be one of {catalogue.LEVELS}: {bad}"


def test_every_entry_has_every_field_filled():
    fields = {field.name for field in dataclasses.fields(catalogue.Requirement)}
    for entry in raw_entries():
        assert set(entry) in (fields, fields - {"source"}), (
            f"{entry.get('id')}: fields {sorted(entry)} != {sorted(fields)}"
        )
        empty = [name for name, value in entry.items() if not str(value).strip()]
        assert not empty, f"{entry['id']}: empty {empty}"
        assert entry["page"].startswith("https://"), f"{entry['id']}: page must be the public URL of the doc page"


def test_loader_agrees_with_the_file():
    assert list(catalogue.requirements()) == [entry["id"] for entry in raw_entries()]


# --- tables.py and the test modules refer to the catalogue ---------------------------------------------------------


def test_tables_reference_only_catalogue_ids():
    known = set(catalogue.requirements())
    assert table_requirement_ids() - known == set()
    tree = ast.parse((catalogue.PACKAGE_DIR / "tables.py").read_text(encoding="utf-8"))
    id_like = {value for value in string_literals(tree) if ID_PATTERN.match(value)}
    assert id_like - known == set(), "tables.py names requirement IDs that are not in the catalogue"


def test_test_modules_name_only_catalogue_ids():
    """A mistyped ID in a test module would otherwise go unnoticed until the plugin met it."""
    known = set(catalogue.requirements())
    unknown = {}
    for module in TEST_MODULES:
        literals = string_literals(ast.parse(module.read_text(encoding="utf-8")))
        stray = sorted(value for value in literals if ID_PATTERN.match(value) and value not in known)
        if stray:
            unknown[module.name] = stray
    assert not unknown, f"unknown requirement IDs: {unknown}"


def test_referenced_ids_sees_literals_and_tables(tmp_path):
    """The coverage scan must find both ways a module names a requirement, and nothing else."""
    module = tmp_path / "test_example.py"
    module.write_text('import pytest\n\n@pytest.mark.req("STOP-DRAIN")\ndef test_x():\n    "STOP-NOT-A-REQ"\n')
    assert referenced_ids(module) == {"STOP-DRAIN"}
    module.write_text('from conformance import tables\nIDS = ("STOP-DRAIN",)\n')
    assert referenced_ids(module) == {"STOP-DRAIN"} | table_requirement_ids()


def test_every_requirement_is_checked_by_some_conformance_case():
    """Named by a test module, directly or through a table module (a table row names the requirement it rests on).
    A run's summary then shows whether a case really judged it: a requirement no case judged is `not_verified`."""
    assert TEST_MODULES, "no conformance/test_*.py modules found"
    covered: set[str] = set()
    for module in TEST_MODULES:
        covered |= referenced_ids(module)
    for module in TABLE_MODULES:
        covered |= string_literals(ast.parse(module.read_text(encoding="utf-8"))) & set(catalogue.requirements())
    missing = [requirement_id for requirement_id in catalogue.requirements() if requirement_id not in covered]
    assert not missing, f"requirements no conformance case refers to: {missing}"
