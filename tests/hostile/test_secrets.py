"""Secrets and printing: no token reaches the terminal or a file, whatever path it takes; control bytes from the
server reach the terminal only as escapes.

Attack class "secrets/printing" of the issue. Every run here uses `pytest -l -vv -rA` (local variables in
tracebacks, full assertion diffs, every case's outcome), because a user may. The secret scan is the kit's own
(hostile/observe.py): raw, Bearer form, base64 (also embedded in a longer base64 text, also URL-safe), URL-encoded.
"""

from __future__ import annotations

import secrets

import pytest

from hostile import expect, hook, tamper
from hostile.expect import World


def test_a_server_that_echoes_the_authorization_header_gets_it_printed_nowhere(world: World) -> None:
    """The echo lands in `state`, `stopped_at` and `metadata` (raw, base64, base64 inside a blob, URL-encoded): fields
    the suite compares and prints as mismatches. The cases FAIL (the answers are wrong), and the reports survive:
    no canary had to delete them."""
    world.target.tamper = tamper.echo_authorization()

    run = world.run_suite(expect.TWO_CASES)

    expect.safe_run(world, run, status=expect.EXIT_FAILED)
    verdicts = {case["nodeid"]: case["verdict"] for case in run.cases()}
    assert set(verdicts.values()) == {"fail"}, f"the echoing server must be caught: {verdicts}"


CONTROL_BYTES = {"ESC": b"\x1b", "BEL": b"\x07", "BS": b"\x08", "C1 CSI": "\x9b".encode(), "bare CR": b"\r"}


@pytest.mark.parametrize("source", ["stop-answers", "hook-error-page"])
def test_control_bytes_from_the_server_reach_the_terminal_as_escapes(world: World, source: str) -> None:
    if source == "stop-answers":
        world.target.tamper = tamper.escape_bytes()
    else:
        world.target.hook = hook.refusing_with("hook failed: " + "".join(tamper.ESCAPES.values()) + " kit-owned-title")

    run = world.run_suite(expect.TWO_CASES)

    assert "kit-owned-title" in run.output, f"the server's strings were not shown at all: {run.describe()}"
    raw = run.raw.replace(b"\r\n", b"\n")
    found = [name for name, byte in CONTROL_BYTES.items() if byte in raw]
    assert not found, f"control bytes from the server reached the terminal raw: {found}"
    expect.safe_run(world, run, status=expect.EXIT_FAILED)


def test_a_hook_url_s_password_and_query_string_land_nowhere(world: World) -> None:
    password, signature = "pw-" + secrets.token_hex(16), "sig-" + secrets.token_hex(16)
    world.extra_secrets = {"hook URL password": password, "hook URL query": signature}
    hook_url = world.target.hook_url.replace("http://", f"http://kit-user:{password}@") + f"?sig={signature}"

    run = world.run_suite(expect.ONE_CASE, env={"QODER_HOOK_URL": hook_url})

    expect.safe_run(world, run, status=expect.EXIT_OK)
    assert [r for r in world.target.server.logged() if r.path == "/_kit/hook"], "the hook was never called"


@pytest.mark.parametrize(
    ("variable", "template"),
    [
        ("QODER_BASE_URL", "http://kit:{pat}@127.0.0.1:not-a-port"),
        ("QODER_BASE_URL", "ftp://127.0.0.1/?token={pat}"),
        ("QODER_HOOK_URL", "ftp://127.0.0.1/hook?sig={pat}"),
        ("QODER_HOOK_URL", "gopher://kit:{pat}@127.0.0.1/hook"),
    ],
    ids=["base-userinfo-bad-port", "base-wrong-scheme-query", "hook-wrong-scheme-query", "hook-userinfo"],
)
def test_a_malformed_url_holding_a_token_is_refused_without_quoting_it(
    world: World, variable: str, template: str
) -> None:
    run = world.run_suite(expect.ONE_CASE, env={variable: template.format(pat=world.target.ids.pat)})

    expect.safe_run(world, run, status=expect.EXIT_CONFIGURATION, reports=False)
    assert variable in run.output, f"the message does not name {variable}: {run.describe()}"
