"""The Chinese working-day calendar the deadlines count on: weekdays, minus statutory holidays, plus the
make-up working days (调休) the State Council moves onto weekends.

Two sources, the second winning day by day:

1. the `chinesecalendar` package (the State Council's schedules, 2004 to the year its release covers);
2. operator files, one per year, in the holiday-cn JSON format (`[workorders] calendar_dir`, `2027.json`):

       {"year": 2027, "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true}, ...]}

   The State Council publishes next year's schedule each November; an operator loads it here the same day
   instead of waiting for a package release. A file may also correct the package's year.

A day of a year neither source knows is counted with weekends as the only days off, and whatever is
computed from it is *estimated*: `WorkingCalendar.knows(year)` says so, the deadlines carry the flag, the
supervisor pages warn until the year's file is loaded. Never a silent guess, never a crash.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from ivr.workorders.exceptions import CalendarFileError

YEAR_FILE_RE = re.compile(r"^(\d{4})\.json$")
# Names the package gives its holidays (enum member names), as a Chinese operator reads them.
PACKAGE_NAMES = {
    "new_years_day": "元旦", "spring_festival": "春节", "tomb_sweeping_day": "清明节", "labour_day": "劳动节",
    "dragon_boat_festival": "端午节", "national_day": "国庆节", "mid_autumn_festival": "中秋节",
    "anti_fascist_70th_day": "抗战胜利纪念日",
}


class YearSource(enum.StrEnum):
    PACKAGE = "chinesecalendar"
    FILE = "file"
    BOTH = "chinesecalendar+file"
    NONE = "none"  # weekends only: estimated


@dataclass(frozen=True)
class SpecialDay:
    """A day that is not what its weekday says: a holiday on a weekday, or a working weekend day."""

    day: dt.date
    name: str
    off: bool


@dataclass(frozen=True)
class YearFile:
    year: int
    path: str
    days: tuple[SpecialDay, ...]
    mtime: float = 0.0


@dataclass(frozen=True)
class YearReport:
    """What `hotline workorders calendar check YEAR` prints."""

    year: int
    source: YearSource
    files: tuple[str, ...]
    holidays: tuple[SpecialDay, ...]  # statutory days off (a span may include its weekend days)
    makeup_days: tuple[SpecialDay, ...]  # weekend days that are working days
    working_days: int
    package_years: tuple[int, int] | None

    @property
    def estimated(self) -> bool:
        return self.source is YearSource.NONE


def _package_days() -> tuple[dict[dt.date, SpecialDay], frozenset[int]]:
    try:
        from chinese_calendar import constants
    except ImportError:  # pragma: no cover - a dependency; the files alone still work
        return {}, frozenset()
    names = {h.value: PACKAGE_NAMES.get(h.name, h.value) for h in constants.Holiday}
    days: dict[dt.date, SpecialDay] = {}
    for day, name in constants.holidays.items():
        days[day] = SpecialDay(day, names.get(name, str(name)), True)
    for day, name in constants.workdays.items():
        days[day] = SpecialDay(day, names.get(name, str(name)), False)
    return days, frozenset(d.year for d in days)


@lru_cache(maxsize=1)
def package_calendar() -> tuple[Mapping[dt.date, SpecialDay], frozenset[int]]:
    return _package_days()


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def parse_year_file(text: str, where: str = "<calendar>", *, year: int | None = None,
                    mtime: float = 0.0) -> YearFile:
    """A holiday-cn file (an object with `days`, or just the list of days) -> YearFile; CalendarFileError
    naming file:line otherwise. `year` (from the file name) must agree with the file's own `year`."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarFileError(f"{where}:{exc.lineno}: not JSON: {exc.msg}", file=where, line=exc.lineno) from None
    if isinstance(data, dict):
        declared = data.get("year")
        if declared is not None:
            if not isinstance(declared, int) or isinstance(declared, bool):
                year_line = _line_of(text, '"year"') or 1
                raise CalendarFileError(f"{where}:{year_line}: year must be a number", file=where, line=year_line)
            if year is not None and declared != year:
                raise CalendarFileError(f"{where}: the file says year {declared} but is named for {year}",
                                        file=where)
            year = declared
        entries = data.get("days")
        if not isinstance(entries, list):
            raise CalendarFileError(f"{where}:1: expected an object with a list \"days\"", file=where)
    elif isinstance(data, list):
        entries = data
    else:
        raise CalendarFileError(f"{where}:1: expected an object with \"days\" or a list of days", file=where)
    if year is None:
        raise CalendarFileError(f"{where}: no year: name the file YEAR.json or give \"year\"", file=where)
    days: dict[dt.date, SpecialDay] = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CalendarFileError(f"{where}: days[{n}] must be an object with date, name, isOffDay", file=where)
        # json keeps no positions: the entry's line is where its date's text first appears
        line = _line_of(text, json.dumps(entry.get("date"), ensure_ascii=False)) if "date" in entry else None
        at = f"{where}:{line}" if line else where
        raw, name, off = entry.get("date"), entry.get("name", ""), entry.get("isOffDay")
        try:
            day = dt.date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise CalendarFileError(f"{at}: days[{n}].date {raw!r} is not a date (YYYY-MM-DD)", file=where)
        if not isinstance(off, bool):
            raise CalendarFileError(f"{at}: days[{n}].isOffDay must be true or false, not {off!r}", file=where)
        if not isinstance(name, str):
            raise CalendarFileError(f"{at}: days[{n}].name must be text", file=where)
        if abs(day.year - year) > 1:
            raise CalendarFileError(f"{at}: days[{n}].date {raw} is far from the file's year {year}", file=where)
        if day in days and days[day].off != off:
            raise CalendarFileError(f"{at}: days[{n}].date {raw} is given twice, once off and once working",
                                    file=where)
        days[day] = SpecialDay(day, name.strip()[:40], off)
    return YearFile(year=year, path=where, days=tuple(sorted(days.values(), key=lambda d: d.day)), mtime=mtime)


