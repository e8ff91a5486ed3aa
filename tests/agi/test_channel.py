"""AgiChannel over a real socket: the exact AGI commands each Channel operation sends, and how replies map."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from ivr.agi.channel import AgiChannel
from ivr.agi.errors import AgiCommandFailed, AgiDeadChannel, AgiHangup, AgiInvalidCommand, AgiUsageError
from ivr.channel import (
    Channel,
    ChannelGone,
    ChannelHungUp,
    DigitsResult,
    Direction,
    OperationFailed,
    Unsupported,
)
from tests.plugins.fake_agi import Pair

T = TypeVar("T")


async def run(op: Awaitable[T]) -> asyncio.Task[T]:
    task = asyncio.ensure_future(op)
    await asyncio.sleep(0)
    return task


@pytest.fixture
def chan(pair: Pair) -> AgiChannel:
    return AgiChannel(pair.conn, pair.env, recording_dir="/rec", variables={"lang": "zh"})


def test_implements_the_channel_protocol(chan: AgiChannel) -> None:
    assert isinstance(chan, Channel)
    assert chan.id == "1763900000.17"
    assert chan.info.protocol == "agi"
    assert chan.info.caller_number == "13800138000"
    assert chan.info.variables == {"lang": "zh"}


async def test_answer(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.answer())
    assert await pair.fake.answer("200 result=0") == "ANSWER"
    await task


async def test_play_each_media_kind(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.play(["sound:hello-world", "digits:123", "number:42", "file:/srv/p/greet.wav",
                                "recording:vm/abc"]))
    assert await pair.fake.answer("200 result=0 endpos=8000") == "STREAM FILE hello-world 0123456789*#"
    assert await pair.fake.answer("200 result=0") == 'SAY DIGITS 123 ""'
    assert await pair.fake.answer("200 result=0") == 'SAY NUMBER 42 ""'
    assert await pair.fake.answer("200 result=0 endpos=100") == "STREAM FILE /srv/p/greet 0123456789*#"
    assert await pair.fake.answer("200 result=0 endpos=100") == "STREAM FILE /rec/vm/abc 0123456789*#"
    assert await task is None


async def test_keys_during_an_uninterruptible_prompt_resume_it_and_are_kept(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.play(["sound:notice", "sound:more"]))
    assert await pair.fake.answer(f"200 result={ord('2')} endpos=4000") == "STREAM FILE notice 0123456789*#"
    # The notice goes on from where the key stopped it; Asterisk would have dropped a key it did not escape on.
    assert await pair.fake.answer(f"200 result={ord('1')} endpos=6000") == "STREAM FILE notice 0123456789*# 4000"
    assert await pair.fake.answer("200 result=0 endpos=9000") == "STREAM FILE notice 0123456789*# 6000"
    assert await pair.fake.answer("200 result=0 endpos=800") == "STREAM FILE more 0123456789*#"
    assert await task is None
    # The next listening prompt is skipped by the waiting keys; the input gets both, in order.
    assert await chan.play(["sound:menu"], interrupt_dtmf=True) == "2"
    task2 = await run(chan.collect_digits(max_digits=2, first_timeout=5, prompt=["sound:menu"]))
    assert await task2 == DigitsResult("21", timed_out=False)


async def test_interrupted_prompt_returns_the_key_and_keeps_it(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.play(["sound:menu", "sound:never-played"], interrupt_dtmf=True))
    assert await pair.fake.answer("200 result=50 endpos=4000") == "STREAM FILE menu 0123456789*#"
    assert await task == "2"
    # The key that stopped the prompt is the first collected digit; no WAIT FOR DIGIT needed for it.
    task2 = await run(chan.collect_digits(max_digits=1, first_timeout=5))
    assert await task2 == DigitsResult("2", timed_out=False)


@pytest.mark.parametrize("uri", ["video:x", "sound:", "file:relative/path", "digits:12a", "number:1e5", "plain"])
async def test_unplayable_media_is_refused_before_anything_plays(chan: AgiChannel, uri: str) -> None:
    with pytest.raises(Unsupported):
        await chan.play(["sound:ok", uri])


async def test_collect_digits_with_prompt_terminator(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.collect_digits(max_digits=6, first_timeout=5, inter_timeout=2, prompt=["sound:enter"]))
    assert await pair.fake.answer("200 result=0 endpos=16000") == "STREAM FILE enter 0123456789*#"
    assert await pair.fake.answer(f"200 result={ord('4')}") == "WAIT FOR DIGIT 5000"
    assert await pair.fake.answer(f"200 result={ord('2')}") == "WAIT FOR DIGIT 2000"
    assert await pair.fake.answer(f"200 result={ord('#')}") == "WAIT FOR DIGIT 2000"
    assert await task == DigitsResult("42", timed_out=False)


async def test_collect_digits_timeout_and_custom_terminator(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.collect_digits(max_digits=4, first_timeout=1.5, terminators="*"))
    await pair.fake.answer(f"200 result={ord('#')}")  # '#' is a digit when it is not a terminator
    await pair.fake.answer("200 result=0")  # inter-digit timeout
    assert await task == DigitsResult("#", timed_out=True)


async def test_collect_digits_stops_at_max(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.collect_digits(max_digits=2, first_timeout=3))
    await pair.fake.answer(f"200 result={ord('9')}")
    await pair.fake.answer(f"200 result={ord('8')}")
    assert await task == DigitsResult("98", timed_out=False)


async def test_failure_without_hangup_is_operation_failed(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.play(["sound:missing-file"]))
    await pair.fake.answer("200 result=-1 endpos=0")  # file not found
    assert await pair.fake.answer("200 result=0") == "NOOP"
    with pytest.raises(AgiCommandFailed) as info:
        await task
    assert isinstance(info.value, OperationFailed) and not chan.hung_up


async def test_failure_followed_by_hangup_notice_is_a_hangup(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.play(["sound:long-prompt"]))
    await pair.fake.answer("200 result=-1 endpos=3000")
    # Asterisk writes HANGUP before it reads the next command, so it precedes the NOOP's reply.
    assert await pair.fake.answer("HANGUP", "200 result=0") == "NOOP"
    with pytest.raises(ChannelHungUp):
        await task
    assert chan.hung_up


async def test_hangup_notice_then_dead_channel(chan: AgiChannel, pair: Pair) -> None:
    await pair.fake.reply("HANGUP")
    task = await run(chan.play(["sound:x"]))
    await pair.fake.answer("511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(AgiDeadChannel) as info:
        await task
    assert isinstance(info.value, ChannelGone) and chan.hung_up


@pytest.mark.parametrize("reply, exc", [
    (["510 Invalid or unknown command"], AgiInvalidCommand),
    (["520-Invalid command syntax.  Proper usage follows:", "Usage: X", "520 End of proper usage."],
     AgiUsageError),
])
async def test_protocol_refusals(chan: AgiChannel, pair: Pair, reply: list[str], exc: type[Exception]) -> None:
    task = await run(chan.set_variable("X", "1"))
    await pair.fake.answer(*reply)
    with pytest.raises(exc):
        await task


async def test_caller_hangs_up_mid_command(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.collect_digits(max_digits=4, first_timeout=10))
    assert await pair.fake.command() == "WAIT FOR DIGIT 10000"
    await pair.fake.close()  # Asterisk tore the session down without replying
    with pytest.raises(ChannelHungUp):
        await task
    assert chan.hung_up


async def test_variables_with_hostile_values(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.set_variable("NOTE", '停气 "今晚" \\ ${X}'))
    assert await pair.fake.answer() == 'SET VARIABLE NOTE "停气 \\"今晚\\" \\\\ ${X}"'
    await task
    with pytest.raises(ValueError):
        await chan.set_variable("NOTE", "a\nHANGUP")
    with pytest.raises(ValueError):
        await chan.set_variable("BAD NAME", "x")


async def test_get_variable(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.get_variable("CALLERID(num)"))
    assert await pair.fake.answer("200 result=1 (13800138000)") == "GET VARIABLE CALLERID(num)"
    assert await task == "13800138000"
    task = await run(chan.get_variable("UNSET"))
    await pair.fake.answer("200 result=0")
    assert await task is None
    task = await run(chan.get_variable("EMPTY"))
    await pair.fake.answer("200 result=1 ()")
    assert await task == ""


async def test_record_keeps_the_message_when_the_caller_hangs_up(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.record("vm/123", max_seconds=60, silence_seconds=3))
    assert await pair.fake.answer("200 result=-1 (hangup) endpos=24000") == \
        "RECORD FILE /rec/vm/123 wav # 60000 BEEP s=3"
    assert await task == "/rec/vm/123.wav"
    assert chan.hung_up


async def test_record_without_beep_and_write_failure(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.record("msg", max_seconds=5, silence_seconds=0, beep=False))
    assert await pair.fake.answer("200 result=-1 (writefile)") == "RECORD FILE /rec/msg wav # 5000"
    with pytest.raises(OperationFailed):
        await task
    with pytest.raises(ValueError):
        await chan.record("../etc/passwd", max_seconds=5)


async def test_two_track_recording_with_mixmonitor(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.start_call_recording("call-7"))
    assert await pair.fake.answer("200 result=0") == (
        'EXEC MixMonitor /rec/call-7-mixed.wav,r(/rec/call-7-caller.wav)t(/rec/call-7-agent.wav)'
        'i(HOTLINE_MIXMON_call_7)')
    assert await pair.fake.answer("200 result=1 (0x7f00aa)") == "GET VARIABLE HOTLINE_MIXMON_call_7"
    handle = await task
    assert handle.paths[Direction.CALLER] == "/rec/call-7-caller.wav"
    assert handle.paths[Direction.AGENT] == "/rec/call-7-agent.wav"
    assert handle.paths[Direction.MIXED] == "/rec/call-7-mixed.wav"
    task2 = await run(chan.stop_call_recording(handle))
    assert await pair.fake.answer("200 result=0") == "EXEC StopMixMonitor 0x7f00aa"
    await task2


async def test_missing_application_is_operation_failed(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.start_moh("default"))
    assert await pair.fake.answer("200 result=-2") == "EXEC StartMusicOnHold default"
    with pytest.raises(OperationFailed):
        await task


async def test_hold_is_music_on_hold(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.hold())
    assert await pair.fake.answer("200 result=0") == "EXEC StartMusicOnHold default"
    await task
    task = await run(chan.unhold())
    assert await pair.fake.answer("200 result=0") == 'EXEC StopMusicOnHold ""'
    await task


@pytest.mark.parametrize("status, app", [("6", 'EXEC Playtones ring'), ("4", 'EXEC Ringing ""')])
async def test_ring_depends_on_channel_state(chan: AgiChannel, pair: Pair, status: str, app: str) -> None:
    task = await run(chan.ring())
    assert await pair.fake.answer(f"200 result={status}") == "CHANNEL STATUS"
    assert await pair.fake.answer("200 result=0") == app
    await task


async def test_bridge_is_unsupported(chan: AgiChannel) -> None:
    with pytest.raises(Unsupported):
        await chan.bridge_with(chan)


async def test_transfer_sets_location_and_ends_the_session(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.transfer("hotline-queues", "special", 2))
    assert await pair.fake.answer("200 result=0") == "SET CONTEXT hotline-queues"
    assert await pair.fake.answer("200 result=0") == "SET EXTENSION special"
    assert await pair.fake.answer("200 result=0") == "SET PRIORITY 2"
    await task
    assert await pair.fake.wait_closed_by_server() == b""
    assert chan.released and not chan.hung_up
    with pytest.raises(ChannelGone):
        await chan.answer()


async def test_continue_in_dialplan_without_target_is_the_fallback(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.continue_in_dialplan())
    assert await pair.fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    await task
    assert await pair.fake.wait_closed_by_server() == b""


async def test_transfer_refuses_injection(chan: AgiChannel) -> None:
    with pytest.raises(ValueError):
        await chan.transfer("ctx,evil", "s")
    with pytest.raises(ValueError):
        await chan.transfer("ctx", "s", 0)


async def test_hangup_with_cause_and_idempotent(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.hangup("busy"))
    assert await pair.fake.answer("200 result=-1") == "EXEC Hangup 17"
    await task
    assert chan.hung_up and chan.hung_up_by_us
    await chan.hangup()  # no second command


async def test_normal_hangup_on_dead_channel(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.hangup())
    assert await pair.fake.answer("511 Command Not Permitted on a dead channel") == "HANGUP"
    await task
    assert chan.hung_up


async def test_cancelled_command_does_not_shift_replies(chan: AgiChannel, pair: Pair) -> None:
    task = await run(chan.collect_digits(max_digits=1, first_timeout=30))
    assert await pair.fake.command() == "WAIT FOR DIGIT 30000"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The late reply of the cancelled command must not be taken as the next command's reply.
    task2 = await run(chan.get_variable("X"))
    await pair.fake.reply("200 result=0")
    assert await pair.fake.answer("200 result=1 (value)") == "GET VARIABLE X"
    assert await task2 == "value"


async def test_closed_session_is_a_hangup(chan: AgiChannel, pair: Pair) -> None:
    await pair.conn.close()
    with pytest.raises(AgiHangup):
        await chan.answer()
