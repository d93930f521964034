"""Settings: option > environment > file > default for every variable; every validation message; config files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.config import VARIABLES, Settings, check_reports_dir, embedded_emulator_config, load_settings
from conformance.errors import ConfigurationError
from conformance.evidence import Secret

TOKEN = "pt-config-test-0123456789abcdef"
OTHER_TOKEN = "pt-config-test-other-fedcba9876543210"
REMOTE = {
    "QODER_BASE_URL": "https://api.example.com",
    "QODER_PAT": TOKEN,
    "QODER_ENVIRONMENT_ID": "env_0001",
    "QODER_HOOK_URL": "https://hook.example.com/setup",
    "QODER_AGENT_ID": "agent_0001",
}

# Three distinct valid values per variable: (option, environment, file), and what each parses to.
VALUES: dict[str, tuple[tuple[Any, Any], ...]] = {
    "text": (
        ("https://o.example", "https://o.example"),
        ("https://e.example", "https://e.example"),
        ("https://f.example", "https://f.example"),
    ),
    "secret": (
        ("pt-option-1", Secret("pt-option-1")),
        ("pt-env-1", Secret("pt-env-1")),
        ("pt-file-1", Secret("pt-file-1")),
    ),
    "env_id": (("env_option", "env_option"), ("env_environ", "env_environ"), ("env_file", "env_file")),
    "bool": ((True, True), ("1", True), (True, True)),
    "positive": (("1.5", 1.5), ("2.5", 2.5), (3.5, 3.5)),
    "rate": (("1", 1.0), ("2", 2.0), (3, 3.0)),
    "count": (("3", 3), ("4", 4), (5, 5)),
    "path": (("/tmp/o", Path("/tmp/o")), ("/tmp/e", Path("/tmp/e")), ("/tmp/f", Path("/tmp/f"))),
}
SPECIAL = {
    "QODER_MAX_RESPONSE_BYTES": (("2048", 2048), ("4096", 4096), (8192, 8192)),
    "QODER_PROVISIONER": (("lifecycle", "lifecycle"), ("hook", "hook"), ("lifecycle", "lifecycle")),
    "QODER_HOOK_URL": (
        ("https://o.example/h", "https://o.example/h"),
        ("https://e.example/h", "https://e.example/h"),
        ("https://f.example/h", "https://f.example/h"),
    ),
    "QODER_AGENT_ID": (("agent_o", "agent_o"), ("agent_e", "agent_e"), ("agent_f", "agent_f")),
}


def write_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    def render(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return '"' + str(value) + '"'

    path = tmp_path / "qoder-conformance.toml"
    path.write_text("".join(f"{key} = {render(value)}\n" for key, value in values.items()), encoding="utf-8")
    return path


def load(tmp_path: Path, *, options=None, environ=None, file_values=None) -> Settings:
    config_file = write_file(tmp_path, file_values) if file_values is not None else None
    return load_settings(options=options or {}, environ=environ or {}, config_file=config_file, rootdir=tmp_path)


def problems(tmp_path: Path, **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load(tmp_path, **kwargs)
    message = str(raised.value)
    assert TOKEN not in message and OTHER_TOKEN not in message, "a token value leaked into a message"
    return message


@pytest.mark.parametrize("variable", VARIABLES, ids=[v.name for v in VARIABLES])
def test_precedence_option_environment_file_default(variable, tmp_path: Path) -> None:
    (opt, opt_parsed), (env, env_parsed), (fil, fil_parsed) = SPECIAL.get(variable.name, VALUES[variable.kind])
    base = dict(REMOTE)
    base.pop(variable.name, None)
    option_dest = variable.dest

    everywhere = load(tmp_path, options={option_dest: opt}, environ={**base, variable.name: env},
                      file_values={variable.key: fil})  # fmt: skip
    assert getattr(everywhere, variable.field) == opt_parsed
    without_option = load(tmp_path, environ={**base, variable.name: env}, file_values={variable.key: fil})
    assert getattr(without_option, variable.field) == env_parsed
    only_file = load(tmp_path, environ=base, file_values={variable.key: fil})
    assert getattr(only_file, variable.field) == fil_parsed
    if variable.name in REMOTE:
        return  # required for a remote target: there is no default to fall back to
    (tmp_path / "qoder-conformance.toml").unlink()  # else it is found in the rootdir
    default = load(tmp_path, environ=base)
    expected = "hook" if variable.name == "QODER_PROVISIONER" else variable.remote_default  # hook: a hook URL is set
    if variable.kind == "path":
        expected = Path(expected).absolute()
    if variable.kind in ("positive", "rate") and expected is not None:
        expected = float(expected)
    assert getattr(default, variable.field) == expected


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={**REMOTE, "QODER_EXPIRED_PAT": ""}, file_values={"expired_pat": TOKEN})
    assert settings.expired_pat == Secret(TOKEN)


def test_no_target_means_embedded_with_embedded_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.provisioner == "embedded" and settings.base_url is None
    assert (settings.write_rate, settings.read_rate, settings.concurrency, settings.rounds) == (0, 0, 8, 5)
    assert settings.timeout_s == 10 and settings.strict is False


def test_remote_defaults_follow_the_docs_baseline(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=REMOTE)
    assert (settings.write_rate, settings.read_rate, settings.concurrency, settings.rounds) == (20, 50, 4, 2)
    assert settings.provisioner == "hook" and settings.api_root == "https://api.example.com/api/v1/cloud"


def test_provisioner_defaults_to_lifecycle_with_only_an_agent(tmp_path: Path) -> None:
    environ = {k: v for k, v in REMOTE.items() if k != "QODER_HOOK_URL"}
    assert load(tmp_path, environ=environ).provisioner == "lifecycle"


def test_trailing_slash_of_base_url_is_stripped(tmp_path: Path) -> None:
    assert load(tmp_path, environ={**REMOTE, "QODER_BASE_URL": "http://127.0.0.1:8080/"}).base_url == (
        "http://127.0.0.1:8080"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"QODER_BASE_URL": "ftp://x.example"}, "QODER_BASE_URL must be an http(s) origin"),
        ({"QODER_BASE_URL": "https://x.example/api/v1/cloud"}, "QODER_BASE_URL must be an origin without a path"),
        ({"QODER_BASE_URL": "https://x.example?a=1"}, "QODER_BASE_URL must be an origin without a path or query"),
        ({"QODER_ENVIRONMENT_ID": "abc"}, "QODER_ENVIRONMENT_ID must be an environment ID starting with env_"),
        ({"QODER_CLOUD_ENVIRONMENT_ID": "cloud1"}, "QODER_CLOUD_ENVIRONMENT_ID must be an environment ID"),
        ({"QODER_OTHER_ENVIRONMENT_ID": "x"}, "QODER_OTHER_ENVIRONMENT_ID must be an environment ID"),
        ({"QODER_PROVISIONER": "magic"}, "QODER_PROVISIONER must be hook or lifecycle, not 'magic'"),
        ({"QODER_PROVISIONER": "hook", "QODER_HOOK_URL": None}, "QODER_HOOK_URL is not set"),
        ({"QODER_PROVISIONER": "lifecycle", "QODER_AGENT_ID": None}, "QODER_AGENT_ID is not set"),
        ({"QODER_HOOK_URL": None, "QODER_AGENT_ID": None}, "set QODER_HOOK_URL (provisioner hook) or QODER_AGENT_ID"),
        ({"QODER_HOOK_URL": "not a url"}, "QODER_HOOK_URL must be an http(s) URL"),
        ({"QODER_PAT": None}, "QODER_PAT is not set"),
        ({"QODER_ENVIRONMENT_ID": None}, "QODER_ENVIRONMENT_ID is not set"),
        ({"QODER_PAT": f" {TOKEN} "}, "QODER_PAT is set but has leading/trailing white space"),
        ({"QODER_FORBIDDEN_PAT": OTHER_TOKEN + "\n"}, "QODER_FORBIDDEN_PAT is set but has"),
        ({"QODER_TIMEOUT": "0"}, "QODER_TIMEOUT must be a positive number"),
        ({"QODER_TIMEOUT": "soon"}, "QODER_TIMEOUT must be a number"),
        ({"QODER_WRITE_RATE": "-1"}, "QODER_WRITE_RATE must be >= 0 (0 = off)"),
        ({"QODER_READ_RATE": "x"}, "QODER_READ_RATE must be a number"),
        ({"QODER_CONCURRENCY": "0"}, "QODER_CONCURRENCY must be a positive whole number"),
        ({"QODER_ROUNDS": "1.5"}, "QODER_ROUNDS must be a positive whole number"),
        ({"QODER_STRICT": "maybe"}, "QODER_STRICT must be one of"),
    ],
)
def test_validation_messages(changes: dict[str, str | None], expected: str, tmp_path: Path) -> None:
    environ = {**REMOTE, "QODER_FORBIDDEN_PAT": OTHER_TOKEN}
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    message = problems(tmp_path, environ=environ)
    assert expected in message, message


def test_every_problem_is_listed_in_one_message(tmp_path: Path) -> None:
    environ = {"QODER_BASE_URL": "https://x.example/path", "QODER_TIMEOUT": "-2", "QODER_ENVIRONMENT_ID": "nope"}
    message = problems(tmp_path, environ=environ)
    for part in ("QODER_BASE_URL", "QODER_TIMEOUT", "QODER_ENVIRONMENT_ID", "QODER_PAT is not set"):
        assert part in message, message


def test_target_inputs_without_a_base_url_are_refused(tmp_path: Path) -> None:
    message = problems(tmp_path, environ={"QODER_PAT": TOKEN, "QODER_HOOK_URL": "https://h.example/x"})
    assert "QODER_BASE_URL is not set, but QODER_PAT, QODER_HOOK_URL are" in message


def test_a_problem_from_an_option_names_the_option(tmp_path: Path) -> None:
    message = problems(tmp_path, options={"qoder_timeout": "abc"}, environ=REMOTE)
    assert "QODER_TIMEOUT (from option --qoder-timeout) must be a number" in message


def test_unknown_config_key_names_key_and_file(tmp_path: Path) -> None:
    path = write_file(tmp_path, {"base_url": "https://x.example", "bse_url": "typo"})
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ={}, config_file=path)
    assert "'bse_url'" in str(raised.value) and str(path) in str(raised.value)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('base_url = "https://x.example"\npat = \n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ={}, config_file=path)
    message = str(raised.value)
    assert str(path) in message and "not valid TOML" in message and "line 2" in message


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(environ={}, config_file=tmp_path / "absent.toml")


def test_config_file_found_by_variable_and_in_rootdir(tmp_path: Path) -> None:
    (tmp_path / "qoder-conformance.toml").write_text("rounds = 7\n", encoding="utf-8")
    assert load_settings(environ={}, rootdir=tmp_path).rounds == 7
    other = tmp_path / "other.toml"
    other.write_text("rounds = 9\n", encoding="utf-8")
    assert load_settings(environ={"QODER_CONFIG": str(other)}, rootdir=tmp_path).rounds == 9


def test_secrets_redacted_and_repr_never_show_tokens(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={**REMOTE, "QODER_FORBIDDEN_PAT": OTHER_TOKEN})
    assert settings.secrets() == {"QODER_PAT": Secret(TOKEN), "QODER_FORBIDDEN_PAT": Secret(OTHER_TOKEN)}
    shown = settings.redacted()
    assert shown["QODER_PAT"] == "<set>" and shown["QODER_EXPIRED_PAT"] == "<not set>"
    assert TOKEN not in str(shown) and TOKEN not in repr(settings) and OTHER_TOKEN not in repr(settings)


def test_require_skips_as_not_verified_naming_the_variable(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=REMOTE)
    settings.require("pat", "environment_id")  # configured: no skip
    with pytest.raises(pytest.skip.Exception, match=r"^not verified: QODER_EXPIRED_PAT is not configured$"):
        settings.require("expired_pat")
    with pytest.raises(pytest.skip.Exception, match="QODER_EXPIRED_PAT and QODER_FORBIDDEN_PAT are not configured"):
        settings.require("expired_pat", "forbidden_pat")


def test_embedded_tokens_are_random_per_run() -> None:
    first, second = embedded_emulator_config(), embedded_emulator_config()
    token = first["principal"][0]["tokens"][0]
    assert token.startswith("pt-") and token != second["principal"][0]["tokens"][0]


# ------------------------------------------------------------------------------------------- hostile configuration


@pytest.mark.parametrize(
    ("name", "hint"),
    [("QODER_EXPIRED_PATT", "QODER_EXPIRED_PAT"), ("QODER_TIMEOUTS", "QODER_TIMEOUT"), ("QODER_BASEURL", None)],
)
def test_a_likely_misspelling_is_an_error_with_a_hint(name: str, hint: str | None, tmp_path: Path) -> None:
    message = problems(tmp_path, environ={**REMOTE, name: "x"})
    assert f"{name} is not a variable of this suite: did you mean {hint or 'QODER_BASE_URL'}?" in message


@pytest.mark.parametrize(
    "name", ["QODER_MANAGED_BASE_URL", "QODER_ACCESS_TOKEN", "QODER_REPRO_TARGET", "QODER_SOMETHING_ELSE_ENTIRELY"]
)
def test_other_tools_variables_and_unrelated_names_stay_ignored(name: str, tmp_path: Path) -> None:
    load(tmp_path, environ={**REMOTE, name: "https://api.example.com/api/v1/cloud"})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("QODER_TIMEOUT", "inf", "must be a finite number"),
        ("QODER_TIMEOUT", "nan", "must be a finite number"),
        ("QODER_TIMEOUT", "-1", "must be a positive number"),
        ("QODER_TIMEOUT", "1e9", "must be at most 3600"),
        ("QODER_WRITE_RATE", "Infinity", "must be a finite number"),
        ("QODER_CONCURRENCY", "1000000000", "must be at most 1024"),
        ("QODER_MAX_RESPONSE_BYTES", "10", "must be at least 1024"),
        ("QODER_MAX_RESPONSE_BYTES", "1e9", "must be a positive whole number"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused(name: str, value: str, expected: str, tmp_path: Path) -> None:
    assert f"{name} {expected}" in problems(tmp_path, environ={**REMOTE, name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QODER_BASE_URL", f"https://user:{TOKEN}@api.example.com"),
        ("QODER_BASE_URL", f"https://api.example.com/?token={TOKEN}"),
        ("QODER_BASE_URL", f"https://api.example.com:99999999/x?{TOKEN}"),
        ("QODER_BASE_URL", f"ftp://{TOKEN}@x.example"),
        ("QODER_HOOK_URL", f"ftp://hook.example/h?key={TOKEN}"),
        ("QODER_HOOK_URL", f"https://[::1/h?key={TOKEN}"),
    ],
)
def test_a_malformed_url_is_never_quoted_with_its_credentials_or_query(name: str, value: str, tmp_path: Path) -> None:
    message = problems(tmp_path, environ={**REMOTE, name: value})
    assert name in message and TOKEN not in message


def test_the_hook_url_s_password_and_query_are_secrets_and_never_echoed(tmp_path: Path) -> None:
    hook = f"https://hook-user:{OTHER_TOKEN}@hook.example/setup?key={TOKEN}&mode=x"
    settings = load(tmp_path, environ={**REMOTE, "QODER_HOOK_URL": hook})
    shown = settings.redacted()["QODER_HOOK_URL"]
    assert shown == "https://<redacted>@hook.example/setup?<redacted>"
    assert {value.reveal() for value in settings.secrets().values()} == {TOKEN, OTHER_TOKEN}


def test_the_reports_folder_is_checked(tmp_path: Path) -> None:
    a_file = tmp_path / "reports"
    a_file.write_text("not a folder")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        check_reports_dir(a_file)
    with pytest.raises(ConfigurationError, match="cannot be created"):
        check_reports_dir(a_file / "below")
    check_reports_dir(tmp_path / "new" / "folder")
    assert (tmp_path / "new" / "folder").is_dir() and list((tmp_path / "new" / "folder").iterdir()) == []
