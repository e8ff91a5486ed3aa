"""Text matching for Mandarin ASR output: normalisation, pinyin-aware fuzzy search, spoken digits.

Mandarin ASR mistakes are mostly homophones (坐席 -> 作息, 幺零二四 -> 要灵儿是), so every phrase is matched
twice: on the characters and on a pinyin code string where each syllable is one symbol. Both strings keep a
map back to the original character positions, so a hit can be turned into a time range in the audio.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz

# Chinese numerals as spoken digit by digit (幺 is how 1 is read in phone and ID numbers).
DIGIT_CHARS = {"零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4",
               "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
NUMERAL_CHARS = set(DIGIT_CHARS) | set("十百千万")
# Toneless syllables that are heard as a digit; homophones of digits in ASR output land here.
DIGIT_SYLLABLES = {"ling": "0", "dong": "0", "yao": "1", "yi": "1", "er": "2", "liang": "2", "san": "3",
                   "si": "4", "wu": "5", "liu": "6", "qi": "7", "ba": "8", "jiu": "9"}
# Accent pairs that ASR and southern speakers merge; folding them makes 是/四 and 身/生 comparable.
_FOLD_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FOLD_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))
NUMBER_MARK = "#"
# Honorific and dialect forms of the same pronoun: "您问我，我问谁" and "俺没时间" are still the forbidden
# phrases, and "为你服务" still the greeting. Folded before matching (and before pinyin: nin is not ni).
HONORIFIC_FOLDS = {"您": "你", "妳": "你", "恁": "你", "咱": "我", "俺": "我"}
# Kept by normalize() so that a phrase cannot match across two utterances far apart (see context.Track).
BREAK = "¦"


def _folded_digits() -> dict[str, str]:
    return {fold_syllable(k): v for k, v in DIGIT_SYLLABLES.items()}


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def join_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join ASR words into text: no space between Chinese words, a space elsewhere (Korean, English).

    Returns the text and each word's (start, end) character span in it.
    """
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    prev = ""
    for w in words:
        if not w:
            spans.append((pos, pos))
            continue
        if prev and not (is_han(prev[-1]) or is_han(w[0])):
            out.append(" ")
            pos += 1
        spans.append((pos, pos + len(w)))
        out.append(w)
        pos += len(w)
        prev = w
    return "".join(out), spans


def fold_syllable(s: str) -> str:
    """Merge zh/z, ch/c, sh/s and -ng/-n so near-homophones compare equal."""
    for a, b in _FOLD_INITIALS:
        if s.startswith(a):
            s = b + s[len(a):]
            break
    for a, b in _FOLD_FINALS:
        if s.endswith(a):
            s = s[: -len(a)] + b
            break
    return s


def syllables(text: str) -> list[str]:
    """One toneless pinyin syllable (or the character itself) per input character."""
    out = lazy_pinyin(text, style=Style.NORMAL, errors=lambda run: list(run))
    if len(out) != len(text):  # pypinyin merged something unexpected; fall back to per-character lookup
        out = [lazy_pinyin(ch, style=Style.NORMAL, errors=lambda run: list(run))[0] if is_han(ch) else ch
               for ch in text]
    return out


@dataclass(frozen=True)
class Normalized:
    """A matching form of some text; origin[i] is the index in the source text of character i."""

    chars: str
    origin: tuple[int, ...]
    codes: str  # one symbol per character: the folded pinyin syllable, or the character itself
    exact_codes: str  # the same with the toneless syllable unfolded (for short phrases, where folding is loose)

    def span_to_source(self, start: int, end: int) -> tuple[int, int]:
        if not self.origin or start >= end:
            return (0, 0)
        return self.origin[start], self.origin[end - 1] + 1

    def window(self, start: int, end: int) -> "Normalized":
        """The matching form of source[start:end], cut out of this one (positions then count from start)."""
        a, b = bisect_left(self.origin, start), bisect_left(self.origin, end)
        return Normalized(self.chars[a:b], tuple(o - start for o in self.origin[a:b]), self.codes[a:b],
                          self.exact_codes[a:b])


