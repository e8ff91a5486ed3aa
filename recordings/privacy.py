"""Who may see what, masking of personal numbers, and the access log for recordings and transcripts.

Policy (004 §13: never disclose a caller's name, phone, address to anyone else):

| role       | transcript / evidence on screen | CSV export | listen to audio         | review scores |
|------------|---------------------------------|------------|-------------------------|---------------|
| agent      | masked, own calls only          | no         | own calls only          | no            |
| qa         | masked                          | masked     | any call                | yes           |
| supervisor | unmasked                        | masked     | any call                | yes           |
| admin      | unmasked                        | unmasked   | any call                | yes           |

Audio cannot be masked, so listening is limited by call ownership instead, and every listen, transcript view
and export is written to recording_access. Transcripts are stored unmasked (supervisors need the numbers to
follow a case up); masking happens on the way out.

Masked (find_numbers; docs/security.md "Masking"): every run of 7 or more digits, in any digit script (ASCII,
full-width, other Unicode digits, the Chinese digits ASR writes: 一二三…零〇, 幺 for 1, 两 for 2, mixed freely),
with any invisible characters and up to three separators (spaces, newlines, - . / , ， 、 brackets, the
hesitations 嗯 呃 啊 ASR writes) between two digits. What stays visible depends on what the run is:

| kind     | digits                                                  | visible                  | e.g.              |
|----------|---------------------------------------------------------|--------------------------|-------------------|
| mobile   | 11 starting with 1; +86 / 86 / 0086 / trunk 0 before it | prefix, first 3, last 4  | +86 138 **** 8000 |
| id       | 18 (last may be X), 15 (old cards)                      | first 3, last 4          | 110***********002X |
| card     | 16-19                                                   | first 3, last 4          | 622* **** **** 7890 |
| landline | 0 + area code + number (10-12); +86 + area code + ...   | prefix, area code, last 2 | 0571-**** **56   |
| local    | 7-8, not starting with 0                                | last 2                   | *****32           |
| other    | any other run of 7-11                                   | last 2                   | *******89         |
| long     | any other run of 12+ (a number with a stray digit)      | first 3, last 4          | 302，*******8000   |

Readable: runs of fewer than 7 digits (110, 12345, 95598, 8点, 30元, 2026年), dates (2026-03-01, 2026/3/1, also
followed by an hour), amounts with a decimal point (23456.78元), lists of service numbers only (110、119、120),
and codes glued to Latin letters (G1000001, GD2026030100001), unless the digits are a mobile, ID, card or
trunk-prefixed landline number (tel13800138000 is masked). Homophones of digits (要/幺) are not recognised here.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db.models import RecordingAccess, Role, utcnow
from recordings.qa.text import DIGIT_CHARS, join_words


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the agents row id (None for a system job) and role."""

    agent_pk: int | None
    role: Role


def sees_pii(role: Role) -> bool:
    return role in (Role.SUPERVISOR, Role.ADMIN)


def exports_pii(role: Role) -> bool:
    return role is Role.ADMIN


def may_export(role: Role) -> bool:
    return role in (Role.QA, Role.SUPERVISOR, Role.ADMIN)


def may_review(role: Role) -> bool:
    return role in (Role.QA, Role.SUPERVISOR, Role.ADMIN)


def may_open_call(viewer: Viewer, call_agent_pk: int | None) -> bool:
    """Transcript, score and audio of a call: agents only their own calls, QA roles any."""
    if viewer.role is Role.AGENT:
        return viewer.agent_pk is not None and viewer.agent_pk == call_agent_pk
    return True


MASK = "*"

# --- The detector -----------------------------------------------------------------------------------------------
# A pure function over text. The regex below finds, in the original text, every run of digits in any script
# (ASCII, full-width, other Unicode decimals, ² ① ❶ look-alikes, the Chinese digits ASR writes, 幺 for 1 and 两 for
# 2) in which the digits are joined by transparent gaps: any number of invisible characters (zero-width space and
# joiners, word joiner, BOM, bidi marks, variation selectors, combining marks) plus at most three visible
# separators (spaces of any width, newlines, hyphens and dashes, dots, slashes, commas, 、, brackets, 嗯/呃/啊).
# Each match is read into a digit string with the source position of every digit (the normalised view and its
# map back), the digit string is classified, and the classified digits are masked in place: output has the
# input's length, so word times and evidence spans stay aligned. Only the matches are looked at character by
# character; the text between them is skipped by the regex engine.

_CHINESE_DIGITS = DIGIT_CHARS  # 零〇洞 0, 幺一 1, 两二 2, 三 … 九
_CHECK_CHARS = "XxＸｘ"  # the check character of an ID card number


