"""Evidence: every HTTP exchange of a case, captured with secrets already replaced by variable references.

Redaction happens at capture time, so nothing downstream (reports, repro scripts, JUnit) ever holds a token. A
secret value is replaced by `${VARIABLE}` wherever it appears, which keeps repro scripts runnable once the variable
is exported, unlike a masked placeholder.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

# Roles of a request within a case.
SETUP = "setup"  # provisioning the item(s) the case needs
UNDER_TEST = "under_test"  # the request whose answer the case judges; never retried
READ_BACK = "read_back"  # a follow-up read that checks what the request under test did
CLEANUP = "cleanup"

BODY_LIMIT = 16 * 1024  # characters of a body kept in evidence


@dataclass
class Exchange:
    role: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None  # None: no body was sent
    request_body_base64: str | None = None  # the exact bytes, when they are not valid UTF-8 (for repro scripts)
    status: int | None = None  # None: no response (transport error)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    duration_ms: float = 0.0
    error: str | None = None  # transport error, if any
    started_at: float = 0.0  # time.monotonic() at send, for concurrency histories
    finished_at: float = 0.0

    def to_dict(self) -> dict:
        """Plain data for reports and xdist. Field by field: dataclasses.asdict deep-copies every value, which
        cost a tenth of a whole run's time across its thousand exchanges."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        return data

    def summary(self) -> str:
        """One line: `POST https://.../stop -> 200 (12 ms)`."""
        outcome = self.error or str(self.status)
        return f"{self.method} {self.url} -> {outcome} ({self.duration_ms:.0f} ms)"


class Redactor:
    """Replaces each configured secret, and its common encodings, with a `${NAME}` reference."""

    def __init__(self, secrets: Mapping[str, str | None]) -> None:
        pairs: list[tuple[str, str]] = []
        for name, value in secrets.items():
            if not value:
                continue
            for encoded in encodings(value):
                pairs.append((encoded, "${" + name + "}"))
        # One pass of one pattern, longest alternative first, so an encoding that contains another is replaced
        # whole. (A loop of str.replace per encoding was a tenth of a run's time: every header of every exchange.)
        self._references = dict(sorted(set(pairs), key=lambda pair: -len(pair[0])))
        alternatives = "|".join(re.escape(secret) for secret in self._references)
        self._pattern = re.compile(alternatives) if alternatives else None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda match: self._references[match.group()], value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {name: self.text(value) for name, value in headers}


def named_encodings(secret: str) -> dict[str, str]:
    """Each form a token takes in artifacts, by a name that says which (the canary reports the name, never the form).

    Raw, base64 (standard and URL-safe, padded and not, also as Basic `user:token`), URL-encoded. `Bearer <token>`
    contains the raw form, so finding the raw form covers it.
    """
    raw = secret.encode("utf-8")
    forms: dict[str, str] = {"raw": secret}
    for user in (None, "", "x", "token"):
        data = raw if user is None else f"{user}:{secret}".encode()
        label = "base64" if user is None else f"base64 of '{user}:token'"
        standard, urlsafe = base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()
        forms[label] = standard
        forms[f"{label} (unpadded)"] = standard.rstrip("=")
        forms[f"{label} (URL-safe)"] = urlsafe
        forms[f"{label} (URL-safe, unpadded)"] = urlsafe.rstrip("=")
    forms["URL-encoded"] = urllib.parse.quote(secret, safe="")
    forms["URL-encoded (form)"] = urllib.parse.quote_plus(secret)
    return {label: form for label, form in forms.items() if form}


def encodings(secret: str) -> list[str]:
    """The forms a token takes in artifacts: raw, base64 (also as Basic user:token), URL-encoded."""
    return sorted(set(named_encodings(secret).values()))


def body_text(content: bytes | None) -> str | None:
    """Bodies as text for evidence; invalid UTF-8 is kept visible as escapes, long bodies are cut with a note."""
    if content is None:
        return None
    text = content.decode("utf-8", errors="backslashreplace")
    if len(text) > BODY_LIMIT:
        return text[:BODY_LIMIT] + f"... [{len(text) - BODY_LIMIT} more characters cut]"
    return text
