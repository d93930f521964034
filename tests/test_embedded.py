"""The embedded emulator as the suite starts it: a child process configured on stdin, its settings read back."""

from __future__ import annotations

import os
import sys

import httpx
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conformance.config import embedded_emulator_config
from conformance.embedded import EmbeddedEmulator, EmbeddedEmulatorError, config_toml

pytest_plugins = ["pytester"]


def test_config_toml_round_trips_through_a_toml_parser() -> None:
    config = embedded_emulator_config()
    config["principal"][0]["name"] = 'quote " and \\ backslash and é'
    assert tomllib.loads(config_toml(config)) == config


def test_it_starts_announces_its_settings_and_dies_when_stopped() -> None:
    config = embedded_emulator_config()
    emulator = EmbeddedEmulator(config, redact=str)
    try:
        settings = emulator.wait_ready()
        assert settings["QODER_PAT"] == config["principal"][0]["tokens"][0]
        assert settings["QODER_FORBIDDEN_PAT"] == config["principal"][1]["tokens"][0]
        answer = httpx.get(
            f"{settings['QODER_BASE_URL']}/api/v1/cloud/environments/{settings['QODER_ENVIRONMENT_ID']}/work",
            headers={"Authorization": f"Bearer {settings['QODER_PAT']}"},
        )
        assert answer.status_code == 200
    finally:
        emulator.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(settings["QODER_BASE_URL"] + "/_emulator/ready")


def test_a_start_up_failure_is_a_clear_redacted_error() -> None:
    config = embedded_emulator_config()
    secret = config["principal"][0]["tokens"][0]
    config["environment"][0]["owner"] = "nobody " + secret  # an owner no principal has: the config is refused
    emulator = EmbeddedEmulator(config, redact=lambda text: text.replace(secret, "${QODER_PAT}"))
    with pytest.raises(EmbeddedEmulatorError) as raised:
        emulator.wait_ready()
    message = str(raised.value)
    assert message.startswith("the embedded emulator exited during start-up (status 2): qoder-emulator: error:")
    assert secret not in message


def test_a_run_whose_embedded_emulator_cannot_start_exits_3_with_its_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in qoder_emulator, first on the path, that fails the way the real one fails on a bad start.
    fake = pytester.mkdir("fake")
    (fake / "qoder_emulator").mkdir()
    (fake / "qoder_emulator" / "__init__.py").write_text("")
    (fake / "qoder_emulator" / "__main__.py").write_text(
        "import sys\nprint('qoder-emulator: error: port 0 is on fire', file=sys.stderr)\nsys.exit(2)\n"
    )
    for name in [name for name in os.environ if name.startswith("QODER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    pytester.makepyfile(test_one="import pytest\n\n@pytest.mark.req('STOP-TR-QUEUED')\ndef test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "conformance.plugin", "--qoder-suite", "-p", "no:cacheprovider")
    assert result.ret == 3
    result.stdout.fnmatch_lines(
        ["*the embedded emulator exited during start-up (status 2): qoder-emulator: error: port 0 is on fire*"]
    )
