"""ivr/phones.py: the one phone-number normaliser the AGI lookup and the flow engine share."""

from __future__ import annotations

import pytest

from ivr.phones import phone_key


@pytest.mark.parametrize("number, key", [
    ("13800138000", "13800138000"),
    ("+8613800138000", "13800138000"),
    ("+86 138-0013-8000", "13800138000"),
    ("008613800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("013800138000", "13800138000"),  # a PBX's trunk 0 before a mobile
    ("010-62345678", "1062345678"),
    ("01062345678", "1062345678"),
    ("+861062345678", "1062345678"),
    ("+86 (0)10 6234 5678", "1062345678"),
    ("0755 1234567", "7551234567"),
    ("+86 755 1234567", "7551234567"),
    ("62345678", "62345678"),  # no area code: left alone
    ("86123456", "86123456"),  # a local number that starts with 86 is not a country code
    ("0123", "0123"),  # too short for a trunk 0
    ("unknown", ""),
    ("", ""),
])
def test_phone_key(number: str, key: str) -> None:
    assert phone_key(number) == key


def test_every_written_form_of_one_number_has_one_key() -> None:
    forms = ["010-62345678", "(010) 6234 5678", "+86 10 62345678", "0086 10 6234 5678", "8610-62345678",
             "+86 (0)10 62345678", "01062345678"]
    assert {phone_key(f) for f in forms} == {"1062345678"}
