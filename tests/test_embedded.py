"""The embedded emulator as the suite starts it: a child process configured on stdin, its settings read back."""

from __future__ import annotations

import sys

import httpx
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conformance.config import embedded_emulator_config
from conformance.embedded import EmbeddedEmulator, EmbeddedEmulatorError, config_toml


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
