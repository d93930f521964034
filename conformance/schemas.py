"""JSON Schemas for the documented objects, loaded from the repo's `schemas/` folder, with real format checks.

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

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_NAMES = ("work-item", "error", "work-heartbeat", "work-list")


def schema_path(name: str) -> Path:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return SCHEMA_DIR / f"{name}.schema.json"


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
