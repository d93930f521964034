"""The secret canary: proves that no token left the process, by looking for it in everything a run wrote.

Redaction happens at capture time (`evidence.Redactor`); the canary is the independent second line. It searches
bytes, so it also finds a token inside binary or oddly encoded files, in every form `evidence.named_encodings`
knows, plus base64 of the token embedded at any byte offset in a longer base64 text (e.g. an encoded JSON blob).
A hit names the file, the variable and the form, never the value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.evidence import named_encodings

# Below this many base64 characters, an embedded fragment could match unrelated text by chance.
EMBEDDED_MINIMUM = 16


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
    """Every byte pattern that betrays `secret`, mapped to the name of its form (first name wins)."""
    found: dict[bytes, str] = {}
    for label, form in named_encodings(secret).items():
        found.setdefault(form.encode("utf-8"), label)
    for pattern in _embedded_base64(secret.encode("utf-8")):
        found.setdefault(pattern, "base64 (embedded)")
        found.setdefault(pattern.translate(bytes.maketrans(b"+/", b"-_")), "base64 (embedded, URL-safe)")
    return found


def _embedded_base64(raw: bytes) -> Iterator[bytes]:
    """The base64 characters that depend only on the token's bytes, for each of the three possible alignments."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first_group = -(-offset // 3)  # the first 3-byte group that holds no prefix byte
        last_group = (offset + len(raw)) // 3  # groups after this one hold bytes that follow the token
        stable = encoded[4 * first_group : 4 * last_group]
        if len(stable) >= EMBEDDED_MINIMUM:
            yield stable


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(candidate for candidate in path.rglob("*") if candidate.is_file())
        elif path.is_file():
            yield path


def _search(data: bytes, where: str, secrets: Mapping[str, str | None]) -> list[CanaryHit]:
    hits = []
    for variable, value in secrets.items():
        if not value:
            continue
        for pattern, label in forms(value).items():
            if pattern in data:
                hits.append(CanaryHit(where, variable, label))
                break  # one hit per variable and file is enough to act on
    return hits


def scan(paths: Iterable[Path | str], secrets: Mapping[str, str | None]) -> list[CanaryHit]:
    """Search every file under `paths` (folders recursively) for every secret; files are left as they are."""
    hits: list[CanaryHit] = []
    for path in _files(paths):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed meanwhile (a temporary file of an atomic write): nothing left to leak
        hits.extend(_search(data, str(path), secrets))
    return hits


def scan_text(text: str, secrets: Mapping[str, str | None], where: str = "<terminal output>") -> list[CanaryHit]:
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
