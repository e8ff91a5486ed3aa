"""Masking of ID, phone and bank numbers, and the role policy."""

from __future__ import annotations

import pytest

from ivr.db.models import Role
from recordings.privacy import (Viewer, exports_pii, mask_cut, mask_evidence, mask_phone, mask_text, mask_words,
                                may_export, may_open_call, may_review, sees_pii)


@pytest.mark.parametrize("text, masked", [
    ("身份证号11010519491231002X", "身份证号110***********002X"),
    ("身份证号 110105194912310021。", "身份证号 110***********0021。"),
    ("老身份证 110105491231002", "老身份证 110********1002"),
    ("手机13800138000", "手机138****8000"),
    ("手机 138 0013 8000 打这个", "手机 138 **** 8000 打这个"),
    ("电话138-0013-8000", "电话138-****-8000"),
    ("幺三八零零幺三八零零零", "幺三八****八零零零"),
    ("ＡＳＲ全角１３８００１３８０００", "ＡＳＲ全角１３８****８０００"),
    ("银行卡6222021234567890123", "银行卡622************0123"),
    ("卡号 6222 0212 3456 7890", "卡号 622* **** **** 7890"),
    ("座机010-12345678", "座机010-******78"),
    ("座机0755-1234567", "座机0755-*****67"),
    ("本地电话 8765432", "本地电话 *****32"),
])
def test_personal_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert len(mask_text(text)) == len(text), "masking keeps positions (word times stay aligned)"


@pytest.mark.parametrize("text", [
    "户号G1000001，欠费三十二元", "燃气费一百二十元", "拨打12345", "24小时服务热线", "1024号坐席",
    "二零二六年三月一日", "每立方米二点八元", "热线95598",
])
def test_ordinary_numbers_are_kept(text: str) -> None:
    assert mask_text(text) == text


def test_words_are_masked_like_the_text() -> None:
    words = [{"w": "手机", "s": 0.0, "e": 0.4}, {"w": "幺三八", "s": 0.4, "e": 1.0},
             {"w": "零零幺三", "s": 1.0, "e": 1.6}, {"w": "八零零零", "s": 1.6, "e": 2.2}]
    got = mask_words(words)
    assert [w["w"] for w in got] == ["手机", "幺三八", "****", "八零零零"]
    assert [w["s"] for w in got] == [w["s"] for w in words]
    assert mask_words([{"w": "你好", "s": 0, "e": 1}]) == [{"w": "你好", "s": 0, "e": 1}]


def test_evidence_and_caller_numbers() -> None:
    results = [{"id": "x", "detail": "客户报了13800138000", "evidence": [
        {"source": "caller", "start": 1.0, "end": 2.0, "text": "我的手机是13800138000"}]}]
    masked = mask_evidence(results)
    assert masked[0]["evidence"][0]["text"] == "我的手机是138****8000"
    assert masked[0]["detail"] == "客户报了138****8000"
    assert results[0]["evidence"][0]["text"].endswith("13800138000"), "input untouched"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("02112345678") == "021******78"
    assert mask_phone("1001") == "1001"


def test_role_policy() -> None:
    # agent, qa, supervisor, admin, unit: a responsible unit's staff neither see QA's unmasked data nor export it
    assert [sees_pii(r) for r in Role] == [False, False, True, True, False]
    assert [exports_pii(r) for r in Role] == [False, False, False, True, False]
    assert [may_export(r) for r in Role] == [False, True, True, True, False]
    assert [may_review(r) for r in Role] == [False, True, True, True, False]
    assert may_open_call(Viewer(5, Role.AGENT), 5)
    assert not may_open_call(Viewer(5, Role.AGENT), 6)
    assert not may_open_call(Viewer(None, Role.AGENT), None)
    assert may_open_call(Viewer(7, Role.QA), 6)


def test_evidence_windows_hide_numbers_cut_by_the_window() -> None:
    # Evidence carries a few characters of context: a phone number cut by that window is no longer
    # recognisable as one, so the cut digits are hidden rather than shown.
    assert mask_cut("38000我要投诉") == "*****我要投诉"
    assert mask_cut("二三四五投诉") == "****投诉"
    assert mask_cut("投诉 1380013") == "投诉 *****13"
    assert mask_cut("我的手机是13800138000") == "我的手机是138****8000"  # whole numbers keep the usual mask
    assert mask_cut("打幺二三四五投诉你们") == "打幺二三四五投诉你们"  # inside the window: a short number stays
    assert mask_cut("3号楼投诉") == "3号楼投诉"
    masked = mask_evidence([{"id": "c", "detail": "", "evidence": [
        {"source": "caller", "start": 1.0, "end": 2.0, "text": "0138000我要投诉"}]}])
    assert masked[0]["evidence"][0]["text"] == "*******我要投诉"


@pytest.mark.parametrize("text, masked", [
    # The way Vosk writes them: Chinese digits, a space between words, no punctuation (issue 16).
    ("我 要 报装 燃气 联系 电话 幺 三 八 幺 二 三 四 五 六 七 八", "我 要 报装 燃气 联系 电话 幺 三 八 * * * * 五 六 七 八"),
    ("卡号是六二二二零二幺二三四五六七八九零", "卡号是六二二*********七八九零"),
    ("我 的 户号 是 幺 二 三 四 五 六 七", "我 的 户号 是 * * * * * 六 七"),
])
def test_masking_asr_shaped_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked and len(mask_text(text)) == len(text)


def test_evidence_from_asr_shaped_calls_is_masked_but_keeps_risk_numbers() -> None:
    """The scorer's evidence on Vosk-style text goes through the same masking: a phone number is hidden, the
    12345 the caller threatens with stays readable (it is why the call is in the queue)."""
    from recordings.qa.rubric import load_rubric
    from recordings.qa.scorer import score
    from tests.recordings.fixture_calls import load_fixture_calls

    calls = {c.name: c for c in load_fixture_calls()}
    rubric = load_rubric()
    c = calls["asr_complaint_spoken_digits"]
    rows = mask_evidence(score(c.segments, c.facts, rubric, c.settings).results_json())
    complaint = next(r for r in rows if r["id"] == "complaint_watch")
    assert any("幺 二 三 四 五" in e["text"] for e in complaint["evidence"])
    phone = calls["asr_phone_number_not_a_complaint"]
    said = " ".join(g.text for g in phone.segments)
    assert "幺 三 八 幺 二" in said and "幺 三 八 幺 二" not in mask_text(said)
