"""Pure text side of speech input: grammar building from a model vocabulary and matching results to phrases.

Kept apart from Vosk so the rules (what counts as a match, what counts as an emergency) are testable and
identical for menus, name verification and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

UNK = "[unk]"


def normalize(text: str) -> str:
    """Compare phrases without spaces or case: Chinese results come back space-separated by word."""
    return "".join(text.split()).lower()


@dataclass(frozen=True)
class Grammar:
    """A Vosk grammar for a phrase list: `entries` goes to KaldiRecognizer; `dropped` could not be spelled."""

    entries: tuple[str, ...]
    dropped: tuple[str, ...]


def segment(phrase: str, known: Callable[[str], bool], max_len: int = 8) -> list[str] | None:
    """Spell a phrase with vocabulary words: as written when every word is known, else greedy longest match.

    Chinese models list words like 燃气 and 泄漏 but rarely a whole phrase like 燃气泄漏; Vosk silently
    ignores grammar entries containing unknown words, so a phrase must be rewritten as known words first.
    """
    words = phrase.split()
    if words and all(known(w) for w in words):
        return words
    text = normalize(phrase)
    out: list[str] = []
    i = 0
    while i < len(text):
        for j in range(min(len(text), i + max_len), i, -1):
            if known(text[i:j]):
                out.append(text[i:j])
                i = j
                break
        else:
            return None
    return out or None


def build_grammar(phrases: Sequence[str], known: Callable[[str], bool]) -> Grammar:
    entries: list[str] = []
    dropped: list[str] = []
    for phrase in dict.fromkeys(phrases):
        if phrase == UNK:
            continue  # added below when the model has it
        words = segment(phrase, known)
        if words is None:
            dropped.append(phrase)
        else:
            entries.append(" ".join(words))
    if known(UNK):
        # Without a garbage word every sound is forced onto some phrase; models that have [unk] get it.
        entries.append(UNK)
    return Grammar(tuple(dict.fromkeys(entries)), tuple(dropped))


def match_phrase(text: str, phrases: Sequence[str]) -> str | None:
    """The phrase the recognized text is (exactly, else the longest one it contains)."""
    said = normalize(text.replace(UNK, ""))
    if not said:
        return None
    exact = [p for p in phrases if normalize(p) == said]
    if exact:
        return exact[0]
    inside = sorted((p for p in phrases if normalize(p) and normalize(p) in said), key=lambda p: -len(normalize(p)))
    return inside[0] if inside else None


def find_keyword(text: str, keywords: Sequence[str]) -> str | None:
    said = normalize(text.replace(UNK, ""))
    for kw in keywords:
        if normalize(kw) and normalize(kw) in said:
            return kw
    return None
