"""URL paths of the work API, and the forms an ID must have before the suite lets it into a path, a ledger or a cleanup.

IDs come from the target or the hook, so they are hostile input: an answer of `../../env_x/work/work_y` spliced into
a path unencoded would send the request under test to another environment's item. Two rules keep that out:

- every path segment is percent-encoded (`urllib.parse.quote(segment, safe="")`, and `.`/`..` as `%2E`/`%2E%2E`)
  wherever a URL is built, so whatever a case sends, each value stays one segment;
- an ID the suite takes ownership of (ledger, cleanup) must match a conservative form: the documented prefix
  (`work_`, `env_`; api-reference "ID prefixes") and then 1 to 128 characters of `[A-Za-z0-9_-]`. The docs fix only
  the prefix (examples show 32 hex characters); the bounded, URL- and shell-inert character set is the suite's
  choice, wide enough for any ID scheme seen in practice and narrow enough that such an ID is the same string
  raw, percent-encoded, in a shell word and in a terminal.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from conformance.evidence import printable

WORK_ID = re.compile(r"work_[A-Za-z0-9_-]{1,128}")
ENVIRONMENT_ID = re.compile(r"env_[A-Za-z0-9_-]{1,128}")
WORK_ID_FORM = "work_ and 1 to 128 of [A-Za-z0-9_-]"
ENVIRONMENT_ID_FORM = "env_ and 1 to 128 of [A-Za-z0-9_-]"
REDACTED = "<redacted>"


def is_work_id(value: Any) -> bool:
    return isinstance(value, str) and WORK_ID.fullmatch(value) is not None


def is_environment_id(value: Any) -> bool:
    return isinstance(value, str) and ENVIRONMENT_ID.fullmatch(value) is not None


def segment(value: str) -> str:
    """`value` as exactly one path segment: every reserved byte percent-encoded, dot segments too (RFC 3986 §5.2.4
    would otherwise remove `.` and `..` and climb out of the path)."""
    encoded = quote(str(value), safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def work_path(environment_id: str, work_id: str | None = None, suffix: str = "") -> str:
    """`/environments/{environment_id}/work[/{work_id}]{suffix}`, relative to the API root, each ID one segment.

    `suffix` is the suite's own constant tail (`/stop`, `/ack`, `/poll`), never a value from the target.
    """
    path = f"/environments/{segment(environment_id)}/work"
    if work_id is not None:
        path += f"/{segment(work_id)}"
    return path + suffix


# The eight work endpoints: name (the `-m` marker and catalogue file of its requirements) -> (method, whether the
# path names an item, the suite's constant tail). The one table every request of a case is built from.
ENDPOINT_ROUTES: dict[str, tuple[str, bool, str]] = {
    "list": ("GET", False, ""),
    "poll": ("GET", False, "/poll"),
    "get": ("GET", True, ""),
    "update_metadata": ("POST", True, ""),
    "ack": ("POST", True, "/ack"),
    "heartbeat": ("POST", True, "/heartbeat"),
    "stop": ("POST", True, "/stop"),
    "stats": ("GET", False, "/stats"),
}


def endpoint_request(endpoint: str, environment_id: str, work_id: str | None = None) -> tuple[str, str]:
    """(method, path) of one endpoint for one environment (and item, for the item endpoints)."""
    method, per_item, suffix = ENDPOINT_ROUTES[endpoint]
    if per_item and work_id is None:
        raise ValueError(f"the {endpoint} endpoint needs a work ID")
    return method, work_path(environment_id, work_id if per_item else None, suffix)


def public_url(url: Any) -> str:
    """`url` fit for a message or a report: tokens hide in the userinfo, the query string and the fragment, so each
    is replaced by `<redacted>` (kept visible as such, so a reader sees that something was there); control characters
    are shown as escapes and the result is bounded. An unparsable URL is named only as such."""
    text = str(url)
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
    except ValueError:
        return "(an unparsable URL)"
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rpartition("@")[2]
    query = REDACTED if parts.query or text.endswith("?") else ""
    fragment = REDACTED if parts.fragment else ""
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    shown = printable(shown, one_line=True)
    return shown if len(shown) <= 200 else shown[:200] + "..."


def same_target(url: Any, base_url: Any) -> bool:
    """Whether `url` names the configured target `base_url`: same scheme, host, port (defaults made explicit) and
    path prefix. Cleanup sends the PAT only where this holds."""
    first, second = _normalized(url), _normalized(base_url)
    return first is not None and first == second


def _normalized(url: Any) -> tuple[str, str, int, str] | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port, parts.path.rstrip("/")