class Codebook:
    """Gives each pinyin syllable a private-use character so homophones compare as equal strings."""

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}

    def code(self, syllable: str) -> str:
        c = self._codes.get(syllable)
        if c is None:
            c = chr(0xE000 + len(self._codes))
            self._codes[syllable] = c
        return c

    def normalize(self, text: str, *, fold_numbers: bool = False) -> Normalized:
        """NFKC, lower case, drop punctuation and spaces, fold honorifics (您 -> 你, 咱/俺 -> 我); optionally fold
        number runs to one mark.

        Numbers are folded for template matching because "24小时" may come back as "二十四小时" and the
        agent's ID is checked by its own rule.
        """
        kept: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            c = unicodedata.normalize("NFKC", ch).lower()
            if len(c) != 1:
                c = ch
            cat = unicodedata.category(c)
            if cat[0] in "PZSC" and c != BREAK:
                continue
            kept.append(HONORIFIC_FOLDS.get(c, c))
            origin.append(i)
        if fold_numbers:
            kept, origin = _fold_numbers(kept, origin)
        chars = "".join(kept)
        sylls = syllables(chars)
        codes = "".join(self.code(fold_syllable(s)) if is_han(ch) else ch for ch, s in zip(chars, sylls))
        exact = "".join(self.code("=" + s) if is_han(ch) else ch for ch, s in zip(chars, sylls))
        return Normalized(chars=chars, origin=tuple(origin), codes=codes, exact_codes=exact)


def _fold_numbers(chars: list[str], origin: list[int]) -> tuple[list[str], list[int]]:
    out: list[str] = []
    out_origin: list[int] = []
    i = 0
    while i < len(chars):
        j = i
        while j < len(chars) and (chars[j].isdigit() or chars[j] in NUMERAL_CHARS):
            j += 1
        run = j - i
        # A lone 一 or 万 is usually a word (一下, 万一), not a number.
        if run >= 2 or (run == 1 and chars[i].isdigit()):
            out.append(NUMBER_MARK)
            out_origin.append(origin[i])
            i = j
            continue
        out.append(chars[i])
        out_origin.append(origin[i])
        i += 1
    return out, out_origin


@dataclass(frozen=True)
class Match:
    score: float  # 0..100
    start: int  # span in the haystack's source text
    end: int
    by_pinyin: bool


def best_match(needle: Normalized, hay: Normalized) -> Match | None:
    """Best fuzzy occurrence of needle in hay, by characters and by pinyin; None when hay is empty.

    When the haystack is shorter than the needle the whole-string ratio is used, so saying only "您好" does
    not score 100 against a full greeting.
    """
    if not needle.chars or not hay.chars:
        return None
    best: Match | None = None
    for by_pinyin, n, h in ((False, needle.chars, hay.chars), (True, needle.codes, hay.codes)):
        if len(h) >= len(n):
            al = fuzz.partial_ratio_alignment(n, h)
            if al is None:
                continue
            # partial_ratio_alignment puts the shorter string first; equal lengths keep the order given.
            score, ds, de = al.score, al.dest_start, al.dest_end
        else:
            score, ds, de = fuzz.ratio(n, h), 0, len(h)
        if best is None or score > best.score:
            s, e = hay.span_to_source(ds, de)
            best = Match(score=score, start=s, end=e, by_pinyin=by_pinyin)
    return best


def find_exact(needle: Normalized, hay: Normalized, *, by_pinyin: bool, folded: bool = True
               ) -> list[tuple[int, int]]:
    """Every exact occurrence (characters, or pinyin codes) as spans in the haystack's source text."""
    if by_pinyin:
        n, h = (needle.codes, hay.codes) if folded else (needle.exact_codes, hay.exact_codes)
    else:
        n, h = needle.chars, hay.chars
    spans: list[tuple[int, int]] = []
    if not n:
        return spans
    i = h.find(n)
    while i >= 0:
        spans.append(hay.span_to_source(i, i + len(n)))
        i = h.find(n, i + 1)
    return spans


