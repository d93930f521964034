"""The requirement catalogue, loaded from `catalogue/<endpoint>.toml` (one file per endpoint of the work API).

The catalogue is data so that reviewers read requirements next to the sentences they rest on, and so that reports,
markers and the drift check all draw from one list. A requirement's ID starts with its endpoint's prefix
(`HEARTBEAT-...`), which names the file it lives in, the `-m heartbeat` marker of its cases and its group in reports.
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
CATALOGUE_DIR = PACKAGE_DIR / "catalogue"
SPEC_DIR = PACKAGE_DIR / "spec"
LEVELS = ("MUST", "SHOULD", "UNSPECIFIED")

# ID prefix -> endpoint (its catalogue file `catalogue/<endpoint>.toml` and its marker `-m <endpoint>`), in the
# order reports list them: the shared conventions, then the work pages in the docs' order.
ENDPOINTS: dict[str, str] = {
    "CONV": "conventions",
    "LIST": "list",
    "POLL": "poll",
    "GET": "get",
    "UPDATE": "update_metadata",
    "ACK": "ack",
    "HEARTBEAT": "heartbeat",
    "STOP": "stop",
    "STATS": "stats",
}


def endpoint_of(requirement_id: str) -> str:
    """The endpoint a requirement ID belongs to, from its prefix (`HEARTBEAT-TTL-CLAMP` -> `heartbeat`)."""
    prefix = requirement_id.split("-", 1)[0]
    try:
        return ENDPOINTS[prefix]
    except KeyError:
        raise ValueError(
            f"requirement id {requirement_id!r} does not start with an endpoint prefix ({', '.join(ENDPOINTS)})"
        ) from None


def catalogue_files() -> list[Path]:
    """The catalogue's files, in ENDPOINTS order (an endpoint without requirements has no file)."""
    return [path for path in (CATALOGUE_DIR / f"{name}.toml" for name in ENDPOINTS.values()) if path.is_file()]


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    page: str
    quote: str
    sha256: str
    summary: str
    source: str = ""  # a spec file under conformance/spec/ that holds the quote too (the Stop page), or ""

    @property
    def marker(self) -> str:
        """The level marker name (`must`, `should`, `unspecified`) used for `-m` selection."""
        return self.level.lower()

    @property
    def endpoint(self) -> str:
        """The endpoint marker name (`stop`, `heartbeat`, ...) used for `-m` selection and report groups."""
        return endpoint_of(self.id)


def normalize(text: str) -> str:
    """Collapse white space, so a quote matches however the page wrapped it."""
    return re.sub(r"\s+", " ", text).strip()


def quote_digest(quote: str) -> str:
    return hashlib.sha256(normalize(quote).encode("utf-8")).hexdigest()


@cache
def requirements() -> dict[str, Requirement]:
    """All requirements by ID, in catalogue order (endpoint by endpoint, each file in its own order)."""
    found: dict[str, Requirement] = {}
    for path in catalogue_files():
        for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("requirement", []):
            requirement = Requirement(**entry)
            if requirement.id in found:
                raise ValueError(f"duplicate requirement id {requirement.id} in {CATALOGUE_DIR}")
            if requirement.level not in LEVELS:
                raise ValueError(f"{requirement.id}: level must be one of {LEVELS}, not {requirement.level!r}")
            if path.stem != requirement.endpoint:
                raise ValueError(f"{requirement.id} belongs in {requirement.endpoint}.toml, not {path.name}")
            found[requirement.id] = requirement
    return found


def file_of(requirement_id: str) -> Path:
    """The catalogue file that holds (or would hold) a requirement."""
    return CATALOGUE_DIR / f"{endpoint_of(requirement_id)}.toml"


def get(requirement_id: str) -> Requirement:
    try:
        return requirements()[requirement_id]
    except KeyError:
        raise KeyError(f"unknown requirement id {requirement_id!r}; see {CATALOGUE_DIR}") from None


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
        path = file_of(requirement.id)
        if requirement.source:
            where = f"conformance/spec/{requirement.source}"
            try:
                text = normalize(spec_text(requirement.source))
            except OSError:
                problems.append(f"{requirement.id}: its source {where} cannot be read; fix `source` in {path}")
                continue
            if normalize(requirement.quote) not in text:
                problems.append(
                    f"{requirement.id}: its quote is no longer in {where} (the doc page or the quote changed). Review"
                    f" the requirement against the current text, then update its quote and sha256 in {path}."
                )
        digest = quote_digest(requirement.quote)
        if requirement.sha256 != digest:
            problems.append(
                f"{requirement.id}: stored sha256 {requirement.sha256} does not match its quote (digest {digest}):"
                f" the quote was edited without review. Check that the requirement still says what the quote says,"
                f' then set sha256 = "{digest}" in {path}.'
            )
    return problems
