"""The requirement catalogue, loaded from `catalogue/requirements.toml`.

The catalogue is data so that reviewers read requirements next to the sentences they rest on, and so that reports,
markers and the drift check all draw from one list.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent
CATALOGUE_PATH = PACKAGE_DIR / "catalogue" / "requirements.toml"
SPEC_DIR = PACKAGE_DIR / "spec"
LEVELS = ("MUST", "SHOULD", "UNSPECIFIED")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    source: str
    page: str
    quote: str
    sha256: str
    summary: str

    @property
    def marker(self) -> str:
        """The level marker name (`must`, `should`, `unspecified`) used for `-m` selection."""
        return self.level.lower()


def normalize(text: str) -> str:
    """Collapse white space, so a quote matches however the page wrapped it."""
    return re.sub(r"\s+", " ", text).strip()


def quote_digest(quote: str) -> str:
    return hashlib.sha256(normalize(quote).encode("utf-8")).hexdigest()


@cache
def requirements() -> dict[str, Requirement]:
    """All requirements by ID, in catalogue order."""
    raw = tomllib.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    found: dict[str, Requirement] = {}
    for entry in raw["requirement"]:
        requirement = Requirement(**entry)
        if requirement.id in found:
            raise ValueError(f"duplicate requirement id {requirement.id} in {CATALOGUE_PATH}")
        if requirement.level not in LEVELS:
            raise ValueError(f"{requirement.id}: level must be one of {LEVELS}, not {requirement.level!r}")
        found[requirement.id] = requirement
    return found


def get(requirement_id: str) -> Requirement:
    try:
        return requirements()[requirement_id]
    except KeyError:
        raise KeyError(f"unknown requirement id {requirement_id!r}; see {CATALOGUE_PATH}") from None


def spec_text(source: str) -> str:
    return (SPEC_DIR / source).read_text(encoding="utf-8")


def spec_digest() -> str:
    """One digest over every spec file the catalogue rests on: certificates name the text they were tested against."""
    digest = hashlib.sha256()
    for path in sorted(SPEC_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def drift(entries: Iterable[Requirement] | None = None) -> list[str]:
    """Requirements whose quote left the spec text or whose stored hash no longer matches the quote.

    Either means a doc page or a quote changed since the requirement was last reviewed; each problem names the
    requirement and says what to do, so `pytest tests/test_catalogue.py` can fail with a useful message.
    """
    problems: list[str] = []
    for requirement in requirements().values() if entries is None else entries:
        where = f"conformance/spec/{requirement.source}"
        try:
            text = normalize(spec_text(requirement.source))
        except OSError:
            problems.append(f"{requirement.id}: its source {where} cannot be read; fix `source` in {CATALOGUE_PATH}")
            continue
        if normalize(requirement.quote) not in text:
            problems.append(
                f"{requirement.id}: its quote is no longer in {where} (the doc page or the quote changed). Review the"
                f" requirement against the current text, then update its quote and sha256 in {CATALOGUE_PATH}."
            )
        digest = quote_digest(requirement.quote)
        if requirement.sha256 != digest:
            problems.append(
                f"{requirement.id}: stored sha256 {requirement.sha256} does not match its quote (digest {digest}):"
                f" the quote was edited without review. Check that the requirement still says what the quote says,"
                f' then set sha256 = "{digest}" in {CATALOGUE_PATH}.'
            )
    return problems
