"""Requests are checked against Asterisk's own API description before they leave the process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.ari.client import AriClient
from tests.fakes.ari import FakeAri
from ivr.ari.spec import PACKAGED_DOCS, REFERENCE_DOCS, RESOURCE_FILES, ApiSpec, SpecError, SpecViolation


@pytest.fixture(scope="module")
def spec() -> ApiSpec:
    return ApiSpec.load()


def test_packaged_copy_matches_the_reference() -> None:
    if not REFERENCE_DOCS.is_dir():
        pytest.skip(f"no reference tree at {REFERENCE_DOCS} (installed package): nothing to compare")
    for name in (*RESOURCE_FILES, "resources"):
        ours = json.loads((PACKAGED_DOCS / f"{name}.json").read_text(encoding="utf-8"))
        ref = json.loads((REFERENCE_DOCS / f"{name}.json").read_text(encoding="utf-8"))
        assert ours == ref, f"ivr/ari/api_docs/{name}.json differs from {REFERENCE_DOCS / name}.json: copy it again"


def test_packaged_copy_loads_on_its_own() -> None:
    packaged = ApiSpec.load(PACKAGED_DOCS)
    assert packaged.source == PACKAGED_DOCS
    assert "StasisStart" in packaged.event_types
    assert packaged.match("POST", "/channels/abc/continue")[0].nickname == "continueInDialplan"


def test_missing_docs_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="applications.json is missing"):
        ApiSpec.load(tmp_path)


def test_literal_paths_win_over_templates(spec: ApiSpec) -> None:
    assert spec.match("POST", "/channels/create")[0].nickname == "create"
    assert spec.match("POST", "/channels/externalMedia")[0].nickname == "externalMedia"
    op, values = spec.match("POST", "/channels/1700.12")
    assert op.nickname == "originateWithId" and values == {"channelId": "1700.12"}


@pytest.mark.parametrize("method,path,params,message,status", [
    ("GET", "/nowhere", {}, "no such ARI resource", 404),
    ("PUT", "/channels", {}, "method not allowed", 405),
    ("POST", "/channels/c1/play", {}, "missing required parameter 'media'", 400),
    ("POST", "/channels/c1/play", {"media": "sound:x", "volume": "11"}, "unknown parameter 'volume'", 400),
    ("POST", "/channels/c1/record", {"name": "r", "format": "wav", "ifExists": "clobber"},
     "'ifExists' = 'clobber' is not one of fail, overwrite, append", 400),
    ("POST", "/channels/c1/record", {"name": "r", "format": "wav", "maxDurationSeconds": -5},
     "below the minimum", 400),
    ("POST", "/channels/c1/record", {"name": "r", "format": "wav", "beep": "yes"}, "must be true or false", 400),
    ("POST", "/channels/c1/snoop", {"spy": "sideways", "app": "hotline"}, "'spy' = 'sideways'", 400),
    ("POST", "/channels/c1/snoop", {"spy": "in"}, "missing required parameter 'app'", 400),
    ("DELETE", "/channels/c1", {"reason": "rude"}, "'reason' = 'rude'", 400),
    ("POST", "/channels/c1/continue", {"priority": "two"}, "must be an integer", 400),
    ("POST", "/channels/c1/dtmf", {"dtmf": "1", "between": True}, "must be an integer", 400),
])
def test_bad_requests_are_refused_with_a_reason(spec: ApiSpec, method: str, path: str, params: dict[str, object],
                                                message: str, status: int) -> None:
    with pytest.raises(SpecViolation) as info:
        spec.validate(method, path, params)
    assert message in str(info.value)
    assert info.value.status == status


def test_good_requests_pass(spec: ApiSpec) -> None:
    spec.validate("POST", "/channels/c1/play/pb-1", {"media": ["sound:hello-world", "digits:123"]})
    spec.validate("POST", "/channels/c1/snoop/s1", {"spy": "in", "whisper": "none", "app": "hotline",
                                                    "appArgs": "snoop,c1,caller"})
    spec.validate("POST", "/channels/c1/record", {"name": "r", "format": "wav", "maxDurationSeconds": 30,
                                                  "beep": False, "terminateOn": "#"})
    spec.validate("POST", "/channels", {"endpoint": "PJSIP/agent-1001", "app": "hotline"},
                  {"variables": {"HOTLINE_CALL": "x"}})
    spec.validate("GET", "/events", {"app": "hotline", "subscribeAll": False})


def test_body_rules(spec: ApiSpec) -> None:
    with pytest.raises(SpecViolation, match="takes no request body"):
        spec.validate("POST", "/channels/c1/answer", {}, {"x": 1})
    with pytest.raises(SpecViolation, match="missing required body 'variables'"):
        spec.validate("POST", "/channels/c1/variables", {})


def test_encode_params(spec: ApiSpec) -> None:
    assert spec.encode_params({"media": ["sound:a", "digits:1"], "beep": True, "n": 3, "skip": None}) == \
        {"media": "sound:a,digits:1", "beep": "true", "n": "3"}


def test_event_validation_catches_invented_fields(spec: ApiSpec) -> None:
    with pytest.raises(SpecViolation, match="not in events.json"):
        spec.validate_event({"type": "ChannelGossip"})
    with pytest.raises(SpecViolation, match="missing required field 'digit'"):
        spec.validate_event({"type": "ChannelDtmfReceived", "application": "a", "timestamp": "t",
                             "duration_ms": 1, "channel": {}})
    with pytest.raises(SpecViolation, match="fields not in the API description: colour"):
        spec.validate_event({"type": "ApplicationReplaced", "application": "a", "timestamp": "t", "colour": 1})


async def test_client_refuses_before_sending(fake: FakeAri, client: AriClient) -> None:
    with pytest.raises(SpecViolation):
        await client.request("POST", "/channels/anything/record", {"name": "x", "format": "wav",
                                                                   "terminateOn": "*#"})
    assert fake.requests == [] and fake.rejected == []


async def test_fake_refuses_what_asterisk_refuses(fake: FakeAri) -> None:
    import aiohttp

    from ivr.ari.client import basic_auth_header

    async with aiohttp.ClientSession(headers={"Authorization": basic_auth_header(fake.user, fake.password)}) as s:
        async with s.post(f"{fake.url}/ari/channels/c1/record", params={"name": "x"}) as resp:
            assert resp.status == 400
            assert "missing required parameter 'format'" in (await resp.json())["message"]
        async with s.put(f"{fake.url}/ari/channels") as resp:
            assert resp.status == 405
    assert [r[2] for r in fake.rejected] == [400, 405]