def _look_alike_digits() -> str:
    # Not Unicode decimals (so \d misses them) but read as a digit: ² ₂ ① ⓵ ❶ ➀ 🄂 ...
    cps = itertools.chain(range(0x80, 0x3000), range(0x1F100, 0x1F110))
    return "".join(ch for ch in map(chr, cps)
                   if ch.isdigit() and not ch.isdecimal() and unicodedata.digit(ch, None) is not None)


_DIGIT = "[\\d" + re.escape(_look_alike_digits() + "".join(_CHINESE_DIGITS)) + "]"
_INVISIBLE = ("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
              "\u3164\ufe00-\ufe0f\ufeff\uffa0\u0300-\u036f\u20d0-\u20ff\ufe20-\ufe2f"
              "\U000e0000-\U000e007f\U000e0100-\U000e01ef]")
# The interjections are how ASR writes a caller's hesitation between groups: 幺三八嗯零零幺三.
_SEPARATOR = ("[\\s\\-\u2010-\u2015\u2212\ufe63\uff0d_.\uff0e\u00b7\u30fb\u3002/\uff0f\\\\,\uff0c\u3001()\uff08\uff09"
              "嗯呃额啊哦噢]")
_GAP = f"{_INVISIBLE}*(?:{_SEPARATOR}{_INVISIBLE}*){{0,3}}"
MIN_DIGITS = 7  # shorter runs are never personal numbers here: 110, 12345, 95598, 8点, 30元, 2026年 stay readable
_RUN = re.compile(f"{_DIGIT}(?:{_GAP}{_DIGIT}){{{MIN_DIGITS - 1},}}(?:{_GAP}[{_CHECK_CHARS}])?")
_ATOM = re.compile(f"({_DIGIT})|([{_CHECK_CHARS}])|({_SEPARATOR})")
# Matched at the start of the text and of the reversed text (a gap reads the same both ways): a search for a
# run that ends at the end of the text would be quadratic on long runs.
_EDGE = re.compile(f"{_INVISIBLE}*{_DIGIT}(?:{_GAP}{_DIGIT})*")

# Numbers that are read out to callers and are nobody's personal number; a list of them joined by commas
# (110、119、120) would otherwise be one 9-digit run. Only comma lists: 95598 110 with a space stays a number.
SERVICE_NUMBERS = frozenset({"110", "114", "119", "120", "122", "10000", "10010", "10086", "12306", "12315",
                             "12319", "12320", "12333", "12345", "12348", "12358", "12365", "12369", "12395",
                             "95598"})
_LIST_SEPARATORS = frozenset(",\uff0c\u3001")
_DATE_SEPARATORS = frozenset("-./\uff0f\uff0e\uff0d")
_DECIMAL_POINTS = frozenset(".\uff0e")
# Kinds that are not masked when glued to Latin letters: there they are codes (account G1000001, meter
# M2345678901, work order GD2026030100001), written without separators. A mobile, ID, card or trunk-prefixed
# landline is masked even glued (tel13800138000), and so is a code-like run that has a mobile number in it
# (tel3013800138000) or separators (tel13800138000。13900139000 is two numbers, not a code).
_WEAK = frozenset({"local", "other", "long"})
_MOBILE_INSIDE = re.compile("1[3-9][0-9]{9}")
_LONGEST = 19  # digits in the longest recognised number (a bank card)
# A run of more groups than this (a minute of digits read out one by one) is masked as one long number, all but
# its first 3 and last 4 digits, without looking for the numbers inside: that look costs groups x 19.
_MAX_GROUPS = 64


@dataclass(frozen=True)
class Found:
    """One personal number in a text: its kind, every digit's source position, and the positions masked."""

    kind: str  # mobile, id, card, landline, local; other / long for unrecognised runs of 7-11 / 12+ digits
    positions: tuple[int, ...]
    hidden: tuple[int, ...]

    @property
    def start(self) -> int:
        return self.positions[0]

    @property
    def end(self) -> int:
        return self.positions[-1] + 1


def _value(ch: str) -> str:
    return _CHINESE_DIGITS.get(ch) or str(unicodedata.digit(ch))


