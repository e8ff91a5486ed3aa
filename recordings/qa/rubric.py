"""The QA rubric: a versioned YAML file (points per rule, instant-fail items) plus the forbidden-phrase list.

Loading validates everything up front and names the file and the rule on any error, so a QA lead who edits
the rubric learns at once what is wrong. The rubric hash covers the parsed content of both files: comments and
layout can change freely, any change that could move a score cannot hide under an old version number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recordings.qa.text import Codebook, Normalized

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.yaml")


class RubricError(Exception):
    """A rubric or phrase file that cannot be used; str() names the file and what to fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForbiddenPhrase(_Model):
    phrase: str = Field(min_length=1)
    source: str = ""
    instant_fail: bool = True
    penalty: float | None = Field(None, ge=0)  # None: the rule's full points
    except_: tuple[str, ...] = Field((), alias="except")


class PhraseList(_Model):
    version: int | str = 1
    phrases: tuple[ForbiddenPhrase, ...]


class RuleSpec(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    kind: str
    title: str
    points: float = Field(ge=0)
    instant_fail: bool = False
    params: dict[str, Any] = Field(default_factory=dict)


class UnscorableSpec(_Model):
    """When a call has nothing to judge. A call the agent hung up is always scored: ending a call is itself
    what the hang-up rule judges."""

    min_talk_seconds: float = Field(10.0, ge=0)  # answer to hang-up shorter than this: the caller left early
    need_agent_speech: bool = True  # a transcript without a single agent segment


class ReviewPolicy(_Model):
    """What sends a call to the must-review queue (each with its reason), and the spot-check sample."""

    failed: bool = True  # every call that fails: below pass_score or an instant fail
    below: float | None = Field(None, ge=0)  # calls under this score (what is left when failed is off)
    instant_fail: bool = True  # every instant fail, also when failed is off
    risk_words: bool = True  # complaint / media / 12345 words (the complaint rule)
    satisfaction_at_most: int = Field(2, ge=0, le=5)  # the caller's survey answer 1-5; 0: not used
    spot_check_percent: float = Field(5.0, ge=0, le=100)  # 抽检: this share of the passing calls not in the queue


class RubricFile(_Model):
    version: str = Field(min_length=1, max_length=32)
    title: str = ""
    pass_score: float = Field(ge=0)
    review: ReviewPolicy = ReviewPolicy()
    forbidden_phrases: str | None = None
    complaint_words: tuple[str, ...] = ()
    unscorable: UnscorableSpec = UnscorableSpec()
    rules: tuple[RuleSpec, ...] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v

    @field_validator("complaint_words", mode="before")
    @classmethod
    def _words_text(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v


@dataclass
class Rubric:
    """A loaded, validated rubric. params holds each rule's validated parameter object by rule id."""

    spec: RubricFile
    phrases: tuple[ForbiddenPhrase, ...]
    params: dict[str, Any]
    hash: str
    path: Path | None = None
    codebook: Codebook = field(default_factory=Codebook)
    _norm_cache: dict[tuple[str, bool], Normalized] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def max_total(self) -> float:
        return sum(r.points for r in self.spec.rules)

    def normalize(self, text: str, *, fold_numbers: bool = False) -> Normalized:
        """Phrase normalisation, cached: the same phrases are matched against every transcript."""
        key = (text, fold_numbers)
        got = self._norm_cache.get(key)
        if got is None:
            got = self.codebook.normalize(text, fold_numbers=fold_numbers)
            self._norm_cache[key] = got
        return got


@dataclass(frozen=True)
class _Source:
    """A parsed YAML file and its node tree, so an error can name the line it is about."""

    path: Path
    data: Any
    root: yaml.Node | None

    def line(self, loc: tuple[Any, ...] | list[Any]) -> int:
        """The line of the deepest part of loc that is in the file: the key itself for an unknown key, the
        mapping for a missing one."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                hit = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                           None)
                if hit is None:
                    break
                line, node = hit[0].start_mark.line + 1, hit[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def error(self, loc: tuple[Any, ...] | list[Any], message: str) -> RubricError:
        return RubricError(f"{self.path}:{self.line(loc)}: {message}")


def _duplicate_keys(node: yaml.Node | None) -> list[tuple[int, str]]:
    """(line, message) for each key written twice in one mapping: YAML keeps the last one silently."""
    found: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                line = k.start_mark.line + 1
                if k.value in first:
                    found.append((line, f"duplicate key {k.value!r} (first on line {first[k.value]})"))
                else:
                    first[k.value] = line
            found.extend(_duplicate_keys(v))
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            found.extend(_duplicate_keys(child))
    return found


def _read_yaml(path: Path) -> _Source:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RubricError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    dups = _duplicate_keys(root)
    if dups:
        raise RubricError("\n".join(f"{path}:{line}: {msg}" for line, msg in dups))
    return _Source(path, data, root)


def _field(err: Any) -> str:
    """One pydantic error in a QA lead's words: an unknown key says so and what the place takes."""
    if err["type"] == "extra_forbidden":
        return "unknown key (not used by this rubric or rule; check the spelling)"
    return str(err["msg"])


def _describe(src: _Source, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    lines = []
    data = src.data
    for err in exc.errors():
        loc = [*prefix, *err["loc"]]
        where = ".".join(str(x) for x in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data, dict):
            try:
                rest = loc[2:]
                if rest[:1] == ["params"] and len(rest) > 1:
                    rest = ["params: " + ".".join(str(x) for x in rest[1:])]
                where = f"rule {data['rules'][loc[1]].get('id', loc[1])!r}: " + ".".join(str(x) for x in rest)
            except (IndexError, AttributeError, KeyError, TypeError):
                pass
        lines.append(f"{src.path}:{src.line(loc)}: {where}: {_field(err)}")
    return "\n".join(lines)


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric (default: the packaged rubric.yaml) and its phrase list. Every error names
    the file and line; a key that nothing reads is an error, not a setting silently ignored."""
    from recordings.qa.rules import RULE_KINDS

    p = Path(path) if path is not None else DEFAULT_RUBRIC
    src = _read_yaml(p)
    data = src.data
    if not isinstance(data, dict):
        raise src.error((), "the rubric must be a mapping with version, rules, ...")
    if "must_review_below" in data:  # rubrics before version 2026.2
        raise src.error(("must_review_below",), "must_review_below is now review.below, and review.failed (on by "
                        "default) sends every failed call to review")
    try:
        spec = RubricFile.model_validate(data)
    except ValidationError as exc:
        raise RubricError(_describe(src, exc)) from None
    seen: set[str] = set()
    params: dict[str, Any] = {}
    for i, rule in enumerate(spec.rules):
        if rule.id in seen:
            raise src.error(("rules", i, "id"), f"rule {rule.id!r} appears twice")
        seen.add(rule.id)
        kind = RULE_KINDS.get(rule.kind)
        if kind is None:
            raise src.error(("rules", i, "kind"), f"rule {rule.id!r}: unknown kind {rule.kind!r} "
                            f"(known: {', '.join(sorted(RULE_KINDS))})")
        try:
            params[rule.id] = kind.params.model_validate(rule.params)
        except ValidationError as exc:
            takes = ", ".join(kind.params.model_fields) or "no params"
            raise RubricError(_describe(src, exc, ("rules", i, "params")) + f" ({rule.kind} takes: {takes})"
                              ) from None
    phrases: tuple[ForbiddenPhrase, ...] = ()
    phrase_data: Any = None
    if spec.forbidden_phrases:
        pp = (p.parent / spec.forbidden_phrases) if not Path(spec.forbidden_phrases).is_absolute() \
            else Path(spec.forbidden_phrases)
        psrc = _read_yaml(pp)
        phrase_data = psrc.data
        try:
            phrases = PhraseList.model_validate(phrase_data).phrases
        except ValidationError as exc:
            raise RubricError(_describe(psrc, exc)) from None
    if any(r.kind == "forbidden" for r in spec.rules) and not phrases:
        raise src.error(("forbidden_phrases",), "a forbidden-phrase rule needs forbidden_phrases: <file> with phrases")
    below = spec.review.below
    if below is not None and below > spec.pass_score:
        raise src.error(("review", "below"), f"review.below ({below:g}) is above pass_score ({spec.pass_score:g}): "
                        "a passing call would be sent to review as a low score")
    canonical = json.dumps({"rubric": data, "phrases": phrase_data}, sort_keys=True, ensure_ascii=False,
                           default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return Rubric(spec=spec, phrases=phrases, params=params, hash=digest, path=p)
