"""Event parsing against what Asterisk 22 really sends (samples/asterisk22.jsonl, captured by capture.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.ari import events as ev
from ivr.ari.spec import ApiSpec

SAMPLES = Path(__file__).with_name("samples") / "asterisk22.jsonl"


def _lines() -> list[str]:
    return [line for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first(kind: str, pred=lambda d: True) -> ev.Event:  # type: ignore[no-untyped-def]
    for line in _lines():
        data = json.loads(line)
        if data["type"] == kind and pred(data):
            return ev.parse_event(line)
    raise AssertionError(f"no {kind} in the samples")


def test_every_real_event_parses_without_error() -> None:
    lines = _lines()
    assert len(lines) > 50
    for line in lines:
        event = ev.parse_event(line)
        assert not (isinstance(event, ev.UnknownEvent) and event.error), (event, line[:200])
        assert event.type == json.loads(line)["type"]
        assert event.timestamp is not None and event.timestamp.tzinfo is not None
        assert event.application == "hotline"


def test_every_real_event_matches_the_api_description() -> None:
    spec = ApiSpec.load()
    for line in _lines():
        spec.validate_event(json.loads(line))


def test_stasis_start_args_and_channel() -> None:
    event = _first("StasisStart", lambda d: d["args"][:1] == ["inbound"])
    assert isinstance(event, ev.StasisStart)
    assert event.args == ("inbound", "95598")
    assert event.channel.caller.number == "13800000000"
    assert event.channel.dialplan.app_name == "Stasis"
    assert event.channel.stasis_args("hotline") == ("inbound", "95598")
    assert event.channel.stasis_args("other-app") is None
    assert event.targets == (f"channel:{event.channel.id}",)


def test_hangup_request_remote_versus_ours() -> None:
    remote = _first("ChannelHangupRequest", lambda d: "soft" not in d)
    assert isinstance(remote, ev.ChannelHangupRequest)
    assert remote.cause == 16 and remote.soft is None and remote.cause_txt == "Normal Clearing"
    ours = _first("ChannelHangupRequest", lambda d: d.get("soft") is True)
    assert isinstance(ours, ev.ChannelHangupRequest) and ours.soft is True


def test_channel_destroyed_cause() -> None:
    event = _first("ChannelDestroyed")
    assert isinstance(event, ev.ChannelDestroyed)
    assert event.cause == 16 and event.cause_txt == "Normal Clearing"


def test_dtmf_playback_recording_bridge() -> None:
    dtmf = _first("ChannelDtmfReceived")
    assert isinstance(dtmf, ev.ChannelDtmfReceived) and dtmf.digit == "1" and dtmf.duration_ms > 0
    failed = _first("PlaybackFinished", lambda d: d["playback"]["state"] == "failed")
    assert isinstance(failed, ev.PlaybackFinished)
    assert failed.playback.media_uri == "sound:missing-sound-xyz"
    assert failed.targets == (failed.playback.target_uri,) and failed.targets[0].startswith("channel:")
    rec = _first("RecordingFinished")
    assert isinstance(rec, ev.RecordingFinished)
    assert rec.recording.state == "done" and rec.recording.duration is not None
    assert rec.targets == ("channel:sample-snoop-in",)
    entered = _first("ChannelEnteredBridge", lambda d: d["channel"]["id"] == "sample-agent-leg")
    assert isinstance(entered, ev.ChannelEnteredBridge) and entered.channel is not None
    assert entered.bridge.channels[-1] == "sample-agent-leg"
    assert set(entered.targets) == {"bridge:sample-bridge", "channel:sample-agent-leg"}


def test_dial_and_varset() -> None:
    dial = _first("Dial")
    assert isinstance(dial, ev.Dial) and dial.peer.id and dial.caller is None
    varset = _first("ChannelVarset", lambda d: d["variable"] == "HOTLINE_CONTINUE")
    assert isinstance(varset, ev.ChannelVarset) and varset.value == "fallback"


def test_unmodelled_type_is_unknown_without_error() -> None:
    event = ev.parse_event({"type": "ChannelTalkingGossip", "application": "hotline",
                            "timestamp": "2026-11-23T18:18:04.828+0000"})
    assert isinstance(event, ev.UnknownEvent) and event.type == "ChannelTalkingGossip" and event.error == ""


@pytest.mark.parametrize("raw,needle", [
    ("not json at all", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"no_type": 1}', "no 'type'"),
    ('{"type": "StasisStart", "args": []}', "missing field 'channel'"),
    ('{"type": "ChannelDtmfReceived", "digit": 5, "duration_ms": 1, "channel": {"id": "x"}}', "digit"),
    ('{"type": "StasisEnd", "timestamp": "yesterday", "channel": {"id": "x"}}', "not a date"),
    ('{"type": "ChannelDestroyed", "cause": 16, "channel": {"id": "x"}}', "cause_txt"),
])
def test_odd_frames_become_unknown_events_with_a_reason(raw: str | bytes, needle: str) -> None:
    event = ev.parse_event(raw)
    assert isinstance(event, ev.UnknownEvent)
    assert needle in event.error


def test_every_modelled_type_is_in_the_api_description() -> None:
    spec = ApiSpec.load()
    assert ev.MODELLED_TYPES <= spec.event_types