def classify(digits: str) -> tuple[str, int, int]:
    """(kind, leading digits kept, trailing digits kept) of a digit string of MIN_DIGITS or more.

    Every run that long is masked; the kind only decides what stays visible.
    """
    n = len(digits)
    for cc in ("0086", "86"):
        if digits.startswith(cc):
            rest = digits[len(cc):]
            trunk = 1 if rest.startswith("0") and len(rest) >= 10 else 0  # +86 (0)571 ...
            nat = rest[trunk:]
            if len(nat) == 11 and nat[0] == "1":
                return "mobile", len(cc) + trunk + 3, 4
            if 9 <= len(nat) <= 11 and (nat[0] in "23456789" or nat.startswith("10")):
                return "landline", len(cc) + trunk + (2 if nat[0] in "12" else 3), 2
            break
    if n == 18 or (n == 15 and digits[0] != "0"):
        return "id", 3, 4  # 18 digits (last may be X); 15 for the old cards
    if n == 11 and digits[0] == "1":
        return "mobile", 3, 4
    if n == 12 and digits.startswith("01") and digits[2] in "3456789":
        return "mobile", 4, 4  # dialled with the trunk 0
    if 16 <= n <= 19:
        return "card", 3, 4
    if digits[0] == "0" and digits[1] != "0" and 10 <= n <= 12:
        return "landline", (3 if digits[1] in "12" else 4), 2  # area code 010 / 021 / 0571 ... kept
    if n in (7, 8) and digits[0] != "0":
        return "local", 0, 2
    if n >= 12:
        return "long", 3, 4  # longer than any phone: maybe a number with a stray digit before or after it
    return "other", 0, 2


def _is_date(digits: str, sizes: list[int], gaps: list[str]) -> bool:
    if len(sizes) != 3 or sizes[0] != 4 or not (1 <= sizes[1] <= 2 and 1 <= sizes[2] <= 2):
        return False
    if gaps[0] != gaps[1] or gaps[0] not in _DATE_SEPARATORS or digits[:2] not in ("19", "20"):
        return False
    return 1 <= int(digits[4:4 + sizes[1]]) <= 12 and 1 <= int(digits[4 + sizes[1]:]) <= 31


def _plan(digits: str, sizes: list[int], gaps: list[str], glued: tuple[bool, bool]
          ) -> list[tuple[int, int, str, int, int]]:
    """Stretches of one run to mask: (first digit index, end index, kind, kept head, kept tail)."""
    if len(sizes) >= 2 and "X" not in digits:
        bounds = list(itertools.accumulate(sizes, initial=0))
        groups = [digits[a:b] for a, b in itertools.pairwise(bounds)]
        if all(g in SERVICE_NUMBERS for g in groups) and all(set(gap) & _LIST_SEPARATORS for gap in gaps):
            return []
        if len(sizes) == 2 and gaps[0] in _DECIMAL_POINTS and sizes[0] <= 8 and sizes[1] <= 2:
            return []  # an amount: 23456.78元
        # A date (2026-03-01, 1990/1/2) at either end is read as a date when what is left is an hour or a run
        # that is masked on its own; a number written in the shape of a date with a few digits more stays whole.
        if len(sizes) >= 3:
            for lo, hi in ((0, 3), (len(sizes) - 3, len(sizes))):
                date = digits[bounds[lo]:bounds[hi]]
                if not _is_date(date, sizes[lo:hi], gaps[lo:hi - 1]):
                    continue
                rest_lo, rest_hi = (bounds[hi], len(digits)) if lo == 0 else (0, bounds[lo])
                rest_n = rest_hi - rest_lo
                if rest_n <= 2:
                    return []
                if rest_n >= MIN_DIGITS:
                    rest_sizes = sizes[hi:] if lo == 0 else sizes[:lo]
                    rest_gaps = gaps[hi:] if lo == 0 else gaps[:lo - 1]
                    rest_glued = (False, glued[1]) if lo == 0 else (glued[0], False)
                    return [(a + rest_lo, b + rest_lo, k, h, t) for a, b, k, h, t in
                            _plan(digits[rest_lo:rest_hi], rest_sizes, rest_gaps, rest_glued)]
    kind, head, tail = classify(digits)
    if kind in _WEAK and (glued[0] or glued[1]) and len(sizes) == 1 and not _MOBILE_INSIDE.search(digits):
        return []
    within = _within(digits, sizes) if kind in ("other", "long") else []
    return [(0, len(digits), kind, head, tail), *within]


def _within(digits: str, sizes: list[int]) -> list[tuple[int, int, str, int, int]]:
    """Every recognised number made of whole groups of an unrecognised run (13800138000，010-62345678 is two).

    They are masked on top of the run's own mask, so whichever way the run is read, each number in it keeps no
    more visible than its kind shows; readings that overlap only hide more.
    """
    k = len(sizes)
    if not 2 <= k <= _MAX_GROUPS:
        return []
    bounds = list(itertools.accumulate(sizes, initial=0))
    out: list[tuple[int, int, str, int, int]] = []
    for i in range(k):
        for j in range(i + 1, k + 1):
            n = bounds[j] - bounds[i]
            if n > _LONGEST:
                break
            if n < MIN_DIGITS or j - i == k:
                continue
            kind, head, tail = classify(digits[bounds[i]:bounds[j]])
            if kind not in ("other", "long"):
                out.append((bounds[i], bounds[j], kind, head, tail))
    return out


