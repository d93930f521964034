"""Behaviour the docs leave open, as named switches chosen at start-up (`--dialect NAME=VALUE`).

Each choice names the api-reference §12 item it answers, so the documentation table can be generated from (and
checked against) this list. The first value of each choice is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields


class DialectError(ValueError):
    """An unknown dialect name or value: a start-up error, never a runtime one."""


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple[str, ...]  # first = default
    question: str  # the open question, in one line
    meanings: tuple[str, ...]  # one per value, same order
    answers: str  # the api-reference §12 item(s)

    @property
    def default(self) -> str:
        return self.values[0]


CHOICES: tuple[Choice, ...] = (
    Choice(
        "force-on-stopped",
        ("return", "conflict"),
        'Stop with {"force": true} on an item that is already stopped',
        ("200 with the stopped item unchanged", "409 invalid_request_error"),
        "§12.1",
    ),
    Choice(
        "stop-requested-at",
        ("graceful-only", "never-direct", "always"),
        "Is stop_requested_at set on queued -> stopped (graceful) and on force stops?",
        (
            "set whenever a graceful stop is requested (including queued -> stopped); force leaves it as it was",
            "set only when the item moves to stopping",
            "set by every stop, force included (an existing value is kept)",
        ),
        "§12.2",
    ),
    Choice(
        "unknown-body-fields",
        ("ignore", "reject"),
        "Unknown fields in a stop or update-metadata body",
        ("ignored", "400 invalid_request_error naming the field"),
        "§12.4",
    ),
    Choice(
        "non-boolean-force",
        ("reject", "null-as-default"),
        'A stop body whose force is not a boolean ("true", 1, null)',
        ("400 invalid_request_error, param force", "null means false; other non-booleans 400"),
        "§12.4",
    ),
    Choice(
        "non-object-body",
        ("reject", "ignore"),
        "A stop or update-metadata body that is valid JSON but not an object ([], true, 3)",
        ("400 invalid_request_error", "treated as {}"),
        "§12.4",
    ),
    Choice(
        "content-type",
        ("sniff", "require-json"),
        "A body sent without Content-Type (or with a non-JSON one)",
        ("parsed as JSON anyway", "400 invalid_request_error (an empty body is still accepted)"),
        "§12.5",
    ),
    Choice(
        "timestamp-precision",
        ("micro", "seconds"),
        "Precision of the timestamps the server writes",
        ("microseconds (fraction omitted when zero)", "whole seconds"),
        "§8, §12.24",
    ),
    Choice(
        "extra-response-fields",
        ("off", "on"),
        "Fields the docs do not define in responses",
        ("none", 'work items also carry "secret": null (as the SDK models have)'),
        "§12.16",
    ),
    Choice(
        "error-optional-fields",
        ("omit", "null"),
        "An optional error envelope field (param, feature, available_from) that has no value",
        ("left out", "sent as null"),
        "§12.8",
    ),
    Choice(
        "response-charset",
        ("off", "on"),
        "Parameters on the media type of JSON answers",
        ("application/json", "application/json; charset=utf-8"),
        "§12.5",
    ),
    Choice(
        "utc-designator",
        ("Z", "+00:00"),
        "How a timestamp says it is in UTC",
        ("Z, as in the docs' examples", "+00:00"),
        "§8",
    ),
    Choice(
        "heartbeat-on-stopping",
        ("accept", "conflict"),
        "Heartbeat on a stopping item",
        (
            "200, state stopping, lease_extended false, latest_heartbeat_at updated",
            "409 invalid_request_error",
        ),
        "§12.18",
    ),
    # --- matrix ---
    Choice(
        "ack-retry-acknowledged-at",
        ("keep", "rewrite"),
        "A retried ack (item starting or active): what happens to acknowledged_at",
        ("kept as the first ack set it", "set to the retry's time"),
        "§12.19",
    ),
    Choice(
        "update-metadata-on-stopped",
        ("merge", "conflict"),
        "Update metadata on a stopped item (no state restriction and no 409 on the page)",
        ("merged like any other item", "409 invalid_request_error"),
        "§5.4 (not in §12)",
    ),
    # --- heartbeat ---
    Choice(
        "heartbeat-default-ttl",
        ("60", "600"),
        "The lease TTL applied when a heartbeat omits desired_ttl_seconds",
        ("60 s, as in the docs' example", "600 s, the top of the supported range"),
        "§5.6",
    ),
    Choice(
        "heartbeat-echo",
        ("exact", "instant"),
        "How an RFC 3339 expected_last_heartbeat is compared with the last heartbeat",
        (
            "the exact string the server wrote (the same instant written otherwise is 412)",
            "as an instant (any RFC 3339 writing of the last heartbeat's time matches)",
        ),
        "§5.6",
    ),
    # --- queue ---
    Choice(
        "poll-order",
        ("oldest-first", "newest-first"),
        "Which of several claimable items a poll delivers (the poll page does not say)",
        ("the oldest, in creation order (FIFO)", "the newest (LIFO)"),
        "§5.2",
    ),
    Choice(
        "reclaim-boundary",
        ("at-least", "more-than"),
        "Redelivery of an item unacknowledged for exactly reclaim_older_than_ms",
        ("redelivered: 'for at least this many milliseconds' (English page)", "held back: '超过' (zh page)"),
        "§12.12",
    ),
)

CHOICES_BY_NAME = {choice.name: choice for choice in CHOICES}


@dataclass(frozen=True)
class Dialect:
    """The resolved value of every choice; attribute = choice name with '-' -> '_'."""

    force_on_stopped: str = "return"
    stop_requested_at: str = "graceful-only"
    unknown_body_fields: str = "ignore"
    non_boolean_force: str = "reject"
    non_object_body: str = "reject"
    content_type: str = "sniff"
    timestamp_precision: str = "micro"
    extra_response_fields: str = "off"
    error_optional_fields: str = "omit"
    response_charset: str = "off"
    utc_designator: str = "Z"
    heartbeat_on_stopping: str = "accept"
    # --- matrix ---
    ack_retry_acknowledged_at: str = "keep"
    update_metadata_on_stopped: str = "merge"
    heartbeat_default_ttl: str = "60"
    heartbeat_echo: str = "exact"
    poll_order: str = "oldest-first"
    reclaim_boundary: str = "at-least"

    def as_dict(self) -> dict[str, str]:
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}


def resolve(overrides: Mapping[str, str] | None = None) -> Dialect:
    """Defaults plus `overrides`; raises DialectError listing what is allowed."""
    chosen: dict[str, str] = {}
    for name, value in (overrides or {}).items():
        choice = CHOICES_BY_NAME.get(name)
        if choice is None:
            known = ", ".join(sorted(CHOICES_BY_NAME))
            raise DialectError(f"unknown dialect {name!r}; known dialects: {known}")
        if value not in choice.values:
            raise DialectError(f"dialect {name!r} has no value {value!r}; choose one of: {', '.join(choice.values)}")
        chosen[name.replace("-", "_")] = value
    return Dialect(**chosen)


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE` from the command line."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise DialectError(f"--dialect expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _check_defaults_match() -> None:
    """The dataclass defaults and the table's first values must never drift apart."""
    defaults = Dialect().as_dict()
    table = {choice.name: choice.default for choice in CHOICES}
    if defaults != table:  # pragma: no cover - a programming error caught at import
        raise AssertionError(f"Dialect defaults {defaults} differ from CHOICES {table}")


_check_defaults_match()
