"""Numbers from URLs and query strings. str.isdigit() is true for '²' and '٣' (int() refuses the first and
reads the second), and an id past 64 bits overflows the database's integer: only short ASCII digit runs count."""

from __future__ import annotations

MAX_ID_DIGITS = 18  # below 2**63: every id fits a BIGINT


def ascii_int(text: str, *, max_digits: int = MAX_ID_DIGITS) -> int | None:
    """The number `text` spells in ASCII digits, or None."""
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