def load_year_files(directory: Path | None) -> tuple[dict[int, YearFile], list[CalendarFileError]]:
    """Every YEAR.json in the directory (blocking); a bad file is reported and left out, never fatal: the
    hotline keeps counting, that year then with the package (or estimated)."""
    files: dict[int, YearFile] = {}
    problems: list[CalendarFileError] = []
    if directory is None:
        return files, problems
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return files, problems
    except OSError as exc:
        return files, [CalendarFileError(f"{directory}: cannot list: {exc}", file=str(directory))]
    for name in names:
        m = YEAR_FILE_RE.match(name)
        if not m:
            continue
        path = directory / name
        try:
            text = path.read_text("utf-8")
            mtime = path.stat().st_mtime
        except (OSError, UnicodeError) as exc:
            problems.append(CalendarFileError(f"{path}: cannot read: {exc}", file=str(path)))
            continue
        try:
            files[int(m.group(1))] = parse_year_file(text, str(path), year=int(m.group(1)), mtime=mtime)
        except CalendarFileError as exc:
            problems.append(exc)
    return files, problems


def directory_stamp(directory: Path | None) -> tuple[tuple[str, float], ...]:
    """(name, mtime) of the year files: what a reload compares (blocking, cheap)."""
    if directory is None:
        return ()
    try:
        names = sorted(n for n in os.listdir(directory) if YEAR_FILE_RE.match(n))
    except OSError:
        return ()
    out = []
    for n in names:
        try:
            out.append((n, (directory / n).stat().st_mtime))
        except OSError:
            continue
    return tuple(out)


@dataclass
class WorkingCalendar:
    """Which days are working days; pure once built. `files` override the package day by day."""

    files: Mapping[int, YearFile] = field(default_factory=dict)
    use_package: bool = True
    problems: tuple[CalendarFileError, ...] = ()

    def __post_init__(self) -> None:
        base, years = package_calendar() if self.use_package else ({}, frozenset())
        self._package_years = years
        merged: dict[dt.date, SpecialDay] = dict(base)
        for yf in sorted(self.files.values(), key=lambda f: f.year):
            for d in yf.days:
                merged[d.day] = d
        self._days = merged
        self._file_years = frozenset(self.files)

    @classmethod
    def builtin(cls) -> "WorkingCalendar":
        return _builtin()

    @classmethod
    def from_directory(cls, directory: Path | None) -> "WorkingCalendar":
        files, problems = load_year_files(directory)
        return cls(files, problems=tuple(problems))

    # --- days ------------------------------------------------------------------------------------------

    def special(self, day: dt.date) -> SpecialDay | None:
        return self._days.get(day)

    def is_off(self, day: dt.date) -> bool:
        s = self._days.get(day)
        return s.off if s is not None else day.weekday() >= 5

    def is_working_day(self, day: dt.date) -> bool:
        return not self.is_off(day)

    def knows(self, year: int) -> bool:
        return year in self._package_years or year in self._file_years

    def unknown_years(self, first: dt.date, last: dt.date) -> tuple[int, ...]:
        lo, hi = sorted((first.year, last.year))
        return tuple(y for y in range(lo, hi + 1) if not self.knows(y))

    def source(self, year: int) -> YearSource:
        package, file = year in self._package_years, year in self._file_years
        if package and file:
            return YearSource.BOTH
        return YearSource.PACKAGE if package else YearSource.FILE if file else YearSource.NONE

    @property
    def package_years(self) -> tuple[int, int] | None:
        return (min(self._package_years), max(self._package_years)) if self._package_years else None

    def known_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._package_years | self._file_years))

    def report(self, year: int) -> YearReport:
        days = [dt.date(year, 1, 1) + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1)
                                                                            - dt.date(year, 1, 1)).days)]
        specials = [s for s in (self._days.get(d) for d in days) if s is not None]
        return YearReport(
            year=year, source=self.source(year),
            files=tuple(f.path for f in self.files.values() if f.year == year),
            holidays=tuple(s for s in specials if s.off),
            makeup_days=tuple(s for s in specials if not s.off and s.day.weekday() >= 5),
            working_days=sum(1 for d in days if not self.is_off(d)),
            package_years=self.package_years)


@lru_cache(maxsize=1)
def _builtin() -> WorkingCalendar:
    return WorkingCalendar()


def calendar_from_days(days: Iterable[tuple[str, str, bool]], *, use_package: bool = True) -> WorkingCalendar:
    """A calendar with operator days given inline ((date, name, off), ...): for tools and tests."""
    by_year: dict[int, list[SpecialDay]] = {}
    for raw, name, off in days:
        d = dt.date.fromisoformat(raw)
        by_year.setdefault(d.year, []).append(SpecialDay(d, name, off))
    files = {y: YearFile(y, "<inline>", tuple(sorted(v, key=lambda s: s.day))) for y, v in by_year.items()}
    return WorkingCalendar(files, use_package=use_package)


def spans(days: Iterable[SpecialDay]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days of one name as (first, last, name): how a schedule is read out."""
    out: list[tuple[dt.date, dt.date, str]] = []
    for d in sorted(days, key=lambda s: s.day):
        if out and out[-1][2] == d.name and out[-1][1] + dt.timedelta(days=1) == d.day:
            out[-1] = (out[-1][0], d.day, d.name)
        else:
            out.append((d.day, d.day, d.name))
    return out
