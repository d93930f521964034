"""URL paths and ID forms: whatever a value holds, it stays one path segment; only inert IDs are accepted."""

from __future__ import annotations

import httpx
import pytest

from conformance.paths import is_environment_id, is_work_id, public_url, same_target, segment, work_path

HOSTILE = ["../../env_x/work/work_y", "..", ".", "work_a/../b", "work_a?force=true", "work_a#x", "work_a%2F", "w k"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_one_segment_after_httpx_builds_the_url(value: str) -> None:
    url = httpx.URL("http://t.test/api/v1/cloud" + work_path("env_1", value, "/stop"))
    segments = url.raw_path.decode("ascii").split("/")
    assert segments[:6] == ["", "api", "v1", "cloud", "environments", "env_1"]
    assert segments[6] == "work" and segments[8] == "stop" and len(segments) == 9, url.raw_path
    assert not url.query, "a ? in an ID must not start a query"
    assert segments[7] not in (".", "..")


def test_ordinary_ids_are_unchanged() -> None:
    assert (
        work_path("env_00000000000000000000000000000001") == "/environments/env_00000000000000000000000000000001/work"
    )
    assert work_path("env_1", "work_Ab-9_z", "/ack") == "/environments/env_1/work/work_Ab-9_z/ack"
    assert work_path("env_1", None, "/poll") == "/environments/env_1/work/poll"
    assert segment("work_\n$(id)") == "work_%0A%24%28id%29"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("work_0123456789abcdef0123456789abcdef", True),
        ("work_A-b_c", True),
        ("work_" + "a" * 128, True),
        ("work_" + "a" * 129, False),
        ("work_", False),
        ("WORK_abc", False),
        ("env_abc", False),
        ("work_abc\n", False),
        ("work_a b", False),
        ("work_a;rm", False),
        ("work_a/../b", False),
        ("work_é", False),
        (None, False),
        (123, False),
        (["work_a"], False),
    ],
)
def test_work_id_form(value: object, accepted: bool) -> None:
    assert is_work_id(value) is accepted


def test_environment_id_form() -> None:
    assert is_environment_id("env_00000000000000000000000000000001")
    assert not is_environment_id("env_1/../env_2") and not is_environment_id("work_1") and not is_environment_id("")


def test_public_url_hides_userinfo_query_and_fragment() -> None:
    shown = public_url("https://user:pt-secret@hook.example:8443/setup?token=pt-secret#frag")
    assert shown == "https://<redacted>@hook.example:8443/setup?<redacted>#<redacted>"
    assert public_url("https://hook.example/setup") == "https://hook.example/setup"
    assert public_url("http://h.test/a\x1b[31mb") == "http://h.test/a\\x1b[31mb"
    assert public_url("http://[::1") == "(an unparsable URL)"


def test_same_target_compares_origins_with_default_ports() -> None:
    assert same_target("https://api.example.com:443/", "https://API.example.com")
    assert same_target("http://127.0.0.1:8765", "http://127.0.0.1:8765/")
    assert not same_target("http://127.0.0.1:8766", "http://127.0.0.1:8765")
    assert not same_target("https://api.example.com", "http://api.example.com")
    assert not same_target("https://api.example.com.evil.test", "https://api.example.com")
    assert not same_target("https://api.example.com/other", "https://api.example.com")
    assert not same_target(None, "http://a.test") and not same_target("http://a.test", None)
    assert not same_target("not a url", "not a url")
