"""Release measures over a period, each with the universe it rests on, read from the daily figures
(releases.metrics.daily: stored sums for the rolled-up days, one grouped query for the days after).

- *on-time delivery*: releases shipped in the period (actual date in it) on or before their target,
  over all releases shipped in it;
- *slip distribution*: the same releases by days shipped after their target;
- *release cycle time*: from the day the release was created in Flightdeck (or the tool it came from)
  to the day it shipped, the mean in days, over the releases created before they shipped;
- *time to fix bugs*: bugs resolved in the period, by priority, from created to resolved, the mean;
- *gate throughput*: gates decided in the period, by kind: passed, failed, waived, and how many were
  decided after their due date;
- *booking wait*: booking requests decided in the period, from request to decision, the mean;
- *environment utilisation*: the hours approved bookings hold of each bookable environment within
  the period, over its capacity times the period's hours.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least

from releases.metrics.daily import figure_totals
from releases.metrics.period import Period, Scope
from releases.metrics.rollups import rolled
from releases.metrics.sql import HoursBetween
from releases.models import Booking, Environment, Gate

SLIP_BUCKETS = [
    ("Early", lambda slip: slip < 0),
    ("On the day", lambda slip: slip == 0),
    ("1-3 days late", lambda slip: 1 <= slip <= 3),
    ("4-7 days late", lambda slip: 4 <= slip <= 7),
    ("8-14 days late", lambda slip: 8 <= slip <= 14),
    ("Over 14 days late", lambda slip: slip > 14),
]


@dataclass(frozen=True)
class Delivery:
    shipped: int
    on_time: int
    slips: list[tuple[str, int]]
    cycle_known: int  # shipped releases created before they shipped
    mean_cycle: timedelta | None


def _totals(name: str, scope: Scope, period: Period) -> dict:
    return figure_totals(name, scope, period, rolled())


def _mean(total: float, count: int, unit: timedelta) -> timedelta | None:
    """The mean to the second (sums of hours carry float noise)."""
    return timedelta(seconds=round(total * unit.total_seconds() / count)) if count else None


def release_delivery(scope: Scope, period: Period) -> Delivery:
    """The releases shipped in the period, counted by days after their target (the figure's label)."""
    by_slip = {int(label): row for (label, _), row in _totals("release_slip", scope, period).items()}
    shipped = sum(row["count"] for row in by_slip.values())
    known = sum(row["known"] for row in by_slip.values())
    slips = [
        (label, sum(row["count"] for slip, row in by_slip.items() if rule(slip)))
        for label, rule in SLIP_BUCKETS
    ]
    on_time = sum(row["count"] for slip, row in by_slip.items() if slip <= 0)
    cycle_days = sum(row["total"] for row in by_slip.values())
    return Delivery(shipped, on_time, slips, known, _mean(cycle_days, known, timedelta(days=1)))


def bug_fix_times(scope: Scope, period: Period) -> list[dict]:
    """Per priority: bugs resolved in the period and their mean time from created to resolved."""
    rows = sorted(_totals("bug_fix", scope, period).items())
    return [
        {
            "priority": priority or "(none)",
            "bugs": row["count"],
            "mean": _mean(row["total"], row["known"], timedelta(hours=1)),
        }
        for (priority, _), row in rows
    ]


def gate_throughput(scope: Scope, period: Period) -> list[dict]:
    """Per gate kind: the gates decided in the period, how, and how many after their due date."""
    kinds: dict[str, dict] = {}
    for (kind, status), row in _totals("gate_decided", scope, period).items():
        into = kinds.setdefault(
            kind, {"kind": kind, "decided": 0, "passed": 0, "failed": 0, "waived": 0, "late": 0}
        )
        into["decided"] += row["count"]
        into["late"] += row["known"]
        if status in (Gate.Status.PASSED, Gate.Status.FAILED, Gate.Status.WAIVED):
            into[status] += row["count"]
    return [kinds[kind] for kind in sorted(kinds)]


def booking_wait(scope: Scope, period: Period) -> dict:
    """Booking requests decided in the period (the parts of a composite booking apart), the mean wait."""
    totals = _totals("booking_decided", scope, period)
    known = sum(row["known"] for row in totals.values())
    return {
        "decided": sum(row["count"] for row in totals.values()),
        "approved": sum(
            row["count"] for (_, status), row in totals.items() if status == Booking.Status.APPROVED
        ),
        "mean_wait": _mean(sum(row["total"] for row in totals.values()), known, timedelta(hours=1)),
    }


def environment_utilisation(period: Period, *, limit: int = 12) -> list[dict]:
    """Per bookable environment: the hours its approved bookings hold within the period, over the
    hours it could hold (its capacity times the period's hours); the busiest first. One query.
    Environments are shared, so the scope of the page does not narrow them."""
    start, end = Value(period.start), Value(period.end)
    held = HoursBetween(Least("bookings__ends_at", end), Greatest("bookings__starts_at", start))
    in_period = Q(
        bookings__status=Booking.Status.APPROVED,
        bookings__starts_at__lt=period.end,
        bookings__ends_at__gt=period.start,
    )
    rows = (
        Environment.objects.filter(bookable=True)
        .annotate(
            booked_hours=Coalesce(Sum(held, filter=in_period), 0.0),
            bookings_held=Count("bookings", filter=in_period),
        )
        .values("name", "capacity", "booked_hours", "bookings_held")
        .order_by("name")
    )
    hours = (period.end - period.start).total_seconds() / 3600
    result = [
        row | {"share": row["booked_hours"] / (row["capacity"] * hours) if row["capacity"] else 0.0}
        for row in rows
    ]
    return sorted(result, key=lambda row: -row["share"])[:limit]
