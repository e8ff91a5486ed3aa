"""The pure AGI wire format: environment, replies, error mapping, quoting, line limits, routes."""

from __future__ import annotations

import pytest

from ivr.agi.errors import (
    AgiCommandFailed,
    AgiDeadChannel,
    AgiEncodingError,
    AgiEnvError,
    AgiGarbage,
    AgiHangup,
    AgiInvalidCommand,
    AgiLineTooLong,
    AgiUsageError,
)
from ivr.agi.parser import (
    MAX_COMMAND_BYTES,
    EnvParser,
    LineBuffer,
    ReplyParser,
    encode_command,
    is_hangup_notice,
    parse_env,
    parse_reply,
    parse_route,
    quote_arg,
    raise_for_reply,
)
from ivr.channel import ChannelGone, ChannelHungUp, OperationFailed
from tests.agi.fake_asterisk import asterisk_parse_args, env_block


# --- lines ------------------------------------------------------------------------------------------------


def test_line_buffer_joins_chunks_and_strips_crlf() -> None:
    buf = LineBuffer(64)
    assert buf.feed(b"200 res") == []
    assert buf.feed(b"ult=0\r\nHANG") == [b"200 result=0"]
    assert buf.feed(b"UP\n\n") == [b"HANGUP", b""]
    assert buf.pending == 0


def test_line_buffer_accepts_exactly_the_limit() -> None:
    buf = LineBuffer(16)
    assert buf.feed(b"x" * 16 + b"\n") == [b"x" * 16]


def test_line_buffer_refuses_an_endless_line_without_holding_it() -> None:
    buf = LineBuffer(1024)
    buf.feed(b"x" * 1000)
    with pytest.raises(AgiLineTooLong):
        buf.feed(b"x" * 4096)  # the rest of a 1 MB line arrives in chunks
    assert buf.pending <= 1024


def test_line_buffer_refuses_a_long_line_inside_one_chunk() -> None:
    with pytest.raises(AgiLineTooLong):
        LineBuffer(32).feed(b"ok\n" + b"y" * 40 + b"\nmore\n")


def test_hangup_notice() -> None:
    assert is_hangup_notice(b"HANGUP")
    assert not is_hangup_notice(b"200 result=0 (HANGUP)")


# --- environment ------------------------------------------------------------------------------------------


def _env_lines(script: str = "flow/gas?lang=zh", **overrides: str) -> list[bytes]:
    return env_block(script, overrides).rstrip(b"\n").split(b"\n")


def test_real_environment_block() -> None:
    env = parse_env(_env_lines(agi_arg_1="x y", agi_arg_2=""))
    assert env.uniqueid == "1763900000.17"
    assert env.channel == "Local/gas@hotline-agi-00000001;2"
    assert env.script == "flow/gas?lang=zh"
    assert env.caller_number == "13800138000"
    assert env.caller_name == "张三"
    assert env.dialed == "95598"
    assert env.get("agi_accountcode") == ""  # Asterisk writes "agi_accountcode: " for an empty value
    assert env.args == ["x y", ""]


def test_unknown_caller_id_and_dnid_read_as_empty() -> None:
    env = parse_env(_env_lines(agi_callerid="unknown", agi_dnid="unknown"))
    assert env.caller_number == ""
    assert env.dialed == "gas"  # falls back to the extension


def test_script_from_request_when_not_fastagi() -> None:
    lines = [x for x in _env_lines("lookup") if not x.startswith(b"agi_network_script")]
    assert parse_env(lines).script == "lookup"


def test_env_values_in_gbk_do_not_reject_the_call() -> None:
    lines = _env_lines()
    lines = [b"agi_calleridname: " + "张三".encode("gbk") if x.startswith(b"agi_calleridname") else x
             for x in lines]
    assert "\ufffd" in parse_env(lines).caller_name


@pytest.mark.parametrize("bad, message", [
    (b"hello world", "not an agi_"),
    (b"AGI_CHANNEL: x", "not an agi_"),
    (b"agi_channel x", "not an agi_"),
    (b"\x00\xff\xfe", "not an agi_"),
    (b"GET / HTTP/1.1", "not an agi_"),
])
def test_garbage_environment_line(bad: bytes, message: str) -> None:
    with pytest.raises(AgiEnvError, match=message):
        parse_env([*_env_lines()[:3], bad])


