"""Settings of a run: pytest option > environment variable > config file > default, validated before any test.

Every variable of the public interface (and the suite's own tuning variables) is declared once in `VARIABLES`; the
pytest option (`--qoder-base-url`), the config-file key (`base_url`) and the environment variable (`QODER_BASE_URL`)
are all derived from that one declaration, so the three sources can never disagree about what exists.

The config file is TOML with the keys at the top level (no `[qoder]` table), e.g.::

    base_url = "https://api.qoder.com"
    environment_id = "env_..."
    provisioner = "hook"
    hook_url = "https://setup.example.com/hook"

It is `--qoder-config PATH`, else `QODER_CONFIG`, else `qoder-conformance.toml` in the rootdir if it exists. An
empty environment variable counts as unset (so `QODER_EXPIRED_PAT=` means "not configured").

Tokens are never shown: messages say "QODER_PAT is set but ...", never the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import secrets as random_tokens
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.errors import ConfigurationError
from conformance.evidence import Secret
from conformance.paths import public_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE_NAME = "qoder-conformance.toml"
CONFIG_VARIABLE = "QODER_CONFIG"
PROVISIONERS = ("hook", "lifecycle")
EMBEDDED = "embedded"
API_PREFIX = "/api/v1/cloud"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variable:
    """One setting: its QODER_* name, the Settings field it fills, and how its text is read."""

    name: str
    field: str
    kind: str  # "text", "secret", "env_id", "bool", "positive", "rate", "count", "path"
    option: str = ""  # the pytest option; derived from the name unless given
    embedded_default: Any = None
    remote_default: Any = None
    maximum: float | None = None  # numbers above it are absurd (a typo, or a unit mix-up) and refused
    minimum: float | None = None  # for numbers whose "positive" is not enough (a 10-byte response cap)
    meaning: str = ""  # what it is, for --help (the default is added from the *_default fields)
    loopback_default: Any = None  # a remote target on 127.0.0.0/8, ::1 or localhost; None: as remote_default

    @property
    def key(self) -> str:
        """The config-file key: the variable name lowercased without the QODER_ prefix."""
        return self.name.removeprefix("QODER_").lower()

    @property
    def flag(self) -> str:
        return self.option or "--qoder-" + self.key.replace("_", "-")

    @property
    def dest(self) -> str:
        """The argparse destination pytest stores the option under."""
        return self.flag.lstrip("-").replace("-", "_")

    def default_for(self, *, remote: bool, loopback: bool = False) -> Any:
        """The default for a run against the embedded emulator, a remote target, or a remote target on loopback."""
        if remote and loopback and self.loopback_default is not None:
            return self.loopback_default
        return self.remote_default if remote else self.embedded_default

    def default_text(self) -> str:
        """The defaults as --help states them: one value, or one per kind of target where they differ."""
        if self.embedded_default is None:
            return "not set"
        loopback = self.remote_default if self.loopback_default is None else self.loopback_default
        by_value: dict[str, list[str]] = {}
        for value, where in (
            (self.embedded_default, "the embedded emulator"),
            (loopback, "a loopback target"),
            (self.remote_default, "a remote target"),
        ):
            by_value.setdefault(_shown(value), []).append(where)
        if len(by_value) == 1:
            return next(iter(by_value))
        return ", ".join(f"{value} for {' and '.join(where)}" for value, where in by_value.items())


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


LOOPBACK_NAMES = ("localhost",)


def is_loopback_origin(base_url: str | None) -> bool:
    """True for an http(s) origin on 127.0.0.0/8, ::1 or localhost: a server on this machine."""
    import ipaddress

    host = urllib.parse.urlsplit(base_url or "").hostname or ""
    if host.lower().rstrip(".") in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "QODER_BASE_URL",
        "base_url",
        "text",
        meaning="origin of the API under test, e.g. https://api.qoder.com (the suite appends /api/v1/cloud/...); "
        "unset: the bundled emulator is started and tested",
    ),
    Variable("QODER_PAT", "pat", "secret", meaning="PAT authorized for QODER_ENVIRONMENT_ID"),
    Variable("QODER_ENVIRONMENT_ID", "environment_id", "env_id", meaning="a self_hosted environment (env_...)"),
    Variable(
        "QODER_CLOUD_ENVIRONMENT_ID",
        "cloud_environment_id",
        "env_id",
        meaning="an existing environment that is NOT self_hosted (the 400 case); unset: that case is not verified",
    ),
    Variable(
        "QODER_OTHER_ENVIRONMENT_ID",
        "other_environment_id",
        "env_id",
        meaning=(
            "a second self_hosted environment the PAT may use (the 404 case; the poll and stats cases queue their"
            " items there, away from the other cases' items); unset: the 404 case is not verified"
        ),
    ),
    Variable(
        "QODER_FORBIDDEN_PAT",
        "forbidden_pat",
        "secret",
        meaning="a valid PAT of another principal, not authorized for QODER_ENVIRONMENT_ID (the 403 case); "
        "unset: not verified",
    ),
    Variable(
        "QODER_EXPIRED_PAT", "expired_pat", "secret", meaning="an expired PAT (the 401 case); unset: not verified"
    ),
    Variable(
        "QODER_PROVISIONER",
        "provisioner",
        "text",
        meaning="how cases get items in a given state: hook or lifecycle (unset: hook if QODER_HOOK_URL is set, "
        "lifecycle if QODER_AGENT_ID is)",
    ),
    Variable("QODER_HOOK_URL", "hook_url", "text", meaning="URL of the state-setup hook (provisioner hook)"),
    Variable("QODER_AGENT_ID", "agent_id", "text", meaning="agent used to create sessions (provisioner lifecycle)"),
    # --qoder-strict, a flag without a value (pytest's own --strict means something else).
    Variable(
        "QODER_STRICT",
        "strict",
        "bool",
        embedded_default=False,
        remote_default=False,
        meaning="SHOULD deviations fail the run too",
    ),
    Variable(
        "QODER_REPORTS_DIR",
        "reports_dir",
        "path",
        option="--reports-dir",
        embedded_default="reports",
        remote_default="reports",
        meaning="folder for every report of the run (relative to the working directory)",
    ),
    # The total deadline of one request: connect + send + the whole response (not per read).
    Variable(
        "QODER_TIMEOUT",
        "timeout_s",
        "positive",
        embedded_default=10.0,
        remote_default=10.0,
        maximum=3600,
        meaning="total deadline of one request in seconds: connect, send and the whole response",
    ),
    # Client-side rate limits (requests per second, 0 = off). Remote defaults are the docs' suggested client
    # baselines (api-reference §1: "GET <= 50 rps, writes <= 20 rps"); the embedded emulator needs none, and neither
    # does a target on this machine (loopback): it is a local server under test, not the shared service.
    Variable(
        "QODER_WRITE_RATE",
        "write_rate",
        "rate",
        embedded_default=0.0,
        remote_default=20.0,
        loopback_default=0.0,
        maximum=1e5,
        meaning="client-side limit on POST requests per second, 0 = off",
    ),
    Variable(
        "QODER_READ_RATE",
        "read_rate",
        "rate",
        embedded_default=0.0,
        remote_default=50.0,
        loopback_default=0.0,
        maximum=1e5,
        meaning="client-side limit on GET requests per second, 0 = off",
    ),
    Variable(
        "QODER_CONCURRENCY",
        "concurrency",
        "count",
        embedded_default=8,
        remote_default=4,
        maximum=1024,
        meaning="parallel requests in the concurrency cases",
    ),
    Variable(
        "QODER_ROUNDS",
        "rounds",
        "count",
        embedded_default=5,
        remote_default=2,
        maximum=10_000,
        meaning="repetitions of each concurrency case",
    ),
    # The model-based cases' budget (test_stop_model.py): examples per start state, steps per example, and fresh
    # random sequences on each run instead of the fixed ones.
    Variable(
        "QODER_MODEL_EXAMPLES",
        "model_examples",
        "count",
        embedded_default=20,
        remote_default=20,
        maximum=1e5,
        meaning="model-based cases: examples per start state",
    ),
    Variable(
        "QODER_MODEL_STEPS",
        "model_steps",
        "count",
        embedded_default=8,
        remote_default=8,
        maximum=10_000,
        meaning="model-based cases: steps per example",
    ),
    Variable(
        "QODER_MODEL_RANDOM",
        "model_random",
        "bool",
        embedded_default=False,
        remote_default=False,
        meaning="model-based cases: fresh random sequences on each run instead of the fixed ones",
    ),
    # The cap on one response body, in bytes (a Work item is well under a kilobyte; the cap bounds memory).
    Variable(
        "QODER_MAX_RESPONSE_BYTES",
        "max_response_bytes",
        "count",
        embedded_default=4 * 1024 * 1024,
        remote_default=4 * 1024 * 1024,
        minimum=1024,
        maximum=1024**3,
        meaning="cap on one response body in bytes; a larger or endless body is an error, never read into memory",
    ),
)
# How the suite runs rather than what it targets: these may be set with or without a target.
RUN_FIELDS = (
    "strict", "reports_dir", "timeout_s", "write_rate", "read_rate", "concurrency", "rounds",
    "model_examples", "model_steps", "model_random", "max_response_bytes",
)  # fmt: skip
BY_FIELD = {variable.field: variable for variable in VARIABLES}
BY_KEY = {variable.key: variable for variable in VARIABLES}
SECRET_VARIABLES = tuple(v.name for v in VARIABLES if v.kind == "secret")
# QODER_* variables of Qoder's other tools and of this repository's own tooling: never taken for misspellings of
# ours (the SDKs read QODER_MANAGED_BASE_URL and QODER_ACCESS_TOKEN; repro scripts read QODER_REPRO_TARGET).
OTHER_TOOLS_VARIABLES = frozenset(
    {
        "QODER_MANAGED_BASE_URL",
        "QODER_ACCESS_TOKEN",
        "QODER_REPRO_TARGET",
        "QODER_META_RESULTS",
        "QODER_META_TIMEOUT_S",
        "QODER_BENCH_RECORD_DIR",
    }
)
MISSPELLING_CUTOFF = 0.85  # difflib ratio: QODER_EXPIRED_PATT ~ 0.97, QODER_MANAGED_BASE_URL vs ours ~ 0.78
# The hook URL's userinfo password and query values of at least this length are treated as secrets.
URL_SECRET_MINIMUM = 8
HOOK_URL_SECRET = "QODER_HOOK_URL_SECRET"


def new_run_id() -> str:
    return random_tokens.token_hex(4)


@dataclass(frozen=True)
class Settings:
    base_url: str | None = None
    pat: Secret | None = field(default=None, repr=False)
    environment_id: str | None = None
    cloud_environment_id: str | None = None
    other_environment_id: str | None = None
    forbidden_pat: Secret | None = field(default=None, repr=False)
    expired_pat: Secret | None = field(default=None, repr=False)
    provisioner: str = EMBEDDED
    hook_url: str | None = None
    agent_id: str | None = None
    strict: bool = False
    reports_dir: Path = Path("reports")
    timeout_s: float = 10.0
    write_rate: float = 0.0
    read_rate: float = 0.0
    concurrency: int = 8
    rounds: int = 5
    model_examples: int = 20
    model_steps: int = 8
    model_random: bool = False
    max_response_bytes: int = 4 * 1024 * 1024
    run_id: str = field(default_factory=new_run_id)
    config_file: Path | None = None  # the file the settings were read from, if any

    @property
    def embedded(self) -> bool:
        return self.provisioner == EMBEDDED

    @property
    def api_root(self) -> str:
        return (self.base_url or "") + API_PREFIX

    def secrets(self) -> dict[str, Secret]:
        """Token variables by name, only those that are set: for the Redactor and the secret canary. The hook URL's
        password and long query values count too (`QODER_HOOK_URL_SECRET`): a hook may be keyed by its URL."""
        found = {v.name: getattr(self, v.field) for v in VARIABLES if v.kind == "secret" and getattr(self, v.field)}
        for index, value in enumerate(url_secrets(self.hook_url)):
            found[HOOK_URL_SECRET + (f"_{index}" if index else "")] = Secret(value)
        return found

    def redacted(self) -> dict[str, Any]:
        """The configuration for reports, by variable name; a token shows only whether it is set, a URL never
        shows its userinfo or query string."""
        shown: dict[str, Any] = {}
        for variable in VARIABLES:
            value = getattr(self, variable.field)
            if variable.kind == "secret":
                shown[variable.name] = "<set>" if value else "<not set>"
            elif variable.field in ("base_url", "hook_url") and value:
                shown[variable.name] = public_url(value)
            else:
                shown[variable.name] = str(value) if isinstance(value, Path) else value
        shown["run_id"] = self.run_id
        return shown

    def require(self, *fields: str) -> None:
        """Skip the case as "not verified" when an input it needs is not configured (never a pass)."""
        missing = [BY_FIELD[name].name for name in fields if not getattr(self, name)]
        if not missing:
            return
        import pytest

        verb = "is" if len(missing) == 1 else "are"
        pytest.skip(f"not verified: {' and '.join(missing)} {verb} not configured")

    def with_target(self, values: Mapping[str, str]) -> Settings:
        """These settings pointed at a target described by QODER_* values (the embedded emulator's settings)."""
        changes: dict[str, Any] = {}
        for name, value in values.items():
            variable = next((v for v in VARIABLES if v.name == name), None)
            if variable is None or variable.field in ("provisioner",):
                continue
            if variable.kind == "secret":
                changes[variable.field] = Secret(value)
            else:
                changes[variable.field] = value.rstrip("/") if variable.field == "base_url" else value
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------------------- loading


def find_config_file(option_path: str | None, environ: Mapping[str, str], rootdir: Path | None) -> Path | None:
    if option_path:
        return Path(option_path)
    if environ.get(CONFIG_VARIABLE):
        return Path(environ[CONFIG_VARIABLE])
    if rootdir is not None and (Path(rootdir) / CONFIG_FILE_NAME).is_file():
        return Path(rootdir) / CONFIG_FILE_NAME
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's keys; a missing file, invalid TOML or an unknown key is a ConfigurationError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"configuration file {path} cannot be read: {error.__class__.__name__}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The decoder's message names the line and column, e.g. "Invalid value (at line 3, column 9)".
        raise ConfigurationError(f"configuration file {path} is not valid TOML: {error}") from None
    unknown = [key for key in raw if key not in BY_KEY]
    if unknown:
        known = ", ".join(sorted(BY_KEY))
        raise ConfigurationError(
            f"configuration file {path}: unknown key(s) {', '.join(repr(k) for k in unknown)} "
            f"(keys go at the top level; known keys: {known})"
        )
    return raw


def load_settings(
    *,
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    rootdir: Path | None = None,
    run_id: str | None = None,
) -> Settings:
    """Settings from every source; raises ConfigurationError with one message listing every problem.

    `options` maps option destinations (`qoder_base_url`, `strict`, `reports_dir`) to values; None means "not
    given". `config_file` is the explicit `--qoder-config` path, if any.
    """
    options = options or {}
    environ = os.environ if environ is None else environ
    path = find_config_file(str(config_file) if config_file else None, environ, rootdir)
    from_file = read_config_file(path) if path is not None else {}

    raw: dict[str, tuple[Any, str]] = {}  # field -> (value, where it came from)
    for variable in VARIABLES:
        option_value = options.get(variable.dest)
        if variable.kind == "bool" and option_value is False:
            option_value = None  # a store_true flag that was not given
        if option_value not in (None, ""):
            raw[variable.field] = (option_value, f"option {variable.flag}")
        elif environ.get(variable.name, "") != "":
            raw[variable.field] = (environ[variable.name], variable.name)
        elif variable.key in from_file:
            raw[variable.field] = (from_file[variable.key], f"{variable.key} in {path}")
    return _validate(raw, path, run_id or new_run_id(), misspellings(environ))


def misspellings(environ: Mapping[str, str]) -> list[str]:
    """A problem for each QODER_* variable that is not ours but close to one of ours: a typo would otherwise be
    silently ignored (QODER_EXPIRED_PATT: the 401 case would be "not verified" with no word why). Variables of
    Qoder's other tools are known and left alone; other unknown QODER_* names stay ignored."""
    ours = [variable.name for variable in VARIABLES] + [CONFIG_VARIABLE]
    found = []
    for name in sorted(environ):
        if not name.startswith("QODER_") or name in ours or name in OTHER_TOOLS_VARIABLES:
            continue
        close = difflib.get_close_matches(name, ours, n=1, cutoff=MISSPELLING_CUTOFF)
        if close:
            found.append(f"{name} is not a variable of this suite: did you mean {close[0]}?")
    return found


def _validate(
    raw: dict[str, tuple[Any, str]], path: Path | None, run_id: str, typos: list[str] | None = None
) -> Settings:
    problems: list[str] = list(typos or [])
    values: dict[str, Any] = {}

    def given(name: str) -> bool:
        return name in values and values[name] not in (None, "")

    base_url_given = "base_url" in raw
    for variable in VARIABLES:
        if variable.field not in raw:
            continue
        value, where = raw[variable.field]
        try:
            values[variable.field] = _parse(variable, value)
        except ValueError as reason:
            source = "" if where == variable.name else f" (from {where})"
            problems.append(f"{variable.name}{source} {reason}")

    if base_url_given:  # even a malformed one: list what else is missing in the same message
        provisioner = values.get("provisioner")
        if provisioner is None:
            if given("hook_url"):
                values["provisioner"] = "hook"
            elif given("agent_id"):
                values["provisioner"] = "lifecycle"
            else:
                problems.append(
                    "QODER_PROVISIONER is not set: set QODER_HOOK_URL (provisioner hook) or QODER_AGENT_ID "
                    "(provisioner lifecycle), or set QODER_PROVISIONER=hook|lifecycle with its input"
                )
        elif provisioner not in PROVISIONERS:
            problems.append(f"QODER_PROVISIONER must be hook or lifecycle, not {provisioner!r}")
        if values.get("provisioner") == "hook" and not given("hook_url"):
            problems.append("QODER_HOOK_URL is not set: the hook provisioner needs it")
        if values.get("provisioner") == "lifecycle" and not given("agent_id"):
            problems.append("QODER_AGENT_ID is not set: the lifecycle provisioner needs it")
        if not given("pat"):
            problems.append("QODER_PAT is not set: QODER_BASE_URL is set, so a PAT for it is needed")
        if not given("environment_id"):
            problems.append(
                "QODER_ENVIRONMENT_ID is not set: QODER_BASE_URL is set, so a self_hosted environment ID is needed"
            )
    else:
        # No target: the embedded emulator supplies every credential. Target inputs without a target are a mistake
        # (they would silently be replaced by the emulator's), so they are refused rather than ignored.
        stray = [
            v.name
            for v in VARIABLES
            if v.field in raw and v.field not in RUN_FIELDS
        ]  # fmt: skip
        if stray:
            problems.append(
                f"QODER_BASE_URL is not set, but {', '.join(stray)} {'is' if len(stray) == 1 else 'are'}: set "
                "QODER_BASE_URL to test a target, or unset them to run against the embedded emulator"
            )
        values["provisioner"] = EMBEDDED
    if problems:
        where = f" (configuration file: {path})" if path else ""
        raise ConfigurationError(
            "the conformance suite is not configured correctly"
            + where
            + ":\n"
            + "\n".join(f"  - {p}" for p in problems)
        )

    remote = values.get("provisioner") != EMBEDDED
    loopback = remote and is_loopback_origin(values.get("base_url"))
    for variable in VARIABLES:
        if variable.field not in values and variable.embedded_default is not None:
            values[variable.field] = _parse(variable, variable.default_for(remote=remote, loopback=loopback))
    return Settings(**values, run_id=run_id, config_file=path)


def _parse(variable: Variable, value: Any) -> Any:
    """One value from its text (or TOML) form; ValueError text completes "QODER_X ..." and never shows a token."""
    kind = variable.kind
    if kind == "secret":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("is set but is not a non-empty string")
        if value != value.strip() or any(c in value for c in "\r\n"):
            raise ValueError("is set but has leading/trailing white space or a line break")
        return Secret(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(f"must be one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}, not {value!r}")
    if kind in ("positive", "rate"):
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {value!r}")
        if not number > 0 and not (kind == "rate" and number == 0):
            raise ValueError(f"must be {'>= 0 (0 = off)' if kind == 'rate' else 'a positive number'}, not {value!r}")
        _within_bounds(variable, number, value)
        return number
    if kind == "count":
        try:
            number = int(str(value).strip()) if not isinstance(value, (bool, float)) else None
        except ValueError:
            number = None
        if number is None or number < 1:
            raise ValueError(f"must be a positive whole number, not {value!r}")
        _within_bounds(variable, number, value)
        return number
    if kind == "path":
        if not isinstance(value, (str, Path)) or not str(value):
            raise ValueError(f"must be a folder path, not {value!r}")
        return Path(value).absolute()
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {value!r}")
    value = value.strip()
    if kind == "env_id":
        if not value.startswith("env_") or len(value) <= len("env_"):
            raise ValueError(f"must be an environment ID starting with env_, not {value!r}")
        return value
    if variable.field == "base_url":
        return _origin(value)
    if variable.field == "hook_url":
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError(f"must be an http(s) URL, not {public_url(value)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL, not {public_url(value)!r}")
        return value
    if variable.field == "provisioner":
        return value.lower()
    return value


def _origin(value: str) -> str:
    shown = public_url(value)  # a message never quotes credentials or a query string, which may hold a token
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        raise ValueError(f"must be an http(s) origin such as https://api.qoder.com, not {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) origin such as https://api.qoder.com, not {shown!r}")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@); put the PAT in QODER_PAT")
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(
            f"must be an origin without a path or query (the suite appends {API_PREFIX}/...), not {shown!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"has a malformed port: {shown!r}") from None
    return f"{parts.scheme}://{parts.netloc}"


def _within_bounds(variable: Variable, number: float, given: Any) -> None:
    if variable.maximum is not None and number > variable.maximum:
        raise ValueError(f"must be at most {variable.maximum:g}, not {given!r}")
    if variable.minimum is not None and number < variable.minimum:
        raise ValueError(f"must be at least {variable.minimum:g}, not {given!r}")


def url_secrets(url: str | None) -> list[str]:
    """The parts of a URL that may be credentials: the userinfo password and query values of some length."""
    if not url:
        return []
    try:
        parts = urllib.parse.urlsplit(url)
        values = [value for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    found += [value for value in values if len(value) >= URL_SECRET_MINIMUM]
    return list(dict.fromkeys(found))


def check_reports_dir(path: Path) -> None:
    """The reports folder exists or can be created, is a folder and is writable: checked before any item is
    created, so a bad path never leaves an item live and unrecorded."""
    where = f"QODER_REPORTS_DIR / --reports-dir {path}"
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{where} is not a folder (a file of that name exists)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"{where} cannot be created: {error.strerror or error.__class__.__name__}") from None
    probe = path / f".qoder-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigurationError(f"{where} is not writable: {error.strerror or error.__class__.__name__}") from None


def embedded_emulator_config() -> dict[str, Any]:
    """The embedded emulator's identities, with tokens random per run so the secret canary scan means something.

    The shape is the emulator's documented config format; the IDs are its documented built-in ones.
    """

    def token() -> str:
        return "pt-" + random_tokens.token_hex(16)

    return {
        "principal": [
            {"name": "primary", "tokens": [token()], "expired_tokens": [token()]},
            {"name": "other", "tokens": [token()]},
        ],
        "environment": [
            {"id": "env_00000000000000000000000000000001", "type": "self_hosted", "owner": "primary"},
            {"id": "env_00000000000000000000000000000002", "type": "self_hosted", "owner": "primary"},
            {"id": "env_000000000000000000000000000000c1", "type": "cloud", "owner": "primary"},
            {"id": "env_00000000000000000000000000000101", "type": "self_hosted", "owner": "other"},
        ],
        "agent": [{"id": "agent_00000000000000000000000000000001"}],
    }
