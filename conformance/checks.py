"""The checker: how a case states expectations without knowing how they are judged.

A case calls `check.equal(...)`, `check.that(...)` or `check.observe(...)` with the requirement each expectation
belongs to. The checker keeps going after a mismatch (every mismatch of a case is reported, not just the first),
and the plugin turns the collected mismatches into a verdict from the requirement's level:
MUST mismatch -> FAIL, SHOULD mismatch -> warn (FAIL under --qoder-strict), UNSPECIFIED -> recorded, never judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conformance import catalogue

_MISSING = object()


@dataclass
class Mismatch:
    requirement: str
    level: str
    what: str  # e.g. "state", "response status", "GET after stop: state"
    expected: str
    observed: str

    def line(self) -> str:
        """One line per mismatch: `[STOP-TR-FORCE MUST] state: expected 'stopped', observed 'stopping'`."""
        return f"[{self.requirement} {self.level}] {self.what}: expected {self.expected}, observed {self.observed}"


@dataclass
class Observation:
    requirement: str
    what: str
    value: str


@dataclass
class Checker:
    """Collects the expectations of one case. `allowed` is the set of requirement IDs the case is marked with.

    `redact` is applied to every rendered value as it is recorded: an expected or observed value may hold a token
    the server echoed, and a mismatch is printed in the terminal and written to every report.
    """

    allowed: frozenset[str]
    mismatches: list[Mismatch] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    redact: Callable[[str], str] = field(default=str, repr=False)

    def _level(self, requirement: str) -> str:
        if requirement not in self.allowed:
            raise ValueError(
                f"case checks {requirement} but is marked only with {sorted(self.allowed)}; "
                "add it to @pytest.mark.req so reports trace the assertion"
            )
        return catalogue.get(requirement).level

    def that(self, requirement: str, condition: bool, what: str, expected: Any, observed: Any) -> bool:
        """Record a mismatch unless `condition`; returns `condition` so a case can skip dependent checks."""
        level = self._level(requirement)
        self.checked.add(requirement)
        if level == "UNSPECIFIED":
            raise ValueError(f"{requirement} is UNSPECIFIED: use check.observe, never assert")
        if not condition:
            redact = self.redact
            self.mismatches.append(
                Mismatch(requirement, level, redact(what), redact(show(expected)), redact(show(observed)))
            )
        return condition

    def equal(self, requirement: str, what: str, expected: Any, observed: Any) -> bool:
        return self.that(requirement, same(expected, observed), what, expected, observed)

    def observe(self, requirement: str, what: str, value: Any) -> None:
        """Record what the server did where the docs are silent; asserts nothing."""
        self._level(requirement)
        self.checked.add(requirement)
        self.observations.append(Observation(requirement, self.redact(what), self.redact(show(value))))

    def failures(self, *, strict: bool) -> list[Mismatch]:
        """The mismatches that fail the case: MUST always, SHOULD under --qoder-strict."""
        failing = {"MUST", "SHOULD"} if strict else {"MUST"}
        return [m for m in self.mismatches if m.level in failing]

    def warnings(self, *, strict: bool) -> list[Mismatch]:
        return [] if strict else [m for m in self.mismatches if m.level == "SHOULD"]


def mismatch_line(record: Any) -> str:
    """A recorded mismatch (a Mismatch's fields as a dict) as `[ID LEVEL] what: expected X, observed Y`, or the raw
    record when it is not one."""
    try:
        return Mismatch(**record).line()
    except TypeError:
        return repr(record)


def show(value: Any) -> str:
    """Render a value the way a reader compares it: JSON for data, 'absent' for a missing field."""
    if value is _MISSING:
        return "absent"
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def same(expected: Any, observed: Any) -> bool:
    """Equality that treats two renderings of one instant as equal ("...:01Z" == "...:01.000000+00:00").

    The docs fix the instant a timestamp names, not how many fractional digits it prints; judging the text would
    cry wolf on a conforming server that renders differently from the one that provisioned the item.
    """
    if isinstance(expected, str) and isinstance(observed, str) and expected != observed:
        left, right = parse_timestamp(expected), parse_timestamp(observed)
        if left is not None and right is not None:
            return left == right
    return expected == observed


MISSING = _MISSING


def field_value(body: Any, name: str) -> Any:
    """A field of a response body, or MISSING (rendered 'absent') when the body has no such field."""
    return body.get(name, MISSING) if isinstance(body, dict) else MISSING
