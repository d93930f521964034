"""Evidence: every HTTP exchange of a case, captured with secrets already replaced by variable references.

Redaction happens at capture time, so nothing downstream (reports, repro scripts, JUnit) ever holds a token. A
secret value is replaced by `${VARIABLE}` wherever it appears, which keeps repro scripts runnable once the variable
is exported, unlike a masked placeholder.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields

# Roles of a request within a case.
SETUP = "setup"  # provisioning the item(s) the case needs
UNDER_TEST = "under_test"  # the request whose answer the case judges; never retried
READ_BACK = "read_back"  # a follow-up read that checks what the request under test did
CLEANUP = "cleanup"

BODY_LIMIT = 16 * 1024  # characters of a body kept in evidence
# Below this many base64 characters, a fragment of a token's base64 at an arbitrary offset could match unrelated
# text by chance, so embedded forms of very short tokens are not searched (exact forms still are).
EMBEDDED_MINIMUM = 16
# JSON nesting deeper than this is refused before decoding: a Work item or an error envelope is a few levels deep,
# and json.loads recurses once per level (20,000 levels exhaust the stack with RecursionError).
MAX_JSON_DEPTH = 64


class Secret:
    """A token held so that no rendering of it (repr, str, f-string, pytest's `-l` locals, a traceback) shows it.

    Only `reveal()` gives the value, and it is called where the Authorization header is built and where the
    redactor and the canary learn what to look for.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<redacted>')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


def reveal(value: Secret | str | None) -> str | None:
    """The plain text of a token given either way (callers may hold a Secret or, in tests, a str)."""
    return value.reveal() if isinstance(value, Secret) else value


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

    def __init__(self, secrets: Mapping[str, Secret | str | None]) -> None:
        pairs: list[tuple[str, str]] = []
        for name, given in secrets.items():
            value = reveal(given)
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

    def value(self, value: object) -> object:
        """Any plain data (str, list, dict, as decoded from JSON) with every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(str(key)): self.value(item) for key, item in value.items()}
        return value

    def __repr__(self) -> str:
        return f"Redactor({len(self._references)} forms)"

    def for_terminal(self, text: str) -> str:
        """Text of target origin as it may reach a terminal: secrets replaced, then control bytes escaped."""
        return printable(self.text(text))


# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides/isolates that reorder what a
# reader sees: an ANSI/OSC escape from a server could otherwise recolour, retitle or rewrite the user's terminal.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same and newline and tab: for a value quoted inside one line of a message.
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\u202e`); newline and tab are kept,
    unless `one_line` (a value quoted inside one message line) escapes them too."""
    return (_LINE_CONTROLS if one_line else _CONTROLS).sub(_escape, text)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    if match.group() in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[match.group()]
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_depth_exceeds(content: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `content`, read as JSON, nests arrays/objects deeper than `limit` (brackets in strings ignored).

    Checked before any decoder sees the body; linear in its size, and most bodies have fewer brackets than the
    limit, which answers at once.
    """
    if content.count(b"[") + content.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(content):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def named_encodings(secret: str) -> dict[str, str]:
    """The one table of the forms a token takes in artifacts, by a name that says which; both the Redactor and the
    secret canary use it, so what one replaces the other finds (the canary reports the name, never the form).

    Raw, `Bearer <token>`, base64 (standard and URL-safe, padded and not, also as Basic `user:token`), base64 of
    the token embedded at any offset of a larger base64 blob (all three alignments), URL-encoded, and the JSON and
    HTML escapes of the token when they differ from it.
    """
    raw = secret.encode("utf-8")
    forms: dict[str, str] = {"raw": secret, "Bearer": f"Bearer {secret}"}
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
    forms["JSON-escaped"] = json.dumps(secret)[1:-1]
    forms["HTML-escaped"] = html.escape(secret)
    for offset, fragment in enumerate(_embedded_base64(raw)):
        forms[f"base64 (embedded, alignment {offset})"] = fragment
        forms[f"base64 (embedded, alignment {offset}, URL-safe)"] = fragment.translate(str.maketrans("+/", "-_"))
    unique: dict[str, str] = {}
    for label, form in forms.items():
        if form and form not in unique.values():
            unique[label] = form
    return unique


def _embedded_base64(raw: bytes) -> Iterator[str]:
    """The base64 characters that depend only on the token's bytes, for each of the three possible alignments of
    the token inside a longer base64 text (e.g. an encoded JSON blob that holds it)."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first_group = -(-offset // 3)  # the first 3-byte group that holds no prefix byte
        last_group = (offset + len(raw)) // 3  # groups after this one hold bytes that follow the token
        stable = encoded[4 * first_group : 4 * last_group]
        if len(stable) >= EMBEDDED_MINIMUM:
            yield stable


def encodings(secret: str) -> list[str]:
    """The forms the Redactor replaces: the table's, but a form that contains the raw token (`Bearer <token>`) is
    left to the raw form, so `Bearer ${QODER_PAT}` stays a runnable header in repro scripts."""
    return sorted({form for form in named_encodings(secret).values() if form == secret or secret not in form})


def body_text(content: bytes | None) -> str | None:
    """Bodies as text for evidence; invalid UTF-8 is kept visible as escapes, long bodies are cut with a note."""
    if content is None:
        return None
    text = content.decode("utf-8", errors="backslashreplace")
    if len(text) > BODY_LIMIT:
        return text[:BODY_LIMIT] + f"... [{len(text) - BODY_LIMIT} more characters cut]"
    return text
