"""The working-day calendar: chinesecalendar as the base, operator year files over it, unknown years
estimated; `hotline workorders calendar check` and `due`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ivr.cli import main
from ivr.db.models import WorkOrderType
from ivr.workorders.calendar import WorkingCalendar, YearSource, calendar_from_days, load_year_files, parse_year_file
from ivr.workorders.exceptions import CalendarFileError
from ivr.workorders.rules import add_working_days, add_working_seconds, deadlines, working_seconds
from tests.builders import ZONE as CHINA

CAL = WorkingCalendar.builtin()
D = dt.date.fromisoformat


def local(t: dt.datetime | None) -> dt.datetime:
    assert t is not None
    return t.astimezone(CHINA).replace(tzinfo=None)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CHINA).astimezone(dt.timezone.utc)


# holiday-cn's own layout, as the State Council's November notice is transcribed
YEAR_2027 = {"year": 2027, "papers": ["https://www.gov.cn/..."], "days": [
    {"name": "元旦", "date": "2027-01-01", "isOffDay": True},
    {"name": "春节", "date": "2027-02-05", "isOffDay": True},
    {"name": "春节", "date": "2027-02-08", "isOffDay": True},
    {"name": "春节", "date": "2027-02-20", "isOffDay": False},
]}


def test_spring_festival_2026_with_its_make_up_saturdays() -> None:
    assert CAL.is_working_day(D("2026-02-13"))  # Friday
    assert CAL.is_working_day(D("2026-02-14"))  # Saturday, worked (调休)
    assert all(CAL.is_off(D("2026-02-15") + dt.timedelta(days=i)) for i in range(9))  # 15..23
    assert CAL.is_working_day(D("2026-02-24"))
    assert CAL.is_working_day(D("2026-02-28"))  # Saturday, worked
    assert CAL.is_off(D("2026-03-01"))  # an ordinary Sunday
    # The example: Friday 17:00 + 3 working days = Sat 14, Tue 24, Wed 25, still 17:00.
    assert local(add_working_days(at("2026-02-13T17:00"), 3, CHINA, CAL)) == dt.datetime(2026, 2, 25, 17, 0)
    assert local(add_working_days(at("2026-02-14T09:30"), 1, CHINA, CAL)) == dt.datetime(2026, 2, 24, 9, 30)


def test_national_day_2026_span() -> None:
    assert all(CAL.is_off(D("2026-10-01") + dt.timedelta(days=i)) for i in range(7))
    assert CAL.is_working_day(D("2026-09-20")) and CAL.is_working_day(D("2026-10-10"))  # Sunday, Saturday
    assert local(add_working_days(at("2026-09-30T10:00"), 1, CHINA, CAL)) == dt.datetime(2026, 10, 8, 10, 0)
    # a 5-working-day report taken on the eve: Oct 8, 9, 10 (Saturday, worked), 12, 13
    d = deadlines(WorkOrderType.REPORT, at("2026-09-30T21:00"), CHINA, calendar=CAL)
    assert local(d.finish_due_at) == dt.datetime(2026, 10, 13, 21, 0) and not d.estimated


@pytest.mark.parametrize(("start", "days", "due"), [
    ("2026-03-06T23:59", 1, "2026-03-09T23:59"),  # Friday ...:59 -> Monday
    ("2026-03-07T00:00", 1, "2026-03-09T00:00"),  # Saturday midnight
    ("2026-03-09T08:00", 1, "2026-03-10T08:00"),
    ("2026-03-09T21:00", 3, "2026-03-12T21:00"),
    ("2026-02-23T23:59", 1, "2026-02-24T23:59"),  # last holiday minute
    ("2026-02-24T00:00", 1, "2026-02-25T00:00"),
])
def test_boundary_times(start: str, days: int, due: str) -> None:
    assert local(add_working_days(at(start), days, CHINA, CAL)) == dt.datetime.fromisoformat(due)


def test_a_year_without_data_is_weekends_only_and_estimated() -> None:
    assert not CAL.knows(2027) and CAL.source(2027) is YearSource.NONE
    assert CAL.is_off(D("2027-01-02")) and CAL.is_working_day(D("2027-01-01"))  # Friday: no holiday known
    d = deadlines(WorkOrderType.REPAIR, at("2026-12-30T10:00"), CHINA, calendar=CAL)
    assert d.estimated and d.estimated_years == (2027,)
    assert local(d.finish_due_at) == dt.datetime(2027, 1, 4, 10, 0)  # Dec 31, Jan 1 (guess), Jan 4
    assert not deadlines(WorkOrderType.REPAIR, at("2026-12-01T10:00"), CHINA, calendar=CAL).estimated
    # Pure 24x7 clocks need no calendar: a complaint at the turn of the year is not estimated by its finish.
    assert CAL.report(2027).estimated


def test_operator_file_extends_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "2027.json").write_text(json.dumps(YEAR_2027, ensure_ascii=False), encoding="utf-8")
    # a correction of the package's year: a local extra day off
    (tmp_path / "2026.json").write_text(json.dumps(
        [{"name": "地方假日", "date": "2026-03-10", "isOffDay": True}], ensure_ascii=False), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a year file")
    cal = WorkingCalendar.from_directory(tmp_path)
    assert cal.problems == ()
    assert cal.knows(2027) and cal.source(2027) is YearSource.FILE and cal.source(2026) is YearSource.BOTH
    assert cal.is_off(D("2027-01-01")) and cal.is_working_day(D("2027-02-20"))  # Saturday worked
    assert cal.is_off(D("2026-03-10")) and CAL.is_working_day(D("2026-03-10"))
    assert cal.is_working_day(D("2026-02-14"))  # the package's days the file does not mention stay
    d = deadlines(WorkOrderType.REPAIR, at("2026-12-30T10:00"), CHINA, calendar=cal)
    assert not d.estimated and local(d.finish_due_at) == dt.datetime(2027, 1, 5, 10, 0)  # 31, (1 off), 4, 5
    assert local(add_working_days(at("2026-03-09T10:00"), 1, CHINA, cal)) == dt.datetime(2026, 3, 11, 10, 0)


@pytest.mark.parametrize(("text", "message"), [
    ('{"year": 2027, "days": [\n  {"date": "2027-02-30", "name": "x", "isOffDay": true}\n]}',
     r"2027.json:2: days\[0\].date '2027-02-30' is not a date"),
    ('{"year": 2027, "days": [\n {"date": "2027-01-01", "name": "元旦", "isOffDay": "yes"}]}',
     r"2027.json:2: days\[0\].isOffDay must be true or false"),
    ('{"year": 2027, "days": [\n {"date": "2027-01-01"\n "name": 1}]}', r"2027.json:3: not JSON"),
    ('{"year": 2026, "days": []}', "the file says year 2026 but is named for 2027"),
    ('{"days": {}}', r"2027.json:1: expected an object with a list \"days\""),
    ('[{"date": "2027-01-01", "name": "a", "isOffDay": true},\n {"date": "2027-01-01", "name": "a", '
     '"isOffDay": false}]', "given twice"),
    ('[{"date": "2031-01-01", "name": "a", "isOffDay": true}]', "far from the file's year 2027"),
    ('"2027"', "expected an object"),
])
def test_bad_files_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(CalendarFileError, match=message) as bad:
        parse_year_file(text, "var/calendar/2027.json", year=2027)
    assert bad.value.error_id == "workorders.calendar_file"


def test_a_bad_file_is_left_out_and_reported_never_fatal(tmp_path: Path) -> None:
    (tmp_path / "2027.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "2028.json").write_bytes(b"\xff\xfe")
    files, problems = load_year_files(tmp_path)
    assert files == {} and len(problems) == 2 and "2027.json:1" in str(problems[0])
    cal = WorkingCalendar.from_directory(tmp_path)
    assert not cal.knows(2027) and len(cal.problems) == 2
    assert WorkingCalendar.from_directory(tmp_path / "missing").problems == ()


WORK_CAL = calendar_from_days([("2026-03-10", "x", True), ("2026-03-14", "y", False)])
instants = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 11, 30)).map(
    lambda t: t.replace(tzinfo=CHINA))


@hsettings(max_examples=150, deadline=None)
@given(start=instants, days=st.integers(min_value=1, max_value=15))
def test_property_working_days_land_on_a_working_day_at_the_same_time(start: dt.datetime, days: int) -> None:
    due = add_working_days(start, days, CHINA, CAL).astimezone(CHINA)
    assert due.time() == start.time() and CAL.is_working_day(due.date())
    between = [start.date() + dt.timedelta(days=i) for i in range(1, (due.date() - start.date()).days + 1)]
    assert sum(CAL.is_working_day(d) for d in between) == days  # exactly `days` working days are passed


@hsettings(max_examples=150, deadline=None)
@given(start=instants, seconds=st.floats(min_value=0, max_value=20 * 86400))
def test_property_working_time_adds_and_measures_back(start: dt.datetime, seconds: float) -> None:
    end = add_working_seconds(start, seconds, CHINA, WORK_CAL)
    assert end >= start
    assert working_seconds(start, end, CHINA, WORK_CAL) == pytest.approx(seconds, abs=1e-3)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cal_dir = tmp_path / "calendar"
    cal_dir.mkdir()
    (cal_dir / "2027.json").write_text(json.dumps(YEAR_2027, ensure_ascii=False), encoding="utf-8")
    path = tmp_path / "hotline.toml"
    path.write_text(f'[workorders]\ncalendar_dir = "{cal_dir}"\n', encoding="utf-8")
    return path


def test_cli_calendar_check(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(config), "workorders", "calendar", "check", "2026"]) == 0
    out = capsys.readouterr().out
    assert "2026: known from chinesecalendar" in out
    assert "2026-02-15 日 .. 2026-02-23 一  春节 (9 d)" in out and "2026-02-14 六  春节" in out
    assert main(["-c", str(config), "workorders", "calendar", "check", "2027"]) == 0
    assert "2027: known from file" in capsys.readouterr().out
    assert main(["-c", str(config), "workorders", "calendar", "check", "2028"]) == 1
    out = capsys.readouterr().out
    assert "2028: NOT KNOWN" in out and "ESTIMATED" in out and "2028.json" in out
    assert main(["-c", str(config), "workorders", "calendar", "check", "99999"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_cli_due(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(config), "workorders", "due", "repair", "--at", "2026-02-13T17:00"]) == 0
    out = capsys.readouterr().out
    assert "dispatch   2026-02-13 17:05" in out and "completion 2026-02-25 17:00" in out
    assert main(["-c", str(config), "workorders", "due", "complaint", "--at", "2026-03-03T10:00+08:00",
                 "--level", "2"]) == 0
    assert "completion 2026-03-04 10:00" in capsys.readouterr().out
    # 2028 is in no source: printed, and flagged by the exit code
    assert main(["-c", str(config), "workorders", "due", "repair", "--at", "2028-06-01T10:00"]) == 1
    assert "ESTIMATED" in capsys.readouterr().out
    for argv, message in [(["due", "plumbing", "--at", "2026-03-03T10:00"], "unknown type 'plumbing'"),
                          (["due", "repair", "--at", "tomorrow"], "not an ISO time")]:
        assert main(["-c", str(config), "workorders", *argv]) == 2
        assert message in capsys.readouterr().err
