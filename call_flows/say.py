"""Chinese read-outs (amounts, digits, dates) composed from a small fixed set of recorded words.

Asterisk ships no Mandarin number sounds, so `number:`/`digits:` media would read Chinese callers their
balance in English. Instead `hotline prompts build` renders these words once into
sound:hotline/zh/say/<id> and the engine strings them together.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

SAY_TEXT: dict[str, str] = {
    **{f"n{d}": t for d, t in enumerate("零一二三四五六七八九")},
    "liang": "两", "shi": "十", "bai": "百", "qian": "千", "wan": "万", "yi": "亿", "dian": "点",
    "yuan": "元", "jiao": "角", "fen": "分", "fu": "负",
    "year": "年", "month": "月", "day": "日", "hour": "点", "minute": "分", "to": "至", "star": "星", "pound": "井",
}


def _below_10k(n: int, leading: bool) -> list[str]:
    """0 < n < 10000, read the Chinese way: 1005 一千零五, 15 十五 (at the start), 110 一百一十."""
    out: list[str] = []
    zero_pending = False
    for value, unit in ((1000, "qian"), (100, "bai"), (10, "shi"), (1, "")):
        d = n // value % 10
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("n0")
            zero_pending = False
        if unit == "shi" and d == 1 and not out and leading:
            out.append("shi")  # 十五, not 一十五
            continue
        out.append("liang" if (d == 2 and unit == "qian" and not out) else f"n{d}")
        if unit:
            out.append(unit)
    return out


def integer(n: int) -> list[str]:
    if n < 0:
        return ["fu", *integer(-n)]
    if n == 0:
        return ["n0"]
    out: list[str] = []
    skipped = False
    for value, unit in ((n // 100_000_000, "yi"), (n // 10_000 % 10_000, "wan"), (n % 10_000, "")):
        if value == 0:
            skipped = bool(out)
            continue
        if out and (skipped or value < 1000):
            out.append("n0")  # 一万零五, 一亿零一万
        skipped = False
        words = ["liang"] if (value == 2 and unit and not out) else _below_10k(value, leading=not out)
        out.extend(words)
        if unit:
            out.append(unit)
    return out


def money(amount: Decimal) -> list[str]:
    """123.45 -> 一百二十三元四角五分; 0.05 -> 零元零五分 read as 五分; whole yuan end at 元."""
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = ["fu"] if amount < 0 else []
    amount = abs(amount)
    yuan = int(amount)
    cents = int((amount - yuan) * 100)
    jiao, fen = divmod(cents, 10)
    out = list(sign)
    if yuan or not cents:
        out += integer(yuan) + ["yuan"]
    if jiao:
        out += [f"n{jiao}", "jiao"]
    if fen:
        if yuan and not jiao:
            out.append("n0")
        out += [f"n{fen}", "fen"]
    return out


def digits(text: str) -> list[str]:
    names = {"*": "star", "#": "pound"}
    return [names.get(c, f"n{c}") for c in text if c.isdigit() or c in names]


def moment(when: dt.datetime, *, with_date: bool = True) -> list[str]:
    """11月25日9点30分 (local time already applied by the caller)."""
    out: list[str] = []
    if with_date:
        out += integer(when.month) + ["month"] + integer(when.day) + ["day"]
    out += integer(when.hour) + ["hour"]
    if when.minute:
        out += integer(when.minute) + ["minute"]
    return out


def as_text(tokens: list[str]) -> str:
    return "".join(SAY_TEXT[t] for t in tokens)
