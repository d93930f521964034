"""JSON Schemas for the documented objects, loaded from the repo's `schemas/` folder, with real format checks.

The files have one home in the repository, the top-level `schemas/` folder, where users and other tools look for
them. A wheel carries that folder as the data package `conformance.schema_files` (mapped at build time, see
pyproject.toml); a checkout (an editable install) has only the folder. `schema_dir()` finds whichever exists.

The schemas are files rather than Python so that anyone (another suite, an SDK author) can reuse them. This module
only loads them, lets them `$ref` each other through a `referencing` Registry, and validates with a FormatChecker
whose `date-time` check is a real RFC 3339 parser: jsonschema treats `format` as an annotation unless a checker is
given, and silently skips `date-time` when its optional dependency is missing, so the check is registered here
explicitly rather than trusted to defaults.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfc3339_validator import validate_rfc3339

if TYPE_CHECKING:  # imported on first use: every xdist worker imports this module at start-up, few validate at once
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry

SCHEMA_NAMES = ("work-item", "error", "work-heartbeat", "work-list", "work-queue-stats")
PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheel first, then a checkout: an installed copy must never read a stray `schemas/` next to site-packages.
SCHEMA_DIR_CANDIDATES = (PACKAGE_DIR / "schema_files", PACKAGE_DIR.parent / "schemas")


def find_schema_dir(candidates: tuple[Path, ...] = SCHEMA_DIR_CANDIDATES) -> Path:
    """The first candidate folder that holds every schema; names each place looked in when none does."""
    for folder in candidates:
        if all((folder / f"{name}.schema.json").is_file() for name in SCHEMA_NAMES):
            return folder
    looked = ", ".join(str(folder) for folder in candidates)
    raise FileNotFoundError(f"the JSON Schemas ({', '.join(SCHEMA_NAMES)}) are not installed; looked in: {looked}")


def schema_path(name: str) -> Path:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return schema_dir() / f"{name}.schema.json"


@cache
def schema_dir() -> Path:
    """Looked up on first use, not at import: a broken install then fails the case that needs a schema, with the
    places looked in, instead of the plugin failing to load."""
    return find_schema_dir()


@cache
def load(name: str) -> dict[str, Any]:
    """The schema document itself (parsed JSON)."""
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


def is_rfc3339_date_time(instance: object) -> bool:
    """RFC 3339 `date-time`: full date, `T`, full time, mandatory offset (`Z` or `±hh:mm`); real calendar dates.

    Non-strings pass: JSON Schema applies `format` to strings only, and the `type` keyword judges the rest.
    RFC 3339 §5.6 allows lower-case `t` and `z`; the validator library does not, so they are upper-cased first
    rather than failing a conforming server.
    """
    if not isinstance(instance, str):
        return True
    return validate_rfc3339(instance.upper())


def format_checker() -> FormatChecker:
    """A FormatChecker that knows exactly one format, `date-time`, and really checks it."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(is_rfc3339_date_time)
    return checker


@cache
def registry() -> Registry:
    """Every schema under its `$id`, so relative `$ref`s between the files resolve without network access."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for name in SCHEMA_NAMES:
        document = load(name)
        resources.append((document["$id"], Resource.from_contents(document, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load(name), registry=registry(), format_checker=format_checker())


def validate(name: str, instance: Any) -> list[str]:
    """Readable problems with `instance` against schema `name`, each naming its JSON path; empty when valid."""
    errors = sorted(validator(name).iter_errors(instance), key=_path_order)
    return [f"{error.json_path}: {error.message}" for error in errors]


def _path_order(error: Any) -> tuple[list[tuple[int, int | str]], str]:
    """Document order for paths (list index 2 before 10), then message: stable, readable output."""
    steps = [(0, step) if isinstance(step, int) else (1, str(step)) for step in error.path]
    return steps, error.message
