"""Plumbing for deliberate deviations (`--fault NAME`): a registry of named misimplementations.

A fault replaces one *seam*: a function the emulator looks up once at start-up (the stop operation, the item
lookup, the token reader, ...). The replacement is an ordinary, plausible-but-wrong implementation written in
misimplementations.py, so the faulty server fails the way a real one would, not because a flag breaks its output.

Adding a fault: write the wrong function in misimplementations.py and decorate it with
`@fault("name", "one-line description", seam="...", violates=("REQ-ID", ...))`. If it needs a seam that does not
exist yet, add the seam to SEAMS and look it up with `overrides.pick(...)` at the place the real function is called.

`violates` names the requirement(s) of the conformance catalogue the deviation breaks; `consequences` names those
whose own checks may also fail because of it (a 400 where a stop was due also leaves the transition row unmet).
They are plain strings (the emulator never imports the suite): the meta-test (tests/test_meta_faults.py) runs the
suite against each fault and requires every `violates` ID among the failed requirements and nothing failed outside
`violates` + `consequences`; docs/fault-table.md is generated from this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Every place a fault may plug in, and the signature a replacement must have.
SEAMS: dict[str, str] = {
    "machine.stop": "(item, *, force, now, force_on_stopped, stop_requested_at) -> WorkItem",
    "machine.ack": "(item, *, now, worker_id, delivered_to) -> WorkItem",
    "machine.heartbeat": "(item, *, now, expected_last_heartbeat, desired_ttl_seconds, on_stopping) -> (item, outcome)",
    "machine.update_metadata": "(item, patch) -> WorkItem",
    "machine.to_json": "(item) -> dict",
    "store.find_item": "(items, environment_id, work_id) -> WorkItem | None",
    "store.commit_stop": "(items, new_item) -> None",
    "store.authenticate": "(config, token) -> Principal",
    "store.environment_for": "(config, principal, environment_id, *, self_hosted) -> Environment",
    "app.stop_force": "(body: dict, dialect) -> bool",
    "app.bearer_token": "(headers) -> str | None",
    "app.parse_json_body": "(raw: bytes, content_type, dialect) -> Any",
    "app.stop_item": "async (work_store, environment_id, work_id, *, force) -> WorkItem",
    "app.stop_response": "(body: dict) -> Response",
    "app.error_status": "(error) -> (status, error_type)",
    "app.error_response": "(status, error_type, message, param) -> Response",
}


class FaultError(ValueError):
    """An unknown fault name, or two faults fighting over one seam: a start-up error."""


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    seam: str
    replacement: Callable[..., Any]
    violates: tuple[str, ...] = ()  # requirement IDs of the conformance catalogue this deviation breaks
    consequences: tuple[str, ...] = ()  # requirement IDs whose own checks may fail as a consequence


_REGISTRY: dict[str, Fault] = {}


def fault(
    name: str, description: str, *, seam: str, violates: Iterable[str], consequences: Iterable[str] = ()
) -> Callable[[F], F]:
    """Register the decorated function as the replacement for `seam` when fault `name` is on."""
    if seam not in SEAMS:
        raise ValueError(f"fault {name!r}: unknown seam {seam!r}")
    violated = tuple(violates)
    if not violated:
        raise ValueError(f"fault {name!r}: name the requirement(s) it violates")

    def register(function: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"fault {name!r} registered twice")
        _REGISTRY[name] = Fault(name, description, seam, function, violated, tuple(consequences))
        return function

    return register


def known_faults() -> dict[str, Fault]:
    from qoder_emulator import misimplementations  # noqa: F401  (registers the faults on import)

    return dict(sorted(_REGISTRY.items()))


class Overrides:
    """The replacements in force for one emulator instance."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults = tuple(faults)
        self._by_seam = {f.seam: f.replacement for f in self.faults}

    def pick(self, seam: str, default: F) -> F:
        if seam not in SEAMS:
            raise KeyError(seam)
        return self._by_seam.get(seam, default)  # type: ignore[return-value]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.faults)


def resolve(names: Iterable[str] = ()) -> Overrides:
    registry = known_faults()
    chosen: list[Fault] = []
    seams: dict[str, str] = {}
    for name in names:
        if name not in registry:
            raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(registry)}")
        chosen_fault = registry[name]
        if chosen_fault.seam in seams and seams[chosen_fault.seam] != name:
            raise FaultError(
                f"faults {seams[chosen_fault.seam]!r} and {name!r} both replace {chosen_fault.seam}; pick one"
            )
        if name not in seams.values():
            seams[chosen_fault.seam] = name
            chosen.append(chosen_fault)
    return Overrides(chosen)


def describe() -> str:
    """The `--list-faults` text."""
    return "\n".join(
        f"{f.name:32} {f.description}\n{'':32} violates: {', '.join(f.violates)}" for f in known_faults().values()
    )
