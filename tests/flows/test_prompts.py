"""Prompt audio: real espeak-ng and sox, Asterisk's 8 kHz mono 16-bit wav, rebuilt only when changed."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import pytest

from call_flows.prompts import PromptError, build, render_dynamic, synthesize
from call_flows.say import SAY_TEXT
from tests.flows.conftest import flow_from

FLOW = """\
flow: demo
start: hi
zero_out: agent
prompts:
  hi: 您好，欢迎致电。
  recorded: {text: 这是录好的提示音, file: rec/hello.wav}
nodes:
  hi:
    type: play
    prompt: [hi, recorded]
    next: agent
  agent:
    type: queue
    queue: general
"""


def wav_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


def recorded_file(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    # A studio recording: 44.1 kHz stereo, as an operator might supply it.
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(tmp_path / "rec" / "hello.wav"),
                    "synth", "1.5", "sine", "440"], check=True)


async def test_build_renders_every_prompt_for_asterisk(tmp_path: Path) -> None:
    recorded_file(tmp_path)
    flow = flow_from(tmp_path, FLOW)
    out = tmp_path / "sounds"
    report = await build([flow], out)
    assert report.failed == []
    hi = out / "hotline/zh/demo/hi.wav"
    rec = out / "hotline/zh/demo/recorded.wav"
    rate, channels, width, seconds = wav_format(hi)
    assert (rate, channels, width) == (8000, 1, 2) and seconds > 0.5
    assert wav_format(rec)[:3] == (8000, 1, 2) and abs(wav_format(rec)[3] - 1.5) < 0.01  # converted, not spoken
    for word in SAY_TEXT:
        assert (out / f"hotline/zh/say/{word}.wav").is_file(), word
    assert (out / "hotline/zh/fallback/message.wav").is_file()  # the dialplan fallback's prompts
    assert (out / "hotline/acd-overflow.wav").is_file()  # the ACD's announcements
    assert "hotline/zh/demo/hi" in report.built


async def test_unchanged_prompts_are_skipped_and_edited_ones_rebuilt(tmp_path: Path) -> None:
    recorded_file(tmp_path)
    flow = flow_from(tmp_path, FLOW)
    out = tmp_path / "sounds"
    await build([flow], out)
    again = await build([flow], out)
    assert again.built == [] and again.failed == [] and "hotline/zh/demo/hi" in again.skipped
    edited = flow_from(tmp_path, FLOW.replace("您好，欢迎致电。", "您好，欢迎致电燃气热线。"))
    third = await build([edited], out)
    assert third.built == ["hotline/zh/demo/hi"]
    manifest = json.loads((out / "hotline/.manifest.json").read_text(encoding="utf-8"))
    assert "hotline/zh/demo/recorded" in manifest
    forced = await build([edited], out, force=True)
    assert len(forced.built) == len(manifest)


async def test_a_bad_voice_or_missing_recording_is_reported_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "hello.wav").write_bytes(b"not audio")
    flow = flow_from(tmp_path, FLOW.replace("  hi: 您好，欢迎致电。", "  hi: {text: 您好, voice: no-such-voice}"))
    report = await build([flow], tmp_path / "sounds")
    failed = dict(report.failed)
    assert failed["hotline/zh/demo/hi"] == "espeak-ng has no voice 'no-such-voice' (see `espeak-ng --voices`)"
    assert failed["hotline/zh/demo/recorded"].startswith("sox failed")
    assert not (tmp_path / "sounds/hotline/zh/demo/hi.wav").exists()
    assert "hotline/zh/say/n1" in report.built  # the rest was still built
    with pytest.raises(PromptError, match="sox failed"):
        await synthesize("你好", tmp_path / "x.wav", rate=-5)
    assert list(tmp_path.glob("x.wav*")) == []  # no half file left behind


async def test_dynamic_text_is_rendered_once(tmp_path: Path) -> None:
    media = await render_dynamic("城东片区今日停气。", tmp_path)
    assert media.startswith("sound:hotline/zh/dyn/")
    path = tmp_path / (media.removeprefix("sound:") + ".wav")
    stamp = path.stat().st_mtime_ns
    assert await render_dynamic("城东片区今日停气。", tmp_path) == media and path.stat().st_mtime_ns == stamp
