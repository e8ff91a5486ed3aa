"""`hotline call`: the caller scenario, the checks before dialing, and real calls into the fixture Asterisk."""

from __future__ import annotations

import argparse
import re
import secrets
import socket
import time
from pathlib import Path, PurePosixPath

import pytest

from ivr.asterisk import call
from ivr.asterisk.config import Layout, generate
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.asterisk.sipp import uac_scenario
from ivr.cli import main
from ivr.settings import Settings
from tests.plugins.asterisk import settings_for_asterisk


def _args(settings: Settings, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hotline")
    call.add_parser(parser.add_subparsers())
    args = parser.parse_args(["call", *argv])
    args.settings = settings
    return args


def _number() -> str:
    return f"1390000{secrets.randbelow(10000):04d}"


def _config(tmp_path: Path, sip_port: int) -> Path:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text(f"[asterisk]\nsip_port = {sip_port}\n", encoding="utf-8")
    return cfg


# --- without Asterisk -------------------------------------------------------------------------------------


def test_caller_scenario_for_the_cli_dials_literally_and_accepts_an_early_bye() -> None:
    xml = uac_scenario("10#", caller="13800138000", dialed="95598", first_dtmf_ms=8000, dtmf_gap_ms=500,
                       hold_ms=30000, hangup="either")
    assert "INVITE sip:95598@[remote_ip]" in xml and "[service]" not in xml
    assert 'From: "hotline test" <sip:13800138000@' in xml
    # every wait (before each key, and on the line) ends early, without failing, on the far end's BYE
    waits = re.findall(r'<recv request="BYE" timeout="(\d+)" ontimeout="(\w+)" next="far_bye"/>', xml)
    assert waits == [("8000", "key0"), ("500", "key1"), ("500", "key2"), ("30000", "caller_bye")]
    for label in ("key0", "key1", "key2", "caller_bye", "far_bye", "done"):
        assert xml.count(f'<label id="{label}"/>') == 1
    assert [m for m in re.findall(r"dtmf_2833_(\w+)\.pcap", xml)] == ["1", "0", "pound"]
    assert '<recv response="200" crlf="true" next="done"/>' in xml  # our BYE answered: skip far_bye
    with pytest.raises(ValueError, match="dialed"):
        uac_scenario("1", dialed="95598;x")


def test_inbound_caller_endpoint_keeps_the_callers_number() -> None:
    """The From user must reach the dialplan as CALLERID(num): nothing on the endpoint may replace it."""
    files = generate(Settings.model_validate({}), [], Layout("t", PurePosixPath("/x")))
    pj = files["pjsip.conf"]
    caller = pj.split("[hotline-caller]", 1)[1].split("\n[", 1)[0]
    for key in ("callerid", "from_user", "trust_id_inbound", "callerid_privacy"):
        assert f"\n{key} " not in caller


@pytest.mark.parametrize("argv, message", [
    (["--keys", "1A"], "A cannot be pressed"),
    (["--from", "138-0013"], "--from '138-0013': a phone number"),
    (["--to", "9559x"], "--to '9559x'"),
    (["--calls", "0"], "--calls 0: between 1"),
    (["--talk", "-1"], "--talk -1: seconds"),
])
def test_bad_options_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                        message: str) -> None:
    assert main(["--config", str(_config(tmp_path, PortAllocator().udp())), "call", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("hotline call: ") and "Traceback" not in err


def test_asterisk_not_up_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = PortAllocator().udp()
    assert main(["--config", str(_config(tmp_path, port)), "call", "--keys", "10"]) == 2
    err = capsys.readouterr().err
    assert f"Asterisk is not up: nothing listens on udp 127.0.0.1:{port}" in err
    assert "hotline asterisk up" in err


def test_sipp_missing_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--config", str(_config(tmp_path, PortAllocator().udp())), "call"]) == 2
    assert "sipp is not installed (Debian: apt-get install sip-tester)" in capsys.readouterr().err


def test_callers_from_loopback_must_be_accepted() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip:  # "Asterisk" holds the port
        sip.bind(("127.0.0.1", 0))
        port = sip.getsockname()[1]
        settings = Settings.model_validate({"asterisk": {"sip_port": port, "inbound_match": "10.1.2.0/24"}})
        with pytest.raises(call.CallError, match="does not include 127.0.0.1"):
            call.check_asterisk(settings)
        ok = Settings.model_validate({"asterisk": {"sip_port": port, "inbound_match": "10.1.2.3,127.0.0.0/8"}})
        call.check_asterisk(ok)


# --- real calls into the fixture Asterisk (no Stasis app registered: the dialplan fallback answers) -------


def _log_since(asterisk: AsteriskInstance, offset: int, needle: str) -> str:
    """messages.log from `offset` once it holds `needle` (Asterisk's logger thread writes shortly after; the
    deadline only bounds a hang on a busy machine)."""
    deadline = time.monotonic() + 60
    while True:
        text = asterisk.log_file_host.read_bytes()[offset:].decode(errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def _sidecars(asterisk: AsteriskInstance, caller: str) -> list[dict[str, str]]:
    found = []
    for path in asterisk.recordings_dir_host.glob("fallback-*.txt"):
        data = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        if data.get("caller") == caller:
            found.append(data)
    return found


@pytest.mark.asterisk
def test_call_reaches_asterisk_with_caller_number_and_keys(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, capsys: pytest.CaptureFixture[str]) -> None:
    number = _number()
    offset = asterisk.log_file_host.stat().st_size
    args = _args(settings_for_asterisk(asterisk), "--from", number, "--keys", "1", "--wait", "1",
                 "--talk", "1")
    assert call.cmd_call(args, ports=asterisk_ports) == 0
    out = capsys.readouterr().out
    assert f"calling {asterisk.inbound_extension} at udp 127.0.0.1:{asterisk.sip_port} as {number}" in out
    assert "hotline service: NOT connected" in out
    assert re.search(rf"^call OK: {number} -> {asterisk.inbound_extension}: answered, pressed 1, the caller "
                     r"hung up after \d+\.\d s$", out, re.M), out
    needle = f"hotline inbound {asterisk.inbound_extension} from {number}"
    log = _log_since(asterisk, offset, needle)
    m = re.search(rf'NoOp\("(PJSIP/hotline-caller-[0-9a-f]+)", "{needle}"\)', log)
    assert m, log[-3000:]
    assert re.search(rf"DTMF end '1' received on {re.escape(m.group(1))}", _log_since(asterisk, offset, "DTMF end"))


@pytest.mark.asterisk
def test_concurrent_calls_end_when_the_hotline_hangs_up(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, capsys: pytest.CaptureFixture[str]) -> None:
    """Two calls at once sit through the fallback (queue 2 s, message 5 s) and Asterisk ends them: the
    caller's --talk is only an upper bound."""
    number = _number()
    args = _args(settings_for_asterisk(asterisk), "--from", number, "--wait", "1", "--talk", "120",
                 "--calls", "2")
    assert call.cmd_call(args, ports=asterisk_ports) == 0
    out = capsys.readouterr().out
    assert re.search(r"^call OK: .*: 2/2 answered, caller hung up 0, hotline hung up 2, longest", out, re.M), out
    sidecars = _sidecars(asterisk, number)
    assert len(sidecars) == 2 and len({s["uniqueid"] for s in sidecars}) == 2
    for s in sidecars:
        assert (s["dialed"], s["reason"]) == (asterisk.inbound_extension, "stasis_failed")


@pytest.mark.asterisk
def test_a_rejected_call_is_reported_as_failed_in_one_line(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, capsys: pytest.CaptureFixture[str]) -> None:
    # One digit matches no inbound extension (_X. needs two): Asterisk answers 484 instead of the call.
    args = _args(settings_for_asterisk(asterisk), "--to", "0", "--wait", "1", "--talk", "1")
    assert call.cmd_call(args, ports=asterisk_ports) == 1
    out = capsys.readouterr().out
    assert re.search(r"^call FAILED: 13800138000 -> 0: not answered; unexpected response 484 Address Incomplete "
                     r"\(sipp exit 1\)$", out, re.M), out
