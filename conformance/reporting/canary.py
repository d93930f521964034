"""The secret canary: proves that no token left the process, by looking for it in everything a run wrote.

Redaction happens at capture time (`evidence.Redactor`); the canary is the independent second line. It searches
bytes, so it also finds a token inside binary or oddly encoded files, in every form of `evidence.named_encodings`
(the one table the Redactor uses too), including base64 of the token embedded at any byte offset in a longer
base64 text (e.g. an encoded JSON blob).
A hit names the file, the variable and the form, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.evidence import EMBEDDED_MINIMUM, Secret, named_encodings, reveal

__all__ = ["EMBEDDED_MINIMUM", "CanaryHit", "forms", "remove", "scan", "scan_text"]


@dataclass(frozen=True)
class CanaryHit:
    path: str  # the file (or "<terminal output>") the secret was found in
    variable: str  # e.g. QODER_PAT; never the value
    form: str  # e.g. "raw", "base64", "URL-encoded"
    removed: bool = False

    def line(self) -> str:
        outcome = "; the file was removed" if self.removed else ""
        return f"secret canary: {self.variable} ({self.form}) found in {self.path}{outcome}"


def forms(secret: str) -> dict[bytes, str]:
    """Every byte pattern that betrays `secret`, mapped to the name of its form: the Redactor's own table."""
    return {form.encode("utf-8"): label for label, form in named_encodings(secret).items()}


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(candidate for candidate in path.rglob("*") if candidate.is_file())
        elif path.is_file():
            yield path


def _search(data: bytes, where: str, secrets: Mapping[str, Secret | str | None]) -> list[CanaryHit]:
    hits = []
    for variable, given in secrets.items():
        value = reveal(given)
        if not value:
            continue
        for pattern, label in forms(value).items():
            if pattern in data:
                hits.append(CanaryHit(where, variable, label))
                break  # one hit per variable and file is enough to act on
    return hits


def scan(paths: Iterable[Path | str], secrets: Mapping[str, Secret | str | None]) -> list[CanaryHit]:
    """Search every file under `paths` (folders recursively) for every secret; files are left as they are."""
    hits: list[CanaryHit] = []
    for path in _files(paths):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed meanwhile (a temporary file of an atomic write): nothing left to leak
        hits.extend(_search(data, str(path), secrets))
    return hits


def scan_text(
    text: str, secrets: Mapping[str, Secret | str | None], where: str = "<terminal output>"
) -> list[CanaryHit]:
    """The same search over captured text, e.g. the terminal output of a run."""
    return _search(text.encode("utf-8", errors="surrogateescape"), where, secrets)


def remove(hits: list[CanaryHit]) -> list[CanaryHit]:
    """Delete each offending file: a leaked artifact must not be left behind for an upload step to publish."""
    removed = []
    for hit in hits:
        path = Path(hit.path)
        try:
            path.unlink()
            gone = True
        except FileNotFoundError:
            gone = True  # another hit of the same file removed it already
        except OSError:
            gone = False
        removed.append(CanaryHit(hit.path, hit.variable, hit.form, removed=gone))
    return removed