def test_environment_missing_required_keys() -> None:
    with pytest.raises(AgiEnvError, match="agi_channel, agi_uniqueid"):
        parse_env([b"agi_request: agi://127.0.0.1/lookup"])
    with pytest.raises(AgiEnvError, match="lacks"):
        parse_env([])  # a blank first line


def test_environment_duplicate_key() -> None:
    with pytest.raises(AgiEnvError, match="twice"):
        parse_env([*_env_lines(), b"agi_channel: other"])


def test_environment_too_long() -> None:
    parser = EnvParser()
    with pytest.raises(AgiEnvError, match="longer than"):
        for i in range(1000):
            parser.feed(f"agi_arg_{i}: x".encode())


# --- replies ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, code, result, data, extras", [
    (b"200 result=1", 200, "1", None, {}),
    (b"200 result=0 endpos=1234", 200, "0", None, {"endpos": "1234"}),
    (b"200 result=1 (timeout) endpos=1234", 200, "1", "timeout", {"endpos": "1234"}),
    (b"200 result= (timeout)", 200, "", "timeout", {}),  # GET DATA, no key pressed
    (b"200 result=42#", 200, "42#", None, {}),
    (b"200 result=-1 (hangup) endpos=8000", 200, "-1", "hangup", {"endpos": "8000"}),
    ("200 result=1 (您好 (世界) x)".encode(), 200, "1", "您好 (世界) x", {}),  # GET VARIABLE value with parens
    (b"200 result=1 ()", 200, "1", "", {}),
])
def test_200_replies(line: bytes, code: int, result: str, data: str | None, extras: dict[str, str]) -> None:
    reply = parse_reply([line])
    assert (reply.code, reply.result, reply.data, dict(reply.extras)) == (code, result, data, extras)


def test_digit_of_a_reply() -> None:
    assert parse_reply([b"200 result=50 endpos=10"]).digit == "2"
    assert parse_reply([b"200 result=35"]).digit == "#"
    assert parse_reply([b"200 result=0"]).digit is None
    assert parse_reply([b"200 result=-1"]).digit is None


def test_520_usage_over_several_lines() -> None:
    parser = ReplyParser()
    assert parser.feed(b"520-Invalid command syntax.  Proper usage follows:") is None
    assert parser.feed(b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]") is None
    assert parser.feed(b"  Send the given file.") is None
    reply = parser.feed(b"520 End of proper usage.")
    assert reply is not None and reply.code == 520
    assert reply.text.startswith("Usage: STREAM FILE") and "Send the given file." in reply.text


def test_520_usage_without_its_own_newline() -> None:
    reply = parse_reply([b"520-Invalid command syntax.  Proper usage follows:",
                         b"Usage: NOOP520 End of proper usage."])
    assert reply.code == 520 and reply.text == "Usage: NOOP"


def test_520_single_line() -> None:
    assert parse_reply([b"520 Invalid command syntax.  Proper usage not available."]).code == 520


