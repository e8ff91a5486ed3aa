"""Loading the rubric: clear errors naming the file and rule, a hash that follows content, not layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from recordings.qa.rubric import DEFAULT_RUBRIC, RubricError, load_rubric

PHRASES = DEFAULT_RUBRIC.with_name("forbidden_phrases.yaml")


def copy_rubric(tmp: Path, edit: str = "", replace: tuple[str, str] | None = None) -> Path:
    text = DEFAULT_RUBRIC.read_text("utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    (tmp / "forbidden_phrases.yaml").write_text(PHRASES.read_text("utf-8"), encoding="utf-8")
    path = tmp / "rubric.yaml"
    path.write_text(text + edit, encoding="utf-8")
    return path


def test_packaged_rubric() -> None:
    r = load_rubric()
    assert r.version == "2026.2" and r.max_total == 100
    ids = [x.id for x in r.spec.rules]
    for needed in ("greeting", "agent_id_stated", "answered_in_time", "apology_when_late", "forbidden_phrases",
                   "courtesy", "no_interruption", "silence", "closing_question", "farewell", "caller_hung_up_first"):
        assert needed in ids
    assert next(x for x in r.spec.rules if x.id == "forbidden_phrases").instant_fail
    phrases = {p.phrase for p in r.phrases}
    # Both seed lists are in: 001 第十八条 and 002 5.3.9 / H-001.
    assert {"不归我管", "你问我我问谁", "马上下班了快点", "你自己看吧", "这是别的部门的事", "你问领导去"} <= phrases
    assert len(r.phrases) >= 40


def test_hash_ignores_comments_but_not_content(tmp_path: Path) -> None:
    base = load_rubric().hash
    assert load_rubric(copy_rubric(tmp_path, "\n# a comment only\n")).hash == base
    assert load_rubric(copy_rubric(tmp_path, replace=("points: 15", "points: 16"))).hash != base
    (tmp_path / "forbidden_phrases.yaml").write_text(PHRASES.read_text("utf-8") + "  - {phrase: 新忌语}\n",
                                                     encoding="utf-8")
    assert load_rubric(tmp_path / "rubric.yaml").hash != base


@pytest.mark.parametrize("replace, message", [
    (("kind: greeting", "kind: gretting"), "rule 'greeting': unknown kind 'gretting'"),
    (("min_similarity: 75", "min_similarity: 175"), "rule 'greeting': params: min_similarity"),
    (("within_seconds: 5 ", "within_sekonds: 5 "), "rule 'greeting': params: within_sekonds"),
    (("id: farewell", "id: closing_question"), "rule 'closing_question' appears twice"),
    (("points: 5\n    params:\n      within_seconds: 20", "points: -5\n    params:\n      within_seconds: 20"),
     "rule 'agent_id_stated': points"),
    (("forbidden_phrases: forbidden_phrases.yaml", "forbidden_phrases: missing.yaml"), "missing.yaml: file not found"),
    (("  # below: 70 ", "  below: 90 "), "review.below (90) is above pass_score (85)"),
    (("pass_score: 85 ", "must_review_below: 70\npass_score: 85 "), "must_review_below is now review.below"),
    (("satisfaction_at_most: 2", "satisfaction_at_most: 6"), "review.satisfaction_at_most: Input should be less"),
    (('version: "2026.2"', "version:"), "version"),
])
def test_errors_name_file_and_rule(tmp_path: Path, replace: tuple[str, str], message: str) -> None:
    path = copy_rubric(tmp_path, replace=replace)
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    assert message in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = copy_rubric(tmp_path, "\nrules: [unclosed\n")
    with pytest.raises(RubricError, match=r"rubric\.yaml:\d+: not valid YAML"):
        load_rubric(path)
    with pytest.raises(RubricError, match="file not found"):
        load_rubric(tmp_path / "nope.yaml")


def line_of(path: Path, text: str) -> int:
    """1-based line of the last line containing text (a repeated key is reported where it is repeated)."""
    return [i for i, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line][-1]


@pytest.mark.parametrize("replace, marker, message", [
    # A key nothing reads is an error, at its line: a typo must not turn a setting off silently.
    (("pass_score: 85", "pass_score: 85\npass_scor: 90"), "pass_scor: 90", "pass_scor: unknown key"),
    (("    kind: answer_time\n", "    kind: answer_time\n    instant_fial: true\n"), "instant_fial",
     "rule 'answered_in_time': instant_fial: unknown key"),
    (("    kind: answer_time\n", "    kind: answer_time\n    params: {limit_seconds: 20}\n"), "{limit_seconds",
     "rule 'answered_in_time': params: limit_seconds: unknown key"),
    (("within_seconds: 5 ", "within_sekonds: 5 "), "within_sekonds",
     "rule 'greeting': params: within_sekonds: unknown key"),
    (("min_talk_seconds: 10", "min_talk_second: 10"), "min_talk_second", "unscorable.min_talk_second: unknown key"),
    (("kind: greeting", "kind: gretting"), "kind: gretting", "rule 'greeting': unknown kind 'gretting'"),
    (("id: farewell", "id: closing_question"), "id: closing_question", "rule 'closing_question' appears twice"),
    (("  - id: greeting\n", "  - id: greeting\n    title: 问候\n"), "title: 规范问候语", "duplicate key 'title'"),
])
def test_unknown_keys_are_refused_with_file_and_line(tmp_path: Path, replace: tuple[str, str], marker: str,
                                                     message: str) -> None:
    path = copy_rubric(tmp_path, replace=replace)
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    where = f"{path}:{line_of(path, marker)}:"
    assert where in str(err.value) and message in str(err.value), str(err.value)


def test_params_error_says_what_the_rule_takes(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match=r"\(greeting takes: within_seconds, window_seconds, min_similarity\)"):
        load_rubric(copy_rubric(tmp_path, replace=("within_seconds: 5 ", "within_sekonds: 5 ")))


def test_phrase_file_errors_have_a_line(tmp_path: Path) -> None:
    path = copy_rubric(tmp_path)
    phrases = tmp_path / "forbidden_phrases.yaml"
    phrases.write_text(PHRASES.read_text("utf-8") + "  - {phrase: 新忌语, penalti: 5}\n", encoding="utf-8")
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    assert f"{phrases}:{line_of(phrases, 'penalti')}: phrases." in str(err.value)
    assert "penalti: unknown key" in str(err.value)


def test_instant_fail_is_honoured_by_every_rule(tmp_path: Path) -> None:
    """A site that makes late answering a 一票否决 item gets an instant fail, not a pass with 90 points."""
    from recordings.qa.scorer import score
    from tests.recordings.fixture_calls import load_fixture_calls

    calls = {c.name: c for c in load_fixture_calls()}
    late = calls["late_answer_with_apology"]
    packaged = score(late.segments, late.facts, load_rubric(), late.settings)
    assert packaged.passed and not packaged.instant_fail
    strict = load_rubric(copy_rubric(tmp_path, replace=("    kind: answer_time\n",
                                                         "    kind: answer_time\n    instant_fail: true\n")))
    result = score(late.segments, late.facts, strict, late.settings)
    assert result.instant_fail and not result.passed and result.total == packaged.total
    assert result.rule("answered_in_time").instant_fail and "一票否决" in result.rule("answered_in_time").detail
    assert any("一票否决：三声内接听" in r for r in result.review_reasons)
    # Not applicable (no ringing on record) is not a fail, so not an instant fail either.
    on_time = calls["gas_arrears_standard"]
    assert not score(on_time.segments, on_time.facts, strict, on_time.settings).instant_fail

    # The packaged rubric: the agent hanging up first fails the call; a site may soften it.
    hung_up = calls["agent_hung_up_after_goodbye"]
    assert score(hung_up.segments, hung_up.facts, load_rubric(), hung_up.settings).instant_fail
    soft = load_rubric(copy_rubric(tmp_path, replace=("    instant_fail: true\n\n  - id: complaint_watch",
                                                       "    instant_fail: false\n\n  - id: complaint_watch")))
    softened = score(hung_up.segments, hung_up.facts, soft, hung_up.settings)
    assert softened.passed and not softened.instant_fail and not softened.rule("caller_hung_up_first").passed


def test_review_policy_is_the_rubrics(tmp_path: Path) -> None:
    from recordings.qa.model import QaResult
    from recordings.qa.rubric import Rubric
    from recordings.qa.scorer import score
    from tests.recordings.fixture_calls import load_fixture_calls

    calls = {c.name: c for c in load_fixture_calls()}

    def scored(name: str, rubric: Rubric) -> QaResult:
        c = calls[name]
        return score(c.segments, c.facts, rubric, c.settings)

    packaged = load_rubric()
    assert scored("review_failed_between_70_and_85", packaged).must_review
    # A site that reviews only low scores (the old policy): an 80-point fail stays out, a 60 would not.
    lenient = load_rubric(copy_rubric(tmp_path, replace=("  failed: true ", "  failed: false\n  below: 70 ")))
    r = scored("review_failed_between_70_and_85", lenient)
    assert not r.passed and not r.must_review
    assert scored("bu_gui_wo_guan", lenient).must_review, "instant fails are reviewed on their own switch"
    quiet = load_rubric(copy_rubric(tmp_path, replace=("  risk_words: true ", "  risk_words: false ")))
    assert scored("complaint_12345", packaged).must_review
    assert not scored("complaint_12345", quiet).must_review
    no_survey = load_rubric(copy_rubric(tmp_path, replace=("satisfaction_at_most: 2", "satisfaction_at_most: 0")))
    assert not scored("review_unhappy_caller", no_survey).must_review


def test_spot_check_draws_a_stable_share_of_passing_calls(tmp_path: Path) -> None:
    from dataclasses import replace

    from recordings.qa.scorer import drawn_for_spot_check, score
    from tests.recordings.fixture_calls import load_fixture_calls

    rubric, again = load_rubric(), load_rubric()
    drawn = [i for i in range(1, 4001) if drawn_for_spot_check(i, rubric)]
    assert 0.04 <= len(drawn) / 4000 <= 0.06, "about rubric review.spot_check_percent (5%) of the calls"
    assert drawn == [i for i in range(1, 4001) if drawn_for_spot_check(i, again)], "the same calls again"
    calls = {c.name: c for c in load_fixture_calls()}
    good, failed = calls["gas_arrears_standard"], calls["review_failed_between_70_and_85"]
    pick = drawn[0]
    picked = score(good.segments, replace(good.facts, call_id=pick), rubric, good.settings)
    assert picked.spot_check and picked.passed and not picked.must_review
    not_drawn = next(i for i in range(1, 100) if i not in drawn)
    assert not score(good.segments, replace(good.facts, call_id=not_drawn), rubric, good.settings).spot_check
    # Calls in the queue are not spot checks: they get a review anyway.
    assert not score(failed.segments, replace(failed.facts, call_id=pick), rubric, failed.settings).spot_check
    everyone = load_rubric(copy_rubric(tmp_path, replace=("spot_check_percent: 5", "spot_check_percent: 100")))
    assert score(good.segments, replace(good.facts, call_id=not_drawn), everyone, good.settings).spot_check
    nobody = load_rubric(copy_rubric(tmp_path, replace=("spot_check_percent: 5", "spot_check_percent: 0")))
    assert not score(good.segments, replace(good.facts, call_id=pick), nobody, good.settings).spot_check
