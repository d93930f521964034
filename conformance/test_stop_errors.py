"""Every trigger of the Stop page's error table, each on a fresh item that the refused request must not change.

Each case asserts the row's status and `error.type`, the documented error envelope with a JSON media type, and,
with a GET afterwards, that the item is exactly as provisioned.
"""

from __future__ import annotations

import pytest

from conformance import tables
from conformance.expectations import expect_error, expect_untouched

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("content", [pytest.param(body, id=name) for name, body in tables.INVALID_JSON_BODIES.items()])
@pytest.mark.req("STOP-ERR-INVALID-JSON", "STOP-ERR-ENVELOPE")
def test_body_not_valid_json(content: bytes, provision, api, check) -> None:
    item = provision("active")
    response = api.stop(item["environment_id"], item["id"], content=content, headers=JSON)
    expect_error(check, "STOP-ERR-INVALID-JSON", response)
    expect_untouched(check, "STOP-ERR-INVALID-JSON", api, item)


@pytest.mark.req("STOP-ERR-NOT-SELF-HOSTED", "STOP-ERR-ENVELOPE")
def test_environment_not_self_hosted(settings, provision, api, check) -> None:
    settings.require("cloud_environment_id")
    item = provision("active")
    response = api.stop(settings.cloud_environment_id, item["id"], content=b"{}", headers=JSON)
    expect_error(check, "STOP-ERR-NOT-SELF-HOSTED", response)
    expect_untouched(check, "STOP-ERR-NOT-SELF-HOSTED", api, item)


@pytest.mark.parametrize("presentation", list(tables.UNAUTHENTICATED), ids=list(tables.UNAUTHENTICATED))
@pytest.mark.req("STOP-ERR-UNAUTHENTICATED", "STOP-ERR-ENVELOPE")
def test_unauthenticated(presentation: str, settings, provision, api, check) -> None:
    item = provision("active")
    headers = {**JSON, **tables.UNAUTHENTICATED[presentation](settings.pat)}
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers=headers, token=None)
    expect_error(check, "STOP-ERR-UNAUTHENTICATED", response)
    expect_untouched(check, "STOP-ERR-UNAUTHENTICATED", api, item)


@pytest.mark.req("STOP-ERR-X-API-KEY", "STOP-ERR-ENVELOPE")
def test_x_api_key_instead_of_bearer(settings, provision, api, check) -> None:
    item = provision("active")
    headers = {**JSON, "x-api-key": settings.pat}
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers=headers, token=None)
    expect_error(check, "STOP-ERR-X-API-KEY", response)
    expect_untouched(check, "STOP-ERR-X-API-KEY", api, item)


@pytest.mark.req("STOP-ERR-EXPIRED-PAT", "STOP-ERR-ENVELOPE")
def test_expired_pat(settings, provision, api, check) -> None:
    settings.require("expired_pat")
    item = provision("active")
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers=JSON, token=settings.expired_pat)
    expect_error(check, "STOP-ERR-EXPIRED-PAT", response)
    expect_untouched(check, "STOP-ERR-EXPIRED-PAT", api, item)


@pytest.mark.req("STOP-ERR-FORBIDDEN", "STOP-ERR-ENVELOPE")
def test_pat_of_another_principal(settings, provision, api, check) -> None:
    settings.require("forbidden_pat")
    item = provision("active")
    response = api.stop(item["environment_id"], item["id"], content=b"{}", headers=JSON, token=settings.forbidden_pat)
    expect_error(check, "STOP-ERR-FORBIDDEN", response)
    expect_untouched(check, "STOP-ERR-FORBIDDEN", api, item)


@pytest.mark.req("STOP-ERR-NOT-FOUND-ENV", "STOP-ERR-ENVELOPE")
def test_unknown_environment(provision, api, check) -> None:
    item = provision("active")
    response = api.stop(tables.unknown_id("env_"), item["id"], content=b"{}", headers=JSON)
    expect_error(check, "STOP-ERR-NOT-FOUND-ENV", response)
    expect_untouched(check, "STOP-ERR-NOT-FOUND-ENV", api, item)


@pytest.mark.req("STOP-ERR-NOT-FOUND-WORK", "STOP-ERR-ENVELOPE")
def test_unknown_work_item(settings, api, check) -> None:
    response = api.stop(settings.environment_id, tables.unknown_id("work_"), content=b"{}", headers=JSON)
    expect_error(check, "STOP-ERR-NOT-FOUND-WORK", response)


@pytest.mark.req("STOP-ERR-NOT-FOUND-CROSS-ENV", "STOP-ERR-ENVELOPE")
def test_item_addressed_through_another_environment(settings, provision, api, check) -> None:
    settings.require("other_environment_id")
    item = provision("active")
    response = api.stop(settings.other_environment_id, item["id"], content=b'{"force": true}', headers=JSON)
    expect_error(check, "STOP-ERR-NOT-FOUND-CROSS-ENV", response)
    expect_untouched(check, "STOP-ERR-NOT-FOUND-CROSS-ENV", api, item)
