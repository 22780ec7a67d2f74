"""Working hours of an environment: pure functions over plain values, no ORM.

An environment is staffed from `starts` to `ends` (local times; an end of 00:00 means midnight) on the
weekdays of a bit set (Monday = bit 0 ... Sunday = bit 6), in one time zone. The next-free-slot finder
offers only slots inside working time:

- a slot no longer than a working day lies inside one working day;
- a longer slot starts inside a working day's hours and ends inside (or at the start of) another's;
  the nights and days off between are part of it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONDAY_TO_FRIDAY = 0b0011111
EVERY_DAY = 0b1111111


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this Python knows, for an environment's working hours."""
    return [(name, name) for name in sorted(available_timezones())]


def day_set(weekdays) -> int:
    """The bit set of weekday numbers (0 = Monday)."""
    return sum(1 << int(day) for day in set(weekdays))


def weekdays_of(bits: int) -> list[int]:
    return [day for day in range(7) if bits & (1 << day)]


def describe(bits: int) -> str:
    """'Mon-Fri', 'Every day', 'Mon, Wed, Fri'."""
    days = weekdays_of(bits)
    if len(days) == 7:
        return "Every day"
    if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return f"{WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]}"
    return ", ".join(WEEKDAYS[day] for day in days)


@dataclass(frozen=True)
class WorkingHours:
    starts: time
    ends: time  # 00:00 = midnight, the end of the day
    days: int
    zone: ZoneInfo

    @property
    def round_the_clock(self) -> bool:
        return self.days == EVERY_DAY and self.starts == time(0) and self.ends == time(0)

    def window(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.starts, tzinfo=self.zone)
        end_day = day + timedelta(days=1) if self.ends == time(0) else day
        return start, datetime.combine(end_day, self.ends, tzinfo=self.zone)

    def windows(self, since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working windows of working days that end after `since` and start before `until`."""
        day = since.astimezone(self.zone).date() - timedelta(days=1)
        last = until.astimezone(self.zone).date()
        while day <= last:
            if self.days & (1 << day.weekday()):
                start, end = self.window(day)
                if end > since and start < until:
                    yield start, end
            day += timedelta(days=1)

    def candidates(self, since: datetime, until: datetime, length: timedelta) -> set[datetime]:
        """Where a slot may first fit: each working day's start and, for slots that end at a working
        day's start, that start less the length."""
        points = set()
        for start, _ in self.windows(since, until + length):
            points |= {start, start - length}
        return {p for p in points if since <= p <= until}

    def fits(self, starts_at: datetime, ends_at: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
        """Whether [starts_at, ends_at) is working time (see the module's rule); `windows` cover it."""
        if self.round_the_clock:
            return True
        first = next((w for w in windows if w[0] <= starts_at < w[1]), None)
        if first is None:
            return False
        if ends_at <= first[1]:
            return True
        if ends_at - starts_at <= first[1] - first[0]:
            return False  # it would fit in a day: it must not run into the night
        return any(start <= ends_at <= end for start, end in windows)
