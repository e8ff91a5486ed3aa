"""Complaint levels from "the same matter" (004 §14(六)), as pure functions.

    level 3 (轻度, minor)    the default
    level 2 (一般, general)  5 different callers with the same complaint within a month, or a group of 5+
    level 1 (重大, major)    a lawsuit, media exposure (or likely), or the same caller on the same matter 5+ times

"The same matter", as this hotline counts it:

- both are complaints with the same topic (the complaint's category as the agent files it: 服务态度,
  燃气压力, 抄表收费 ...; no topic is a topic of its own), and
- about the same place: the caller's area when the caller's account names one (a complaint about gas
  pressure in 城东片区 is one matter for the whole area), else the same address (normalised: full-width
  to half-width, no spaces or punctuation, case-folded), else the same account, else the same phone
  number;
- within a month: the 30 days before the new complaint (MATTER_WINDOW).

"The same caller" is the same account (customer), else the same phone number. A level only ever rises
automatically; a supervisor lowers it by hand. When a new complaint raises the level, every open complaint
of the same matter is raised with it and its completion deadline is recomputed (3 h / 24 h / 48 h from
when it was taken).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ivr.workorders.model import COMPLAINT_FLAGS

MATTER_WINDOW = dt.timedelta(days=30)
DIFFERENT_CALLERS = 5  # level 2
GROUP = 5  # a collective complaint of this many people: level 2
SAME_CALLER_TIMES = 5  # level 1
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise_address(text: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text or "")).casefold()[:150]


def caller_key(customer_id: int | None, phone: str) -> str:
    if customer_id is not None:
        return f"customer:{customer_id}"
    digits = re.sub(r"\D", "", phone or "")
    return f"phone:{digits}" if digits else ""


def place_key(*, area_code: str | None, address: str, customer_id: int | None, phone: str) -> str:
    if area_code:
        return f"area:{area_code}"
    addr = normalise_address(address)
    if addr:
        return f"address:{addr}"
    return caller_key(customer_id, phone)


def matter_key(topic: str, place: str) -> str:
    """'' when there is nothing to key on (no place at all): such a complaint matches no other."""
    if not place:
        return ""
    return f"{normalise_address(topic)[:40]}@{place}"[:200]


@dataclass(frozen=True)
class Level:
    level: int
    reasons: tuple[str, ...]  # lawsuit, media, same_caller, different_callers, group


def level_for(requested: int, *, flags: Sequence[str] = (), group_size: int = 1,
              earlier_callers: Sequence[str] = (), caller: str = "") -> Level:
    """The level of a new complaint: the requested one, raised by the rules. `earlier_callers` are the
    caller keys of the complaints of the same matter in the window (one per complaint)."""
    reasons: list[str] = []
    level = requested
    same = 1 + sum(1 for c in earlier_callers if c and c == caller) if caller else 1
    different = len({c for c in earlier_callers if c} | ({caller} if caller else set()))
    for flag in flags:
        if flag in COMPLAINT_FLAGS:
            reasons.append(flag)
    if caller and same >= SAME_CALLER_TIMES:
        reasons.append("same_caller")
    if reasons:
        level = 1
    else:
        if different >= DIFFERENT_CALLERS:
            reasons.append("different_callers")
        if group_size >= GROUP:
            reasons.append("group")
        if reasons:
            level = min(level, 2)
    return Level(min(level, requested), tuple(reasons))