def spoken_digits(text: str) -> tuple[str, list[int]]:
    """Read text as a digit string the way a listener would: ASCII digits, 幺零二四, and homophones (要灵儿是).

    Returns one entry per source character (a digit or '-' for a non-digit) and the source index of each.
    """
    out: list[str] = []
    origin: list[int] = []
    sylls = syllables(text)
    for i, (ch, syl) in enumerate(zip(text, sylls)):
        c = unicodedata.normalize("NFKC", ch)
        if len(c) == 1 and c.isdigit():
            out.append(c)
        elif ch in DIGIT_CHARS:
            out.append(DIGIT_CHARS[ch])
        elif is_han(ch) and fold_syllable(syl) in _FOLDED_DIGITS:
            out.append(_FOLDED_DIGITS[fold_syllable(syl)])
        elif unicodedata.category(ch)[0] in "PZ":
            continue  # "1 0 2 4" and "1-0-2-4" are still one number
        else:
            out.append("-")
        origin.append(i)
    return "".join(out), origin


def find_digits(digits: str, text: str) -> tuple[int, int] | None:
    """Where the digit string is spoken in text (see spoken_digits), as a source span; None if absent."""
    seq, origin = spoken_digits(text)
    i = seq.find(digits)
    if i < 0 or not digits:
        return None
    return origin[i], origin[i + len(digits) - 1] + 1


_MULTIPLIERS = frozenset("十百千万亿")
# Inside one written number: "0571-8812 3456", "幺 二 三" (Vosk puts a space between words).
_NUMBER_JOINERS = frozenset(" \u00a0\u3000-‐‑–—")


def _digit_script(ch: str) -> tuple[str, str] | None:
    """(script, digit) of a character that is a digit as written: 'a' for ASCII / full-width / other Unicode
    digits, 'h' for the Chinese digits (幺 两 〇 included; 十百千万 as 'x', a number that is not a digit
    string). Homophones are not digits here: 意义另 (yi yi ling) is not 110."""
    if ch in DIGIT_CHARS:
        return "h", DIGIT_CHARS[ch]
    if ch in _MULTIPLIERS:
        return "h", "x"
    if ch.isdigit():
        c = unicodedata.normalize("NFKC", ch)
        return ("a", c) if len(c) == 1 and c.isascii() else ("a", str(unicodedata.digit(ch, 0)))
    return None


def number_tokens(text: str) -> list[tuple[str, int, int]]:
    """Every number written in text as (digits, start, end): the whole run, never a part of it.

    A run goes on across spaces and dashes between digits of the same script and ends at anything else, also
    where ASCII digits meet Chinese ones: "打12345一直没人管" holds 12345 (一直 is a word), "0571-8812 3456"
    holds 057188123456 and no 12345. Multipliers (一万二千三百四十五) make a run that no digit string equals.
    """
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        got = _digit_script(text[i])
        if got is None:
            i += 1
            continue
        script, digits, start, end = got[0], [got[1]], i, i + 1
        j = i + 1
        while j < n:
            if text[j] in _NUMBER_JOINERS:
                j += 1
                continue
            nxt = _digit_script(text[j])
            if nxt is None or nxt[0] != script:
                break
            digits.append(nxt[1])
            j += 1
            end = j
        out.append(("".join(digits), start, end))
        i = end
    return out


def find_number(digits: str, text: str) -> list[tuple[int, int]]:
    """Where the digit string is said as a whole number (see number_tokens): 12345 in 打幺二三四五投诉, not in
    0571-8812 3456 or a bank card number. Source spans, in order."""
    return [(s, e) for d, s, e in number_tokens(text) if d == digits] if digits else []


_FOLDED_DIGITS = _folded_digits()  # constant, derived once from DIGIT_SYLLABLES
