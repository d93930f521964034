"""The command line: --print-env, a real server in a subprocess stopped with SIGINT, and start-up errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from qoder_emulator import cli

EXPECTED_ENV = """\
export QODER_BASE_URL=http://127.0.0.1:8123
export QODER_PAT=pt-emulator-primary
export QODER_ENVIRONMENT_ID=env_00000000000000000000000000000001
export QODER_CLOUD_ENVIRONMENT_ID=env_000000000000000000000000000000c1
export QODER_OTHER_ENVIRONMENT_ID=env_00000000000000000000000000000002
export QODER_FORBIDDEN_PAT=pt-emulator-other
export QODER_EXPIRED_PAT=pt-emulator-expired
export QODER_PROVISIONER=hook
export QODER_HOOK_URL=http://127.0.0.1:8123/_emulator/hook
export QODER_AGENT_ID=agent_00000000000000000000000000000001
"""


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qoder_emulator", *args], capture_output=True, text=True, timeout=timeout
    )


def test_print_env_prints_exactly_the_documented_variables():
    result = run_cli("--port", "8123", "--print-env")
    assert (result.returncode, result.stdout, result.stderr) == (0, EXPECTED_ENV, "")


def test_print_env_in_process_matches_launch_settings(capsys):
    from qoder_emulator import launch

    assert cli.main(["--port", "8123", "--print-env", "--host", "127.0.0.1"]) == 0
    printed = capsys.readouterr().out
    with launch() as running:
        names = [line.split("=", 1)[0].removeprefix("export ") for line in printed.splitlines()]
        assert names == list(running.settings)


def test_print_env_uses_the_config_file(tmp_path):
    config = tmp_path / "emu.toml"
    config.write_text(
        '[[principal]]\nname = "me"\ntokens = ["pt-me"]\n'
        '[[environment]]\nid = "env_abc"\ntype = "self_hosted"\nowner = "me"\n'
    )
    result = run_cli("--port", "9000", "--print-env", "--config", str(config))
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "export QODER_BASE_URL=http://127.0.0.1:9000",
        "export QODER_PAT=pt-me",
        "export QODER_ENVIRONMENT_ID=env_abc",
        "export QODER_PROVISIONER=hook",
        "export QODER_HOOK_URL=http://127.0.0.1:9000/_emulator/hook",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serves_until_sigint_and_exits_0():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "qoder_emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/cloud/environments/env_00000000000000000000000000000001/work/stats",
                    headers={"Authorization": "Bearer pt-emulator-primary"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200 and response.json()["type"] == "work_queue_stats"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/api/v1/cloud" in out
    assert f"http://127.0.0.1:{port}/_emulator/hook" in out
    assert "QODER_PAT=pt-emulator-primary" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[[principal]\nname=", "not valid TOML"),
        ('[[principal]]\nname = "a"\ntokens = "pt-x"\n', "'tokens' must be a list"),
        ('[[principal]]\nname = "a"\n[[environment]]\nid = "env_1"\nowner = "b"\n', "owner 'b' is not a principal"),
        ('[[principal]]\nname = "a"\n[[environment]]\nid = "e1"\nowner = "a"\n', "must look like env_"),
        ('[[principal]]\nname = "a"\n[[environment]]\nid = "env_1"\nowner = "a"\ntype = "vm"\n', "type must be"),
        ('[[principal]]\nname = "a"\ncolour = "red"\n', "unknown key(s) ['colour']"),
        ("[server]\nport = 1\n", "unknown section"),
        ("", "at least one [[principal]]"),
    ],
)
def test_bad_config_file_is_one_clear_line(tmp_path, content, problem):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    result = run_cli("--port", "0", "--config", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr and problem in result.stderr


def test_missing_config_file(tmp_path):
    result = run_cli("--port", "0", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "absent.toml: file not found" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "no-such-fault"], "unknown fault 'no-such-fault'; known faults: "),
        (["--dialect", "nope=1"], "unknown dialect 'nope'"),
        (["--dialect", "force-on-stopped=maybe"], "choose one of: return, conflict"),
        (["--dialect", "force-on-stopped"], "NAME=VALUE"),
        (["--latency-ms", "-1"], "--latency-ms must be >= 0"),
    ],
)
def test_start_up_errors(capsys, args, message):
    assert cli.main(["--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("qoder-emulator: error:")


def test_port_in_use_is_a_clear_error(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert cli.main(["--port", str(sock.getsockname()[1])]) == 2
    assert "qoder-emulator: error:" in capsys.readouterr().err


def test_list_faults_and_dialects(capsys):
    assert cli.main(["--list-faults"]) == 0
    assert "graceful-active-stops" in capsys.readouterr().out
    assert cli.main(["--list-dialects"]) == 0
    assert "force-on-stopped: return (default) | conflict" in capsys.readouterr().out


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "qoder-emulator")
    result = subprocess.run([script, "--port", "8123", "--print-env"], capture_output=True, text=True, timeout=20)
    assert result.stdout == EXPECTED_ENV


def test_config_from_standard_input(tmp_path):
    config = (
        '[[principal]]\nname = "me"\ntokens = ["pt-stdin"]\n'
        '[[environment]]\nid = "env_abc"\ntype = "self_hosted"\nowner = "me"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "qoder_emulator", "--port", "9000", "--print-env", "--config", "-"],
        input=config, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "export QODER_PAT=pt-stdin" in result.stdout.splitlines()


def test_bad_config_on_standard_input_names_its_origin():
    result = subprocess.run(
        [sys.executable, "-m", "qoder_emulator", "--port", "0", "--config", "-"],
        input="[[principal", capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("qoder-emulator: error: standard input: not valid TOML")


def test_parent_pid_stops_the_server_once_its_parent_is_gone():
    # A shell starts the emulator in the background, naming itself as parent, prints the emulator's PID and exits:
    # the emulator is re-parented and must stop by itself (within a few watch intervals).
    script = f'"{sys.executable}" -m qoder_emulator --port 0 --parent-pid $$ >/dev/null 2>&1 & echo $!'
    launcher = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20)
    pid = int(launcher.stdout.strip())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the emulator outlived its parent")
