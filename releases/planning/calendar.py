"""The release calendar's grid, from plain data: which days a month or ISO week shows, the releases of
each day (the first few, and how many more), and the freeze windows that shade a day. No ORM here:
the view reads the rows and this module arranges them.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from releases.errors import DomainError
from releases.params import day_in_range

DAY_CAP = {"month": 4, "week": 25}  # releases shown per day before "+N more"


class BadPeriod(DomainError, ValueError):
    """A month or week parameter that names no period (the view answers 400 with this message)."""


@dataclass(frozen=True)
class Period:
    kind: str  # "month" or "week"
    first: date  # first day of the month, or the Monday of the week
    start: date  # first day shown: a Monday
    end: date  # day after the last day shown: a Monday

    @property
    def param(self) -> tuple[str, str]:
        """The query parameter that names this period: ("month", "2030-01") or ("week", "2030-W02")."""
        if self.kind == "month":
            return "month", f"{self.first:%Y-%m}"
        year, week, _ = self.first.isocalendar()
        return "week", f"{year}-W{week:02d}"

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.first:%B %Y}"
        year, week, _ = self.first.isocalendar()
        return f"Week {week}, {year} ({self.start:%-d %b} to {self.end - timedelta(days=1):%-d %b})"

    def contains(self, day: date) -> bool:
        if self.kind == "month":
            return (day.year, day.month) == (self.first.year, self.first.month)
        return self.start <= day < self.end

    def previous(self) -> "Period":
        if self.kind == "month":
            return month_period(self.first - timedelta(days=1))
        return week_period(self.first - timedelta(days=7))

    def following(self) -> "Period":
        if self.kind == "month":
            return month_period(_next_month(self.first))
        return week_period(self.first + timedelta(days=7))

    def as_week(self, today: date) -> "Period":
        """The week view to switch to: today's week when it lies in this month, else its first week."""
        return week_period(today if self.contains(today) else self.first)

    def as_month(self) -> "Period":
        return month_period(self.first + timedelta(days=3) if self.kind == "week" else self.first)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_period(day: date) -> Period:
    """The month holding `day`, shown as whole weeks from Monday to Sunday."""
    first = day.replace(day=1)
    start = first - timedelta(days=first.weekday())
    last = _next_month(first) - timedelta(days=1)
    end = last + timedelta(days=7 - last.weekday())
    return Period("month", first, start, end)


def week_period(day: date) -> Period:
    """The ISO week (Monday to Sunday) holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return Period("week", monday, monday, monday + timedelta(days=7))


def _in_range(day: date) -> date:
    """Days far from today's years are refused: the grid's arithmetic must not run off the calendar."""
    return day_in_range(day, name="period")


def parse_month(value: str) -> Period:
    """ "2030-01" -> that month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return month_period(_in_range(date(year, month, 1)))
    except (ValueError, OverflowError, DomainError):
        raise BadPeriod(f"“{value}” is not a month: use YYYY-MM, e.g. 2030-01.") from None


def parse_week(value: str) -> Period:
    """ "2030-W02" (ISO 8601 week) -> that week."""
    try:
        year, week = value.upper().split("-W")
        return week_period(_in_range(date.fromisocalendar(int(year), int(week), 1)))
    except (ValueError, OverflowError, DomainError):
        raise BadPeriod(f"“{value}” is not an ISO week: use YYYY-Www, e.g. 2030-W02.") from None


def period_from(params: Mapping[str, str], *, today: date) -> Period:
    """The period a request asks for: ?week= wins over ?month=; neither means this month."""
    if week := params.get("week"):
        return parse_week(week)
    if month := params.get("month"):
        return parse_month(month)
    return week_period(today) if params.get("view") == "week" else month_period(today)


@dataclass(frozen=True)
class FreezeDays:
    """A freeze occurrence as days [first, day_after), with what to say about it."""

    first: date
    day_after: date
    reason: str


@dataclass
class Day:
    date: date
    in_period: bool
    is_today: bool
    releases: list = field(default_factory=list)  # the first few, in display order
    items: str = ""  # those releases as list items, rendered once by the view
    total: int = 0
    at_risk: int = 0
    blocked: int = 0
    freezes: list[str] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.total - len(self.releases)

    @property
    def frozen(self) -> bool:
        return bool(self.freezes)

    @property
    def css_class(self) -> str:
        """The cell's classes, built once here rather than by five template conditions per day."""
        flags = {
            "cal-out": not self.in_period,
            "cal-today": self.is_today,
            "cal-frozen": self.frozen,
            "cal-empty": not self.total,
        }
        return " ".join(["cal-day", *(name for name, on in flags.items() if on)])

    @property
    def iso_date(self) -> str:
        return self.date.isoformat()

    @property
    def long_label(self) -> str:
        return f"{self.date:%a} {self.date.day} {self.date:%b}"  # "Mon 1 Mar"

    @property
    def label(self) -> str:
        """In a month: the day's number, with weekday and month on the 1st."""
        return self.long_label if self.date.day == 1 else str(self.date.day)

    @property
    def iso_week(self) -> str:
        year, week, _ = self.date.isocalendar()
        return f"{year}-W{week:02d}"


def build_grid(
    period: Period,
    releases: Iterable[Mapping],
    freezes: Iterable[FreezeDays],
    *,
    today: date,
    cap: int | None = None,
) -> list[list[Day]]:
    """Weeks of days. `releases` are rows with `target_date`, `day_total`, `day_at_risk`, `day_blocked`
    (the day's counts) in display order, already cut to the first `cap` of each day by the query."""
    cap = DAY_CAP[period.kind] if cap is None else cap
    by_day = defaultdict(list)
    for release in releases:
        by_day[release["target_date"]].append(release)
    reasons = defaultdict(list)
    for freeze in freezes:
        day = max(freeze.first, period.start)
        while day < min(freeze.day_after, period.end):
            if freeze.reason not in reasons[day]:
                reasons[day].append(freeze.reason)
            day += timedelta(days=1)
    weeks, day = [], period.start
    while day < period.end:
        week = []
        for _ in range(7):
            rows = by_day.get(day, [])
            week.append(
                Day(
                    date=day,
                    in_period=period.contains(day),
                    is_today=day == today,
                    releases=rows[:cap],
                    total=rows[0]["day_total"] if rows else 0,
                    at_risk=rows[0]["day_at_risk"] if rows else 0,
                    blocked=rows[0].get("day_blocked", 0) if rows else 0,
                    freezes=reasons.get(day, []),
                )
            )
            day += timedelta(days=1)
        weeks.append(week)
    return weeks
