"""Release measures, each one SQL aggregate over the period, with the universe it rests on.

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
from datetime import date, timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least

from releases.metrics.period import Period, Scope
from releases.metrics.sql import DaysBetween, HoursBetween
from releases.models import Booking, Environment, Gate, Release, WorkItem

KNOWN_CYCLE = Q(cycle__gte=0)
KNOWN_WAIT = Q(created_at__lte=F("decided_at"))
SLIP_BUCKETS = [
    ("Early", Q(slip__lt=0)),
    ("On the day", Q(slip=0)),
    ("1-3 days late", Q(slip__gte=1, slip__lte=3)),
    ("4-7 days late", Q(slip__gte=4, slip__lte=7)),
    ("8-14 days late", Q(slip__gte=8, slip__lte=14)),
    ("Over 14 days late", Q(slip__gt=14)),
]


@dataclass(frozen=True)
class Delivery:
    shipped: int
    on_time: int
    slips: list[tuple[str, int]]
    cycle_known: int  # shipped releases created before they shipped
    mean_cycle: timedelta | None


def _duration(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def _days(period: Period) -> tuple[date, date]:
    return period.start.date(), period.end.date()


def release_delivery(scope: Scope, period: Period) -> Delivery:
    """One query: the releases shipped in the period, counted by slip."""
    first, after = _days(period)
    shipped = (
        Release.objects.filter(status=Release.Status.RELEASED, actual_date__gte=first, actual_date__lt=after)
        .filter(scope.q("application"))
        .alias(slip=DaysBetween("actual_date", "target_date"), cycle=DaysBetween("actual_date", "created_at"))
    )
    counts = shipped.aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=Q(slip__lte=0)),
        # A release entered after it shipped (imported history) has no cycle time to count.
        cycle_known=Count("pk", filter=KNOWN_CYCLE),
        mean_cycle_days=Avg(DaysBetween("actual_date", "created_at"), filter=KNOWN_CYCLE),
        **{f"slip_{n}": Count("pk", filter=rule) for n, (_, rule) in enumerate(SLIP_BUCKETS)},
    )
    slips = [(label, counts[f"slip_{n}"]) for n, (label, _) in enumerate(SLIP_BUCKETS)]
    days = counts["mean_cycle_days"]
    mean_cycle = timedelta(days=days) if days is not None else None
    return Delivery(counts["total"], counts["on_time"], slips, counts["cycle_known"], mean_cycle)


def bug_fix_times(scope: Scope, period: Period) -> list[dict]:
    """Per priority: bugs resolved in the period and their mean time from created to resolved."""
    rows = (
        WorkItem.objects.filter(
            type=WorkItem.Type.BUG, resolved_at__gte=period.start, resolved_at__lt=period.end
        )
        .filter(scope.q("application"))
        .values("priority")
        .annotate(bugs=Count("pk"), mean=Avg(_duration("resolved_at", "created_at")))
        .order_by("priority")
    )
    return [
        {"priority": row["priority"] or "(none)", "bugs": row["bugs"], "mean": row["mean"]} for row in rows
    ]


def gate_throughput(scope: Scope, period: Period) -> list[dict]:
    """Per gate kind: the gates decided in the period, how, and how many after their due date."""
    rows = (
        Gate.objects.filter(decided_at__gte=period.start, decided_at__lt=period.end)
        .filter(scope.q("release__application"))
        .alias(late_days=DaysBetween("decided_at", "due_date"))
        .values("kind")
        .annotate(
            decided=Count("pk"),
            passed=Count("pk", filter=Q(status=Gate.Status.PASSED)),
            failed=Count("pk", filter=Q(status=Gate.Status.FAILED)),
            waived=Count("pk", filter=Q(status=Gate.Status.WAIVED)),
            late=Count("pk", filter=Q(late_days__gt=0)),
        )
        .order_by("kind")
    )
    return list(rows)


def booking_wait(scope: Scope, period: Period) -> dict:
    """Booking requests decided in the period (the parts of a composite booking apart), the mean wait."""
    decided = Booking.objects.filter(
        decided_at__gte=period.start, decided_at__lt=period.end, part_of__isnull=True
    ).filter(scope.q("release__application") | scope.q("application"))
    return decided.aggregate(
        decided=Count("pk"),
        approved=Count("pk", filter=Q(status=Booking.Status.APPROVED)),
        mean_wait=Avg(_duration("decided_at", "created_at"), filter=KNOWN_WAIT),
    )


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
