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

Masked: ID card numbers (18 or 15 digits, last may be X), mobile numbers (11 digits starting with 1),
landlines (0 + area code + number, or a 7-8 digit local number), bank cards (16-19 digits). Digits may be
ASCII, full-width, or spoken Chinese numerals (幺三八…), and may be broken by spaces or hyphens as ASR and
people write them. Kept: the first 3 and last 4 (ID, card, mobile: 110***********1234, 138****8000), the
area code and last 2 for landlines. Homophones of digits (要/幺) are not recognised as digits here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db.models import RecordingAccess, Role, utcnow
from recordings.qa.text import DIGIT_CHARS, join_words

MASK = "*"
_SEPARATORS = set(" -\u3000\u2014\u2013_")


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the agents row id (None for a system job) and role."""

    agent_pk: int | None
    role: Role


class AccessDenied(Exception):
    """The viewer's role does not allow this; str() is shown to the user."""


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


def _digit(ch: str) -> str | None:
    if ch in DIGIT_CHARS:
        return DIGIT_CHARS[ch]
    c = unicodedata.normalize("NFKC", ch)
    return c if len(c) == 1 and c.isascii() and c.isdigit() else None


def _keep(digits: str) -> tuple[int, int] | None:
    """How many leading and trailing digits stay visible, or None if this is not a personal number."""
    n = len(digits)
    if n in (15, 18):
        return 3, 4  # ID card (18; 15 for old cards)
    if n == 11 and digits[0] == "1":
        return 3, 4  # mobile
    if 16 <= n <= 19:
        return 3, 4  # bank card
    if digits[0] == "0" and 10 <= n <= 12:
        return (3 if digits[1] in "12" else 4), 2  # landline with area code: 010 / 021 / 0755 ...
    if n in (7, 8) and digits[0] != "0":
        return 0, 2  # local landline
    return None


def mask_spans(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """Personal-number runs in text: (start, end, positions to mask)."""
    out: list[tuple[int, int, tuple[int, ...]]] = []
    i, n = 0, len(text)
    while i < n:
        if _digit(text[i]) is None:
            i += 1
            continue
        positions: list[int] = []
        j = i
        while j < n:
            ch = text[j]
            if _digit(ch) is not None:
                positions.append(j)
                j += 1
            elif ch in "Xx" and len(positions) in (14, 17):
                positions.append(j)  # the check character of an ID card number
                j += 1
                break
            elif ch in _SEPARATORS and j + 1 < n and _digit(text[j + 1]) is not None:
                j += 1
            else:
                break
        digits = "".join(_digit(text[p]) or "X" for p in positions)
        # Digits glued to Latin letters are codes (account G1000001, meter numbers), not the numbers above.
        coded = (i > 0 and text[i - 1].isascii() and text[i - 1].isalpha()) or \
            (j < n and text[j].isascii() and text[j].isalpha())
        keep = None if coded else _keep(digits)
        if keep is not None:
            head, tail = keep
            hidden = tuple(positions[head:len(positions) - tail])
            out.append((positions[0], positions[-1] + 1, hidden))
        i = max(j, i + 1)
    return out


def mask_text(text: str) -> str:
    if not text:
        return text
    chars = list(text)
    for _, _, hidden in mask_spans(text):
        for p in hidden:
            chars[p] = MASK
    return "".join(chars)


def mask_words(words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mask word-level entries ({"w","s","e","c"}) consistently with the joined text."""
    text, spans = join_words([str(w.get("w", "")) for w in words])
    masked = mask_text(text)
    if masked == text:
        return words
    return [{**w, "w": masked[s:e]} for w, (s, e) in zip(words, spans)]


def _edge_run(text: str, reverse: bool) -> list[int]:
    """Positions of the digits in the number run touching the start (or end) of text."""
    order = range(len(text) - 1, -1, -1) if reverse else range(len(text))
    found: list[int] = []
    for i in order:
        if _digit(text[i]) is not None:
            found.append(i)
        elif not (found and text[i] in _SEPARATORS):
            break
    return found


def mask_cut(text: str) -> str:
    """mask_text for a window cut out of a transcript (evidence with context): a number cut by the window's
    edge no longer looks like a phone or ID number, so a run of 3+ digits at either edge that mask_text does
    not recognise is hidden entirely."""
    masked = list(mask_text(text))
    for reverse in (False, True):
        run = _edge_run(text, reverse)
        if len(run) >= 3 and all(masked[p] != MASK for p in run):
            for p in run:
                masked[p] = MASK
    return "".join(masked)


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
