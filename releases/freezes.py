"""Freeze windows as pure rules over plain data: which windows apply, their occurrences (an RRULE
expanded), and whether one covers an instant or a day. No ORM here: the same scope rule as a query is
FreezeWindowQuerySet.in_scope (releases.querysets), beside this module's `applies`.

A window is anything with the FreezeWindow fields used here (a model instance, or FreezeData for
code that holds plain rows). Intervals are half-open [start, end); each occurrence of a recurring
window lasts as long as the first. A day is frozen when any part of it is.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

from dateutil.rrule import rrulestr
from django.utils import timezone

GLOBAL, PORTFOLIO, ENVIRONMENT = "global", "portfolio", "environment"
HORIZON_DAYS = 550  # how far ahead of a day recurring freezes are expanded for it

Interval = tuple[datetime, datetime]
DayWindow = tuple[date, date]  # [first day, day after)


class Window(Protocol):
    scope: str
    portfolio_id: int | None
    environment_id: int | None
    starts_at: datetime
    ends_at: datetime
    rrule: str


@dataclass(frozen=True)
class FreezeData:
    """A freeze window as plain data, for code that has rows rather than model instances."""

    starts_at: datetime
    ends_at: datetime
    rrule: str = ""
    scope: str = GLOBAL
    portfolio_id: int | None = None
    environment_id: int | None = None


# --- scope ---------------------------------------------------------------------------------------


def applies(
    window: Window, *, portfolio_ids: Collection[int] = (), environment_ids: Collection[int] = ()
) -> bool:
    """Whether the window holds something in these portfolios or on these environments. Pass a
    portfolio's whole lineage (releases.querysets.portfolio_lineage): a freeze on a portfolio holds its
    programmes too. The same rule as a query: FreezeWindowQuerySet.in_scope."""
    if window.scope == GLOBAL:
        return True
    if window.scope == PORTFOLIO:
        return window.portfolio_id in portfolio_ids
    return window.environment_id in environment_ids


# --- occurrences ---------------------------------------------------------------------------------


def occurrences(window: Window, *, start: datetime | None, end: datetime) -> list[Interval]:
    """The window's occurrences that overlap [start, end), soonest first; with no `start`, every
    occurrence that begins before `end`."""
    length = window.ends_at - window.starts_at
    if not window.rrule:
        starts = [window.starts_at]
    else:
        rule = rrulestr(window.rrule, dtstart=window.starts_at)
        after = window.starts_at if start is None else max(window.starts_at, start - length)
        starts = rule.between(after, end, inc=True)
    return [(s, s + length) for s in starts if s < end and (start is None or s + length > start)]


def occurrence_at(window: Window, moment: datetime) -> Interval | None:
    """The occurrence of the window that holds `moment`, if one does."""
    start = window.starts_at
    if window.rrule:
        start = rrulestr(window.rrule, dtstart=window.starts_at).before(moment, inc=True)
    if start is None or not start <= moment < start + (window.ends_at - window.starts_at):
        return None
    return start, start + (window.ends_at - window.starts_at)


def covers(window: Window, moment: datetime) -> bool:
    """Whether an occurrence of the window holds `moment` (to the second)."""
    return occurrence_at(window, moment) is not None


# --- days ----------------------------------------------------------------------------------------


def day_window(interval: Interval) -> DayWindow:
    """The days an occurrence touches: a day is frozen when any part of it is."""
    start, end = interval
    return start.date(), (end - timedelta(microseconds=1)).date() + timedelta(days=1)


def frozen_days(window: Window, *, start: datetime | None, end: datetime) -> list[DayWindow]:
    """occurrences() as day windows."""
    return [day_window(interval) for interval in occurrences(window, start=start, end=end)]


def horizon_from(day: date) -> datetime:
    """Midnight HORIZON_DAYS after `day`, in the current time zone: where expanding stops."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=HORIZON_DAYS), time()))


def day_covered(days: Iterable[DayWindow], day: date) -> DayWindow | None:
    """The first day window that holds `day`, if any."""
    return next(((first, after) for first, after in days if first <= day < after), None)
