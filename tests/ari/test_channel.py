"""AriChannel, the Channel interface over ARI, against the fake ARI (no call service involved)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import AsyncIterator

import pytest

from ivr.ari import events as ev
from ivr.ari.channel import AriChannel
from ivr.ari.client import AriClient
from tests.fakes.ari import FakeAri
from ivr.ari.media import MediaError
from ivr.ari.session import AriSession
from ivr.channel import Channel, ChannelHungUp, Direction, OperationFailed, Unsupported
from tests.plugins.fake_ari import guard, until


class Stasis:
    """A connected session; `call()` places an inbound call on the fake and returns its AriChannel."""

    def __init__(self, fake: FakeAri, client: AriClient) -> None:
        self.fake = fake
        self.client = client
        self.session = AriSession(client, "hotline")
        self.starts: dict[str, ev.StasisStart] = {}
        self.session.router.add_sink(self._sink)

    def _sink(self, event: ev.Event) -> None:
        if isinstance(event, ev.StasisStart):
            self.starts[event.channel.id] = event

    def channel(self, cid: str) -> AriChannel:
        ch = AriChannel(self.client, self.session.router, self.starts[cid].channel, app="hotline",
                        recording_dir=self.fake.recording_dir, asterisk_path=lambda p: "/ast" + p)
        ch.attach()
        return ch

    async def call(self, caller: str = "13800000000") -> AriChannel:
        cid = await self.fake.inbound_call(caller=caller)
        await until(lambda: cid in self.starts, "StasisStart")
        return self.channel(cid)

    def sent(self, suffix: str) -> list[dict[str, str]]:
        return [params for _, path, params in self.fake.requests if path.endswith(suffix)]


@pytest.fixture
async def stasis(fake: FakeAri, client: AriClient) -> AsyncIterator[Stasis]:
    s = Stasis(fake, client)
    s.session.start()
    await guard(s.session.connected.wait(), "websocket")
    try:
        yield s
    finally:
        await s.session.stop()


async def test_implements_the_channel_protocol(stasis: Stasis) -> None:
    ch = await stasis.call("13900000001")
    assert isinstance(ch, Channel)
    assert ch.info.caller_number == "13900000001" and ch.info.protocol == "ari" and ch.info.dialed == "95598"
    assert not ch.hung_up


async def test_answer_and_play_waits_for_the_end(stasis: Stasis) -> None:
    ch = await stasis.call()
    await ch.answer()
    assert await ch.play(["sound:hello-world", "digits:123", "number:42", "file:/srv/prompts/welcome.wav"]) \
        is None
    assert stasis.sent("/play/" + stasis.fake.requests[-1][1].rsplit("/", 1)[1])[0]["media"] == \
        "sound:hello-world,digits:123,number:42,sound:/ast/srv/prompts/welcome"
    assert ch.state == "Up"


async def test_failed_playback_raises(stasis: Stasis) -> None:
    ch = await stasis.call()
    with pytest.raises(OperationFailed, match="sound:missing-prompt"):
        await ch.play(["sound:missing-prompt"])


@pytest.mark.parametrize("media", [["digits:12x"], ["number:4.5"], ["ftp:x"], ["file:relative.wav"],
                                   ["sound:a,b"], "sound:not-a-list"])
async def test_bad_media_is_refused_before_asterisk(stasis: Stasis, media: list[str]) -> None:
    ch = await stasis.call()
    before = len(stasis.fake.requests)
    with pytest.raises(MediaError):
        await ch.play(media)
    assert len(stasis.fake.requests) == before


async def test_a_key_interrupts_the_prompt_and_is_kept(stasis: Stasis) -> None:
    ch = await stasis.call()
    stasis.fake.hold_media.add("sound:long-menu")
    task = asyncio.create_task(ch.play(["sound:long-menu"], interrupt_dtmf=True))
    await until(lambda: stasis.fake.playbacks, "playback started")
    await stasis.fake.press(ch.id, "2")
    assert await guard(task) == "2"
    assert stasis.fake.playbacks == {}  # stopped, not left running
    result = await ch.collect_digits(max_digits=1, first_timeout=5)
    assert result.digits == "2" and not result.timed_out


async def test_keys_during_an_uninterruptible_prompt_are_kept_for_the_next_input(stasis: Stasis) -> None:
    ch = await stasis.call()
    stasis.fake.hold_media.add("sound:notice")
    task = asyncio.create_task(ch.play(["sound:notice"]))
    await until(lambda: stasis.fake.playbacks, "playback started")
    await stasis.fake.press(ch.id, "21")
    await until(lambda: len(ch._dtmf) == 2, "keys arrived")
    assert stasis.fake.playbacks  # the notice goes on: it does not stop for keys
    await stasis.fake.finish_playbacks()
    assert await guard(task) is None
    # The next prompt that listens is skipped by the waiting key, and both keys reach the input (type-ahead).
    assert await ch.play(["sound:menu"], interrupt_dtmf=True) == "2"
    result = await ch.collect_digits(max_digits=2, first_timeout=5, prompt=["sound:menu"])
    assert (result.digits, result.timed_out) == ("21", False)


async def test_collect_digits_terminator_max_and_timeouts(stasis: Stasis) -> None:
    ch = await stasis.call()
    await stasis.fake.press(ch.id, "1234#")
    r = await ch.collect_digits(max_digits=10, first_timeout=5, terminators="#")
    assert (r.digits, r.timed_out) == ("1234", False)
    await stasis.fake.press(ch.id, "98765")
    r = await ch.collect_digits(max_digits=3, first_timeout=5)
    assert (r.digits, r.timed_out) == ("987", False)
    r = await ch.collect_digits(max_digits=5, first_timeout=5, inter_timeout=0.05)
    assert (r.digits, r.timed_out) == ("65", True)  # type-ahead kept, then the inter-digit timeout
    r = await ch.collect_digits(max_digits=5, first_timeout=0.05)
    assert (r.digits, r.timed_out) == ("", True)


async def test_collect_with_prompt(stasis: Stasis) -> None:
    ch = await stasis.call()
    stasis.fake.hold_media.add("sound:enter-account")
    task = asyncio.create_task(ch.collect_digits(max_digits=4, first_timeout=5, prompt=["sound:enter-account"]))
    await until(lambda: stasis.fake.playbacks, "prompt playing")
    await stasis.fake.press(ch.id, "5678")
    result = await guard(task)
    assert result.digits == "5678"


async def test_hang_up_during_an_operation_raises_channel_hung_up(stasis: Stasis) -> None:
    ch = await stasis.call()
    stasis.fake.hold_media.add("sound:forever")
    task = asyncio.create_task(ch.play(["sound:forever"]))
    await until(lambda: stasis.fake.playbacks, "playback started")
    await stasis.fake.caller_hangup(ch.id)
    with pytest.raises(ChannelHungUp):
        await guard(task)
    assert ch.hung_up
    with pytest.raises(ChannelHungUp):
        await ch.collect_digits(max_digits=1, first_timeout=5)
    with pytest.raises(ChannelHungUp):
        await ch.answer()


async def test_a_request_refused_just_before_the_hang_up_event_is_a_hang_up(stasis: Stasis) -> None:
    ch = await stasis.call()
    state = stasis.fake.channels[ch.id]
    app, state.stasis_app = state.stasis_app, None  # the caller hung up; Asterisk's events are on their way
    task = asyncio.create_task(ch.play(["sound:menu"]))
    await until(lambda: any(status == 409 for _, _, status, _ in stasis.fake.rejected), "play refused")
    state.stasis_app = app
    await stasis.fake.caller_hangup(ch.id)
    with pytest.raises(ChannelHungUp):  # not OperationFailed: a hang-up is not our failure
        await guard(task)


async def test_rest_404_means_hung_up(stasis: Stasis) -> None:
    ch = await stasis.call()
    stasis.fake.channels.pop(ch.id)  # gone without an event (e.g. lost during a reconnect)
    with pytest.raises(ChannelHungUp):
        await ch.ring()
    assert ch.hung_up


async def test_record_returns_the_file(stasis: Stasis) -> None:
    ch = await stasis.call()
    task = asyncio.create_task(ch.record("voicemail-1", max_seconds=30, silence_seconds=2.5, beep=True))
    await until(lambda: "voicemail-1" in stasis.fake.recordings, "recording")
    await stasis.fake.press(ch.id, "#")  # terminateOn '#'
    path = await guard(task)
    assert path == str(stasis.fake.recording_dir / "voicemail-1.wav") and Path(path).is_file()
    params = stasis.sent("/record")[0]
    assert params["maxDurationSeconds"] == "30" and params["maxSilenceSeconds"] == "3"
    assert params["beep"] == "true" and params["terminateOn"] == "#" and params["format"] == "wav"


async def test_record_keeps_a_message_left_before_hanging_up(stasis: Stasis) -> None:
    ch = await stasis.call()
    task = asyncio.create_task(ch.record("voicemail-2", max_seconds=30))
    await until(lambda: "voicemail-2" in stasis.fake.recordings, "recording")
    await stasis.fake.caller_hangup(ch.id)
    assert Path(await guard(task)).is_file()


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a b", "x" * 200])
async def test_record_name_is_checked(stasis: Stasis, name: str) -> None:
    ch = await stasis.call()
    with pytest.raises(ValueError):
        await ch.record(name, max_seconds=5)


async def test_two_track_recording_via_snoops(stasis: Stasis) -> None:
    ch = await stasis.call()
    await ch.answer()
    handle = await ch.start_call_recording("call-abc")
    assert await ch.start_call_recording("call-abc") is handle  # idempotent
    spies = sorted(p["spy"] for _, path, p in stasis.fake.requests if "/snoop/" in path)
    assert spies == ["in", "out"]  # one snoop per direction, created once
    by_spy = {p["spy"]: p for _, path, p in stasis.fake.requests if "/snoop/" in path}
    assert by_spy["in"]["appArgs"] == f"snoop,{ch.id},caller"
    assert by_spy["out"]["appArgs"] == f"snoop,{ch.id},agent"
    assert handle.paths[Direction.CALLER].endswith("call-abc-caller.wav")
    assert handle.paths[Direction.AGENT].endswith("call-abc-agent.wav")
    assert handle.paths[Direction.MIXED].endswith("call-abc-mixed.wav")
    await ch.stop_call_recording(handle)
    for d in (Direction.CALLER, Direction.AGENT):
        with wave.open(handle.paths[d]) as w:
            assert w.getnframes() > 0
    assert not [c for c in stasis.fake.channels.values() if c.snoop_target]


async def test_bridge_hold_moh_ring_variables(stasis: Stasis) -> None:
    a = await stasis.call("13800000001")
    b = await stasis.call("13800000002")
    bridge_id = await a.bridge_with(b)
    assert stasis.fake.bridges[bridge_id] == [a.id, b.id]
    await until(lambda: bridge_id in a.bridges, "ChannelEnteredBridge")
    await a.hold()
    await a.unhold()
    await a.start_moh("default")
    await a.stop_moh()
    await a.ring()
    await a.stop_ring()
    await a.set_variable("HOTLINE_X", "1")
    assert await a.get_variable("HOTLINE_X") == "1"
    assert await a.get_variable("NOT_SET") is None
    paths = [path for _, path, _ in stasis.fake.requests]
    for suffix in ("/hold", "/moh", "/ring"):
        assert sum(p.endswith(suffix) for p in paths) == 2, suffix
    await a.close()
    assert bridge_id not in stasis.fake.bridges  # we created it, we clean it up


async def test_bridge_with_a_gone_channel(stasis: Stasis) -> None:
    a = await stasis.call()
    b = await stasis.call()
    await stasis.fake.caller_hangup(b.id)
    await until(lambda: b.hung_up, "b hung up")
    with pytest.raises(ChannelHungUp):
        await a.bridge_with(b)
    assert stasis.fake.bridges == {}


async def test_bridge_needs_an_ari_channel(stasis: Stasis) -> None:
    a = await stasis.call()
    with pytest.raises(Unsupported):
        await a.bridge_with(object())  # type: ignore[arg-type]


async def test_continue_and_transfer(stasis: Stasis) -> None:
    a = await stasis.call()
    await a.continue_in_dialplan()
    await until(lambda: not a.in_app, "StasisEnd")
    assert not a.hung_up
    with pytest.raises(OperationFailed, match="left the application"):
        await a.play(["sound:x"])
    b = await stasis.call()
    await b.transfer("hotline-fallback", "s", 1)
    assert stasis.fake.dialplan[-1]["context"] == "hotline-fallback"
    assert stasis.fake.dialplan[-1]["extension"] == "s"


async def test_hangup(stasis: Stasis) -> None:
    ch = await stasis.call()
    with pytest.raises(ValueError, match="rude"):
        await ch.hangup("rude")
    await ch.hangup("normal")
    assert ch.system_hangup
    await until(lambda: ch.hung_up, "hang-up events")
    await ch.hangup()  # already gone: not an error