def _is_letter(ch: str) -> bool:
    c = unicodedata.normalize("NFKC", ch)
    return len(c) == 1 and c.isascii() and c.isalpha()


def find_numbers(text: str) -> list[Found]:
    """Every personal number in text, in order (see the module docstring for the kinds and what stays visible).

    A run of several numbers is found as a whole and as each number in it, so entries may overlap.
    """
    out: list[Found] = []
    for m in _RUN.finditer(text):
        positions: list[int] = []
        chars: list[str] = []
        sizes: list[int] = []
        gaps: list[str] = []
        gap = ""
        for atom in _ATOM.finditer(m.group()):
            digit, _check, sep = atom.groups()
            if sep is not None:
                gap += sep
                continue
            if gap or not sizes:
                if sizes:
                    gaps.append(gap.strip() or gap[:1])
                sizes.append(0)
                gap = ""
            positions.append(m.start() + atom.start())
            chars.append(_value(digit) if digit is not None else "X")
            sizes[-1] += 1
        glued_left = m.start() > 0 and _is_letter(text[m.start() - 1])
        readings = [(positions, chars, sizes, gaps)]
        if chars[-1] == "X":
            # The ID check character, or a letter the number is glued to: both readings are masked.
            cut_sizes = sizes[:-1] + [sizes[-1] - 1] if sizes[-1] > 1 else sizes[:-1]
            without = (positions[:-1], chars[:-1], cut_sizes, gaps[:len(cut_sizes) - 1])
            readings = [without] if len(chars) <= 14 else [*readings, without]
        for pos, ch, sz, gp in readings:
            end = pos[-1] + 1
            glued = (glued_left, end < len(text) and _is_letter(text[end]))
            for lo, hi, kind, head, tail in _plan("".join(ch), sz, gp, glued):
                run = tuple(pos[lo:hi])
                out.append(Found(kind, run, run[head:len(run) - tail]))
    return out


def mask_spans(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """Personal-number runs in text: (start, end, positions to mask)."""
    return [(f.start, f.end, f.hidden) for f in find_numbers(text)]


def _apply(text: str, hidden: Iterable[int]) -> str:
    chars = list(text)
    for p in hidden:
        chars[p] = MASK
    return "".join(chars)


def mask_text(text: str) -> str:
    if not text:
        return text
    found = find_numbers(text)
    if not found:
        return text
    return _apply(text, itertools.chain.from_iterable(f.hidden for f in found))


def mask_words(words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mask word-level entries ({"w","s","e","c"}) consistently with the joined text."""
    text, spans = join_words([str(w.get("w", "")) for w in words])
    masked = mask_text(text)
    if masked == text:
        return words
    return [{**w, "w": masked[s:e]} for w, (s, e) in zip(words, spans)]


def mask_cut(text: str) -> str:
    """mask_text for a window cut out of a transcript (evidence with context): a number cut by the window's
    edge no longer looks like a phone or ID number, so a run of 3+ digits at either edge that is not recognised
    as one (dates and codes included) is hidden entirely."""
    found = find_numbers(text)
    hidden: set[int] = set(itertools.chain.from_iterable(f.hidden for f in found))
    recognised = {p for f in found if f.kind not in ("other", "long") for p in f.positions}
    last = len(text) - 1
    for reverse in (False, True):
        m = _EDGE.match(text[::-1] if reverse else text)
        if m is None:
            continue
        run = [last - (m.start() + a.start()) if reverse else m.start() + a.start()
               for a in _ATOM.finditer(m.group()) if a.group(1) is not None]
        if len(run) >= 3 and not recognised.intersection(run):
            hidden.update(run)
    return _apply(text, hidden) if hidden else text


def mask_evidence(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """QaScore.results with every evidence text masked (evidence texts are windows: see mask_cut)."""
    out = []
    for r in results:
        ev = [{**e, "text": mask_cut(str(e.get("text", "")))} for e in r.get("evidence", [])]
        out.append({**r, "evidence": ev, "detail": mask_text(str(r.get("detail", "")))})
    return out


def mask_phone(number: str) -> str:
    """A caller number for screens without the right: the same rules, and short numbers keep only 2 digits."""
    masked = mask_text(number)
    if masked != number or len(number) < 5:
        return masked
    return MASK * (len(number) - 2) + number[-2:]


async def log_access(s: AsyncSession, viewer: Viewer, *, call_id: int | None, action: str,
                     recording_id: int | None = None) -> None:
    """One recording_access row; added to the caller's transaction so the view and its log go together."""
    s.add(RecordingAccess(recording_id=recording_id, call_id=call_id, agent_pk=viewer.agent_pk,
                          action=action[:32], at=utcnow()))
