"""Daily figures: the release measures' counts per day, application, label and outcome, rolled up
with the production outcomes (releases.metrics.rollups), so a year of 16,000 shipped releases is read
as a few thousand stored sums instead of judged row by row on each request.

Each figure is one grouped query over its source (`FIGURES`): the roll-up stores it for complete
days, and a page adds the same query over the days after them. `count` counts the rows, `known` the
rows the figure singles out (with a known duration, or decided late) and `total` sums the known rows'
durations (days or hours, as the figure says).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import CharField, Count, F, FloatField, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, TruncDate

from releases.metrics import scope as scope_measure
from releases.metrics.memo import per_run
from releases.metrics.period import Period, Scope, portal_day, portal_midnight, portal_zone
from releases.metrics.sql import DaysBetween, HoursBetween
from releases.models import Booking, DailyFigure, Gate, Release, WorkItem


@dataclass(frozen=True)
class Figure:
    rows: Callable  # () -> the source queryset
    moment: str  # the field whose day the row counts on
    moment_is_date: bool  # a DateField (else a DateTimeField, taken in the portal's time zone)
    application: object  # an expression: the row's application id
    label: object = Value("")
    outcome: object = Value("")
    known: Q | None = None  # None: every row
    duration: object = Value(0.0)

    def grouped(self, rows):
        """Counts and sums per day, application, label and outcome: one SQL aggregate."""
        day = F(self.moment) if self.moment_is_date else TruncDate(self.moment, tzinfo=portal_zone())
        known = self.known if self.known is not None else Q(pk__isnull=False)
        return (
            rows.annotate(
                figure_day=day,
                figure_application=self.application,
                figure_label=Cast(self.label, CharField()),
                figure_outcome=Cast(self.outcome, CharField()),
            )
            .values("figure_day", "figure_application", "figure_label", "figure_outcome")
            .annotate(
                count=Count("pk"),
                known=Count("pk", filter=known),
                total=Coalesce(Sum(self.duration, filter=known, output_field=FloatField()), 0.0),
            )
            .order_by()
        )

    def day_rows(self, first: date | None, after: date, scope: Scope):
        """The figure's rows per day, application, label and outcome for the days in [first, after)."""
        rows = self.grouped(self.between(first, after))
        in_scope = scope.application_ids()
        return rows if in_scope is None else rows.filter(figure_application__in=in_scope)

    def between(self, first: date | None, after: date):
        """The source rows whose day is in [first, after) (first None: from the beginning)."""

        def bound(day):
            return day if self.moment_is_date else portal_midnight(day)

        rows = self.rows().filter(**{f"{self.moment}__lt": bound(after)})
        return rows if first is None else rows.filter(**{f"{self.moment}__gte": bound(first)})


@dataclass(frozen=True)
class ComputedFigure:
    """A figure whose day rows a function of its own computes (the scope measure's history)."""

    compute: Callable  # (Scope, Period) -> rows as Figure.day_rows gives them

    def day_rows(self, first: date | None, after: date, scope: Scope):
        return self.compute(scope, Period(portal_midnight(first or EARLIEST), portal_midnight(after)))


EARLIEST = date(1900, 1, 1)

FIGURES = {
    # Shipped releases by days after their target; duration: days from created to shipped, known
    # when it was created before it shipped (imported history has none).
    "release_slip": Figure(
        rows=lambda: Release.objects.filter(status=Release.Status.RELEASED).alias(
            cycle=DaysBetween("actual_date", "created_at")
        ),
        moment="actual_date",
        moment_is_date=True,
        application=F("application_id"),
        label=DaysBetween("actual_date", "target_date"),
        known=Q(cycle__gte=0),
        duration=F("cycle"),
    ),
    # Bugs resolved, by priority; duration: hours from created to resolved.
    "bug_fix": Figure(
        rows=lambda: WorkItem.objects.filter(type=WorkItem.Type.BUG, resolved_at__isnull=False),
        moment="resolved_at",
        moment_is_date=False,
        application=F("application_id"),
        label=F("priority"),
        duration=HoursBetween("resolved_at", "created_at"),
    ),
    # Gates decided, by kind and how; `known`: decided after their due date.
    "gate_decided": Figure(
        rows=lambda: Gate.objects.filter(decided_at__isnull=False).alias(
            late_days=DaysBetween("decided_at", "due_date")
        ),
        moment="decided_at",
        moment_is_date=False,
        application=F("release__application_id"),
        label=F("kind"),
        outcome=F("status"),
        known=Q(late_days__gt=0),
    ),
    # Booking requests decided (a composite booking's parts apart), by status; duration: hours waited.
    "booking_decided": Figure(
        rows=lambda: Booking.objects.filter(decided_at__isnull=False, part_of__isnull=True),
        moment="decided_at",
        moment_is_date=False,
        application=Coalesce("release__application_id", "application_id"),
        outcome=F("status"),
        known=Q(created_at__lte=F("decided_at")),
        duration=HoursBetween("decided_at", "created_at"),
    ),
    # Planned vs delivered scope per shipping day (labels: releases.metrics.scope's names).
    "release_scope": ComputedFigure(compute=lambda scope, period: scope_measure.scope_by_day(scope, period)),
}


# --- reading ------------------------------------------------------------------------------------------


def figure_totals(name: str, scope: Scope, period: Period, state) -> dict:
    """{(label, outcome): {"count", "known", "total"}} over the period: the stored days summed in SQL
    (kept per roll-up run), the days after them grouped from the source. `state`: rollups.Rolled."""
    first, after = portal_day(period.start), portal_day(period.end)
    live_from = max(first, state.through + timedelta(days=1)) if state.through else first
    until = min(live_from, after)

    def stored_sums() -> dict:
        stored = DailyFigure.objects.filter(figure=name, day__gte=first, day__lt=until)
        stored = stored.filter(scope.q("application")).values("label", "outcome").order_by()
        totals: dict = {}
        for row in stored.annotate(count=Sum("count"), known=Sum("known"), total=Sum("total")):
            _add(totals, (row["label"], row["outcome"]), row)
        return totals

    kept = per_run(state.run, ("figure", name, scope, first, until), stored_sums)
    totals = {key: dict(row) for key, row in kept.items()}
    if live_from < after:
        for row in FIGURES[name].day_rows(live_from, after, scope):
            _add(totals, (row["figure_label"], row["figure_outcome"]), row)
    return totals


def _add(totals: dict, key: tuple, row: dict) -> None:
    into = totals.setdefault(key, {"count": 0, "known": 0, "total": 0.0})
    into["count"] += row["count"]
    into["known"] += row["known"]
    into["total"] += row["total"] or 0.0


# --- writing -------------------------------------------------------------------------------------------


def daily_figures(first: date | None, after: date) -> list[DailyFigure]:
    """The figures of the days in [first, after) (first None: from the beginning), as unsaved rows."""
    rows = []
    for name, figure in FIGURES.items():
        rows += [
            DailyFigure(
                figure=name,
                day=row["figure_day"],
                application_id=row["figure_application"],
                label=row["figure_label"] or "",
                outcome=row["figure_outcome"] or "",
                count=row["count"],
                known=row["known"],
                total=row["total"] or 0.0,
            )
            for row in figure.day_rows(first, after, Scope())
        ]
    return rows