def test_endless_usage_is_garbage() -> None:
    parser = ReplyParser()
    parser.feed(b"520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AgiGarbage):
        for _ in range(1000):
            parser.feed(b"more usage")


@pytest.mark.parametrize("line", [b"", b"hello", b"200", b"200 hello", b"200result=1", b"999 what",
                                  b"404 Not Found", b"\xff\xfe", b"20 result=1", b"200-result=1"])
def test_garbage_replies(line: bytes) -> None:
    with pytest.raises(AgiGarbage):
        parse_reply([line])


# --- result codes -> typed exceptions ---------------------------------------------------------------------


@pytest.mark.parametrize("lines, exc, channel_exc", [
    ([b"510 Invalid or unknown command"], AgiInvalidCommand, OperationFailed),
    ([b"511 Command Not Permitted on a dead channel or intercept routine"], AgiDeadChannel, ChannelGone),
    ([b"520 Invalid command syntax.  Proper usage not available."], AgiUsageError, OperationFailed),
    ([b"520-Invalid command syntax.  Proper usage follows:", b"Usage: X", b"520 End of proper usage."],
     AgiUsageError, OperationFailed),
    ([b"200 result=-1"], AgiCommandFailed, OperationFailed),
    ([b"200 result=-1 (hangup) endpos=0"], AgiHangup, ChannelHungUp),
])
def test_reply_codes_map_to_channel_exceptions(lines: list[bytes], exc: type[Exception],
                                               channel_exc: type[Exception]) -> None:
    with pytest.raises(exc) as info:
        raise_for_reply(parse_reply(lines), "STREAM FILE")
    assert isinstance(info.value, channel_exc)


def test_failure_after_a_hangup_notice_is_a_hangup() -> None:
    with pytest.raises(AgiHangup):
        raise_for_reply(parse_reply([b"200 result=-1 endpos=0"]), "STREAM FILE", hangup_seen=True)


def test_usage_error_keeps_the_usage_text() -> None:
    with pytest.raises(AgiUsageError) as info:
        raise_for_reply(parse_reply([b"520-x", b"Usage: SAY DIGITS <n> <escape>", b"520 End"]), "SAY DIGITS")
    assert info.value.usage == "Usage: SAY DIGITS <n> <escape>"


def test_exec_unknown_application_is_a_failure_when_asked() -> None:
    reply = parse_reply([b"200 result=-2"])
    assert raise_for_reply(reply, "EXEC") is reply
    with pytest.raises(AgiCommandFailed):
        raise_for_reply(reply, "EXEC", failure=("-1", "-2"))


# --- commands ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "plain", "", "two words", 'say "hi"', "back\\slash", "trailing\\", '"', "\\\"", "tab\there",
    "中文 提示", "${EVIL}", "a,b(c)", "  lead and trail  ",
])
def test_quoting_round_trips_through_asterisks_parser(value: str) -> None:
    line = encode_command("SET VARIABLE", "NAME", value).decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert asterisk_parse_args(line[:-1]) == ["SET", "VARIABLE", "NAME", value]


def test_plain_arguments_stay_bare() -> None:
    assert encode_command("STREAM FILE", "hello-world", "") == b'STREAM FILE hello-world ""\n'
    assert encode_command("WAIT FOR DIGIT", 5000) == b"WAIT FOR DIGIT 5000\n"


@pytest.mark.parametrize("value", ["x\nHANGUP", "x\r\nEXEC System rm", "nul\0byte", "\n"])
def test_line_breaks_are_refused(value: str) -> None:
    with pytest.raises(AgiEncodingError):
        quote_arg(value)
    with pytest.raises(AgiEncodingError):
        encode_command("SET VARIABLE", "X", value)


def test_oversized_command_is_refused() -> None:
    # Asterisk would run the tail beyond 2047 bytes as a second command.
    encode_command("VERBOSE", "x" * (MAX_COMMAND_BYTES - len("VERBOSE \n")))
    with pytest.raises(AgiEncodingError, match="2047"):
        encode_command("VERBOSE", "x" * MAX_COMMAND_BYTES)


@pytest.mark.parametrize("verb", ["", "stream file", "EXEC\nHANGUP", "SET  VARIABLE", "NOOP "])
def test_bad_verbs_are_refused(verb: str) -> None:
    with pytest.raises(AgiEncodingError):
        encode_command(verb)


def test_encoding_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        quote_arg("a\nb")


# --- routes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script, kind, name, params", [
    ("lookup", "lookup", "", {}),
    ("/lookup?queue=gas", "lookup", "", {"queue": "gas"}),
    ("flow/gas", "flow", "gas", {}),
    ("flow/water-2?lang=zh&x=", "flow", "water-2", {"lang": "zh", "x": ""}),
    ("flow/", "unknown", "", {}),
    ("flow/../etc", "unknown", "", {}),
    ("flow/Gas", "unknown", "", {}),
    ("ivr", "unknown", "", {}),
    ("", "unknown", "", {}),
])
def test_routes(script: str, kind: str, name: str, params: dict[str, str]) -> None:
    route = parse_route(script)
    assert (route.kind, route.name, dict(route.params)) == (kind, name, params)


def test_route_with_too_many_params_is_unknown() -> None:
    assert parse_route("lookup?" + "&".join(f"k{i}=v" for i in range(100))).kind == "unknown"
