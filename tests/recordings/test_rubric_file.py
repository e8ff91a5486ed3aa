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
    assert r.version == "2026.1" and r.max_total == 100
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
    (("must_review_below: 70", "must_review_below: 90"), "must_review_below (90.0) is above pass_score"),
    (('version: "2026.1"', "version:"), "version"),
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
