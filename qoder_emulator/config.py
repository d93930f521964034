"""Who exists in the emulator: principals (with their PATs), environments and agents.

Read from a TOML file or a dict of the same shape, or the built-in defaults fixed in docs/internals.md. Errors
name the source and the problem, because the command line shows them to a person instead of a traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SELF_HOSTED = "self_hosted"
CLOUD = "cloud"
ENVIRONMENT_TYPES = (SELF_HOSTED, CLOUD)
_ID_PATTERN = {"environment": re.compile(r"^env_[A-Za-z0-9]+$"), "agent": re.compile(r"^agent_[A-Za-z0-9]+$")}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the source and the problem."""


@dataclass(frozen=True)
class Principal:
    name: str
    tokens: tuple[str, ...]
    expired_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    id: str
    type: str
    owner: str  # principal name

    @property
    def self_hosted(self) -> bool:
        return self.type == SELF_HOSTED


@dataclass(frozen=True)
class Agent:
    id: str


@dataclass(frozen=True)
class EmulatorConfig:
    principals: tuple[Principal, ...]
    environments: tuple[Environment, ...]
    agents: tuple[Agent, ...]

    def environment(self, environment_id: str) -> Environment | None:
        return next((e for e in self.environments if e.id == environment_id), None)

    def token_owner(self, token: str) -> tuple[Principal, bool] | None:
        """(principal, expired) for a known token, None for an unknown one."""
        for principal in self.principals:
            if token in principal.tokens:
                return principal, False
            if token in principal.expired_tokens:
                return principal, True
        return None

    def settings(self, base_url: str, hook_url: str) -> dict[str, str]:
        """The QODER_* variables that point the conformance suite at this emulator.

        A variable is left out when this configuration cannot supply it (the suite then reports "not verified").
        """
        primary = self.principals[0]
        own = [e for e in self.environments if e.owner == primary.name]
        own_self_hosted = [e for e in own if e.self_hosted]
        own_cloud = [e for e in own if not e.self_hosted]
        values: dict[str, str | None] = {
            "QODER_BASE_URL": base_url,
            "QODER_PAT": primary.tokens[0] if primary.tokens else None,
            "QODER_ENVIRONMENT_ID": own_self_hosted[0].id if own_self_hosted else None,
            "QODER_CLOUD_ENVIRONMENT_ID": own_cloud[0].id if own_cloud else None,
            "QODER_OTHER_ENVIRONMENT_ID": own_self_hosted[1].id if len(own_self_hosted) > 1 else None,
            "QODER_FORBIDDEN_PAT": next((p.tokens[0] for p in self.principals[1:] if p.tokens), None),
            "QODER_EXPIRED_PAT": primary.expired_tokens[0] if primary.expired_tokens else None,
            "QODER_PROVISIONER": "hook",
            "QODER_HOOK_URL": hook_url,
            "QODER_AGENT_ID": self.agents[0].id if self.agents else None,
        }
        return {name: value for name, value in values.items() if value is not None}


DEFAULT_CONFIG: dict[str, Any] = {
    "principal": [
        {"name": "primary", "tokens": ["pt-emulator-primary"], "expired_tokens": ["pt-emulator-expired"]},
        {"name": "other", "tokens": ["pt-emulator-other"]},
    ],
    "environment": [
        {"id": "env_00000000000000000000000000000001", "type": SELF_HOSTED, "owner": "primary"},
        {"id": "env_00000000000000000000000000000002", "type": SELF_HOSTED, "owner": "primary"},
        {"id": "env_000000000000000000000000000000c1", "type": CLOUD, "owner": "primary"},
        {"id": "env_00000000000000000000000000000101", "type": SELF_HOSTED, "owner": "other"},
    ],
    "agent": [{"id": "agent_00000000000000000000000000000001"}],
}


def load(source: str | Path | Mapping[str, Any] | EmulatorConfig | None) -> EmulatorConfig:
    """A path to a TOML file, a dict of the same shape, a loaded config, or None for the built-in defaults."""
    if isinstance(source, EmulatorConfig):
        return source
    if source is None:
        return _build(DEFAULT_CONFIG, "built-in defaults")
    if isinstance(source, Mapping):
        return _build(source, "config dict")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    return loads(text, str(path))


def loads(text: str, where: str) -> EmulatorConfig:
    """The config from TOML text; `where` names its origin in error messages (a path, or standard input)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    return _build(raw, where)


def _build(raw: Mapping[str, Any], where: str) -> EmulatorConfig:
    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem}")

    unknown = set(raw) - {"principal", "environment", "agent"}
    if unknown:
        raise fail(f"unknown section(s) {sorted(unknown)}; expected [[principal]], [[environment]], [[agent]]")

    def tables(key: str) -> list[Mapping[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
            raise fail(f"'{key}' must be an array of tables ([[{key}]])")
        return value

    def strings(table: Mapping[str, Any], key: str, label: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{label}: '{key}' must be a list of non-empty strings")
        return tuple(value)

    def text(table: Mapping[str, Any], key: str, label: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise fail(f"{label}: '{key}' is required and must be a non-empty string")
        return value

    def only(table: Mapping[str, Any], allowed: set[str], label: str) -> None:
        extra = set(table) - allowed
        if extra:
            raise fail(f"{label}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")

    principals: list[Principal] = []
    for index, table in enumerate(tables("principal")):
        label = f"principal #{index + 1}"
        only(table, {"name", "tokens", "expired_tokens"}, label)
        principals.append(
            Principal(
                text(table, "name", label), strings(table, "tokens", label), strings(table, "expired_tokens", label)
            )
        )
    if not principals:
        raise fail("at least one [[principal]] is required")
    names = [p.name for p in principals]
    if len(set(names)) != len(names):
        raise fail(f"principal names must be unique: {names}")
    all_tokens = [t for p in principals for t in (*p.tokens, *p.expired_tokens)]
    if len(set(all_tokens)) != len(all_tokens):
        raise fail("a token is listed more than once (tokens must be unique across principals)")

    environments: list[Environment] = []
    for index, table in enumerate(tables("environment")):
        label = f"environment #{index + 1}"
        only(table, {"id", "type", "owner"}, label)
        environment_id = text(table, "id", label)
        if not _ID_PATTERN["environment"].match(environment_id):
            raise fail(f"{label}: id {environment_id!r} must look like env_<letters/digits>")
        kind = table.get("type", SELF_HOSTED)
        if kind not in ENVIRONMENT_TYPES:
            raise fail(f"{label}: type must be one of {list(ENVIRONMENT_TYPES)}, got {kind!r}")
        owner = text(table, "owner", label)
        if owner not in names:
            raise fail(f"{label}: owner {owner!r} is not a principal name ({names})")
        environments.append(Environment(environment_id, kind, owner))
    ids = [e.id for e in environments]
    if len(set(ids)) != len(ids):
        raise fail(f"environment ids must be unique: {ids}")

    agents: list[Agent] = []
    for index, table in enumerate(tables("agent")):
        label = f"agent #{index + 1}"
        only(table, {"id"}, label)
        agent_id = text(table, "id", label)
        if not _ID_PATTERN["agent"].match(agent_id):
            raise fail(f"{label}: id {agent_id!r} must look like agent_<letters/digits>")
        agents.append(Agent(agent_id))

    return EmulatorConfig(tuple(principals), tuple(environments), tuple(agents))
