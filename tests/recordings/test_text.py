"""Matching helpers: word joining, pinyin codes, spoken digits, fuzzy search that a short text cannot game."""

from __future__ import annotations

from recordings.qa.model import Segment, Word
from recordings.qa.text import (
    Codebook,
    best_match,
    find_digits,
    find_exact,
    find_number,
    join_words,
    number_tokens,
    spoken_digits,
)


def test_join_words_by_script() -> None:
    assert join_words(["您好", "这里", "是"])[0] == "您好这里是"
    assert join_words(["안녕", "하세요"])[0] == "안녕 하세요"
    text, spans = join_words(["请", "拨打", "hello", "world"])
    assert text == "请拨打hello world" and [text[s:e] for s, e in spans] == ["请", "拨打", "hello", "world"]


def test_homophones_share_pinyin_codes() -> None:
    cb = Codebook()
    a, b = cb.normalize("坐席为您服务"), cb.normalize("作息为您服务")
    assert a.chars != b.chars and a.codes == b.codes
    assert find_exact(cb.normalize("不归我管"), cb.normalize("那个不规我馆啊"), by_pinyin=True) == [(2, 6)]
    # Folding zh/z and -ng/-n is for long phrases only: 器属 (qi shu) is not 起诉 (qi su) when unfolded.
    assert find_exact(cb.normalize("起诉"), cb.normalize("热水器属于"), by_pinyin=True, folded=False) == []


def test_numbers_fold_for_template_matching() -> None:
    cb = Codebook()
    n = cb.normalize("24小时热线，1024号", fold_numbers=True)
    m = cb.normalize("二十四小时热线幺零二四号", fold_numbers=True)
    assert n.chars == m.chars == "#小时热线#号"
    assert cb.normalize("一下", fold_numbers=True).chars == "一下", "a lone 一 is a word, not a number"


def test_short_text_does_not_match_a_long_template() -> None:
    cb = Codebook()
    template = cb.normalize("您好这里是示例燃气集团服务热线请问有什么可以帮您")
    m = best_match(template, cb.normalize("您好"))
    assert m is not None and m.score < 30
    full = best_match(template, cb.normalize("喂，您好这里是示例然气集团服务热线请问有什么可以帮您"))
    assert full is not None and full.score > 90 and full.start == 2


def test_spoken_digits_and_homophones() -> None:
    assert spoken_digits("幺零二四")[0] == "1024"
    assert find_digits("1024", "工号 1 0 2 4 为您服务") == (3, 10)
    assert find_digits("1024", "要灵儿是号坐席") == (0, 4)
    assert find_digits("1024", "我是2048号") is None


def test_segment_time_from_words_or_interpolated() -> None:
    words = (Word("您好", 1.0, 1.4), Word("请问", 2.0, 2.5))
    seg = Segment("agent", 1.0, 2.5, "您好请问", words)
    assert seg.time_at(2) == 2.0 and seg.time_at(4, end=True) == 2.5
    plain = Segment("agent", 10.0, 14.0, "一二三四")
    assert plain.time_at(2) == 12.0


def test_numbers_are_whole_tokens() -> None:
    assert find_number("12345", "我要打12345投诉") == [(3, 8)]
    assert find_number("12345", "再不来我就打幺二三四五投诉") == [(6, 11)]
    assert find_number("12345", "打 幺 二 三 四 五 投诉") == [(2, 11)], "Vosk's spaces stay inside the number"
    assert find_number("12345", "打一二三四五") == [(1, 6)]
    assert find_number("12345", "打12345一直没人管") == [(1, 6)], "a Chinese word after Arabic digits"
    # Inside longer numbers: a landline, a bank card, an account, in either script.
    assert find_number("12345", "我家电话0571-8812 3456") == []
    assert find_number("12345", "卡号6222 0212 3456 7890") == []
    assert find_number("12345", "户号幺二三四五六") == []
    assert find_number("12345", "零幺二三四五") == []
    assert find_number("12345", "欠费一万二千三百四十五元") == []
    assert find_number("110", "一百一十") == [] and find_number("110", "打幺幺零") == [(1, 4)]
    # Homophones of digits are not digits here: 意义另 is yi yi ling, but not 110.
    assert find_number("110", "这很有意义另外") == []
    assert find_number("95598", "打九五五九八") == [(1, 6)]
    assert [d for d, _, _ in number_tokens("0571-8812 3456，幺三八")] == ["057188123456", "138"]


def test_honorific_variants_fold() -> None:
    cb = Codebook()
    plain = cb.normalize("你问我我问谁")
    for variant in ("您问我，我问谁", "妳问我我问谁", "你问俺，俺问谁", "你问咱咱问谁"):
        got = cb.normalize(variant)
        assert got.chars == plain.chars and got.codes == plain.codes, variant
    assert find_exact(cb.normalize("我没时间"), cb.normalize("俺没时间啊"), by_pinyin=False) == [(0, 4)]
    # The source positions stay those of the text as said, so evidence quotes 您, not 你.
    said = "这个您问我我问谁"
    [(s, e)] = find_exact(plain, cb.normalize(said), by_pinyin=False)
    assert said[s:e] == "您问我我问谁"
    assert cb.normalize("您好").chars == cb.normalize("你好").chars


def test_a_window_cut_from_the_whole_track_is_its_own_normal_form() -> None:
    """Context.track windows reuse the whole track's normalisation (the pinyin lookups are the scorer's
    cost): cutting must give what normalising the window's own text gives."""
    from ivr.settings import load_settings
    from recordings.qa.context import Context
    from recordings.qa.rubric import load_rubric
    from tests.recordings.fixture_calls import load_fixture_calls

    rubric, settings = load_rubric(), load_settings(env={})
    checked = 0
    for call in load_fixture_calls():
        ctx = Context(sorted(call.segments, key=lambda g: (g.start, g.end)), call.facts, rubric, settings)
        for speaker in ("agent", "caller"):
            segs = ctx.speaker_segments(speaker)
            if len(segs) < 2:
                continue
            whole = ctx.track(speaker)
            whole.norm()
            for t_from in (segs[0].end, segs[len(segs) // 2].start - 0.01):
                window = ctx.track(speaker, t_from)
                own = rubric.codebook.normalize(window.text)
                cut = window.norm()
                assert (cut.chars, cut.origin, cut.exact_codes) == (own.chars, own.origin, own.exact_codes), call.name
                checked += 1
    assert checked > 100
