"""Chinese phone numbers in one comparable form, shared by the AGI lookup and the flow engine.

Callers arrive as 13800138000, +8613800138000, 008613800138000 or 01012345678; customer records hold whatever
a clerk typed (dashes, spaces, with or without the trunk 0). `phone_key` reduces all of them to the national
significant number, so every writer and reader of customer_phones agrees on who a caller is.
"""

from __future__ import annotations

import re

_COUNTRY_PREFIXES = ("0086", "86")
# A national number is at least 10 digits once it carries an area code (10 1234 5678, 755 123 4567) and 11 for
# mobiles, so "86" is only a country code when that much follows; a local 8-digit 8612 3456 stays as it is.
_MIN_NATIONAL_DIGITS = 10


def phone_key(number: str) -> str:
    """Digits of the national significant number: no +86/0086/86 country code, no trunk 0, no punctuation.

    '+86 138-0013-8000' -> '13800138000'; '010-1234 5678', '+86 10 12345678', '+86 (0)10 12345678' ->
    '1012345678'; '12345678' (no area code) stays '12345678'; '' or no digits -> ''.
    """
    digits = re.sub(r"\D", "", number)
    for prefix in _COUNTRY_PREFIXES:
        if digits.startswith(prefix) and len(digits) - len(prefix) >= _MIN_NATIONAL_DIGITS:
            digits = digits[len(prefix):]
            break
    # The trunk prefix: 010..., 0755... landlines; some PBXs also dial mobiles as 0138...
    if digits.startswith("0") and len(digits) - 1 >= _MIN_NATIONAL_DIGITS:
        digits = digits[1:]
    return digits
