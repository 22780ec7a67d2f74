"""The four DORA measures, from the production deployments Flightdeck holds, each with its universe.

The rules (also written on the page):
- a *deployment* is a finished attempt to deploy to a production environment (kind `prod`):
  succeeded, failed or rolled back; one still in progress is not counted yet;
- *deployment frequency*: the successful ones, per week of the period;
- *change failure rate*: failed or rolled-back deployments (the tool's own rollback, or a successful
  deployment of a version that ran there before, replacing a different one), and successful ones of a
  release that an incident work item names, over all deployments; incidents that name no release
  are shown apart, not counted;
- *time to restore*: from a failure to the next successful deployment of the same application on
  the same environment; a failure with none yet is "not restored" and counted apart;
- *lead time for changes*: from the release's first work (its first pull request opened or first work
  item created, whichever is earlier) to its successful production deployment.

Counts are SQL aggregates; restore and lead times are read one duration per failure or deployment
(never per work item) and their median taken here.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
)

from releases.metrics.sql import DaysBetween
from releases.models import Deployment, Environment, PullRequest, WorkItem

FAILED = (Deployment.Status.FAILURE, Deployment.Status.ROLLED_BACK)
FINISHED = (Deployment.Status.SUCCESS, *FAILED)


@dataclass(frozen=True)
class Scope:
    """Which deployments count: one application, a portfolio and its programmes, or everything."""

    application_id: int | None = None
    portfolio_ids: tuple[int, ...] | None = None

    def q(self, application: str) -> Q:
        """The condition on rows whose application is reached through `application` (a lookup path)."""
        if self.application_id is not None:
            return Q(**{f"{application}_id": self.application_id})
        if self.portfolio_ids is not None:
            return Q(**{f"{application}__portfolio_id__in": self.portfolio_ids})
        return Q()

    def filter(self, deployments):
        return deployments.filter(self.q("application"))


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def days(self) -> int:
        return max((self.end - self.start).days, 1)

    def previous(self) -> "Period":
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class Dora:
    period: Period
    deployments: int  # finished attempts
    successes: int
    failures: int
    restored: list[timedelta]
    unrestored: int
    lead_times: list[timedelta]

    @property
    def per_week(self) -> float:
        return self.successes * 7 / self.period.days

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.deployments if self.deployments else None

    @property
    def median_restore(self) -> timedelta | None:
        return _median(self.restored)

    @property
    def median_lead_time(self) -> timedelta | None:
        return _median(self.lead_times)

    @property
    def failure_share(self) -> str:
        return share(self.failures, self.deployments)

    @property
    def restore_words(self) -> str:
        return span(self.median_restore)

    @property
    def lead_time_words(self) -> str:
        return span(self.median_lead_time)


def share(part: int, whole: int) -> str:
    """A percentage that never rounds to 0% or 100% when the truth is not: 1 in 400 is "0.3%", 399 in
    400 is "99.8%", 1 in 100,000 is "< 0.1%"."""
    if not whole:
        return "—"
    rate = 100 * part / whole
    if part in (0, whole):
        return f"{rate:.0f}%"
    text = f"{rate:.0f}%" if 1 <= rate <= 99 else f"{rate:.1f}%"
    if text in ("0.0%", "0%"):
        return "< 0.1%"
    if text in ("100.0%", "100%"):
        return "> 99.9%"
    return text


def span(duration: timedelta | None) -> str:
    """A duration in the largest units that say it: "3 d 4 h", "2 h 5 min", "12 min"."""
    if duration is None:
        return "—"
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


# A successful deployment of a version that ran there before, replacing a different one: a rollback
# the tool did not mark as one.
ROLLBACK = Q(status=Deployment.Status.SUCCESS, first_here__lt=F("deployed_at")) & ~Q(
    previous_version=F("version")
)
FIX_RELEASES = WorkItem.fix_releases.through


def incident_q() -> Q:
    """A successful deployment of a release that an incident work item names: the change failed in
    production. The releases named are read once (an uncorrelated subquery), not per deployment."""
    named = FIX_RELEASES.objects.filter(workitem__type=WorkItem.Type.INCIDENT).values("release_id")
    return Q(status=Deployment.Status.SUCCESS, release_id__in=named)


def failure_q() -> Q:
    return Q(status__in=FAILED) | ROLLBACK | incident_q()


def with_failure_signs(deployments):
    """Each deployment with what ran on its environment just before (`previous_version`) and when its
    version first ran there (`first_here`), for ROLLBACK: two index probes per deployment (the second
    by environment, application and version, so it reads only that version's few rows). Count each
    deployment's failure once per query: a filter inlines these subqueries."""
    here = {"environment_id": OuterRef("environment_id"), "application_id": OuterRef("application_id")}
    successes = Deployment.objects.filter(**here, status=Deployment.Status.SUCCESS)
    earlier = successes.filter(deployed_at__lt=OuterRef("deployed_at")).order_by("-deployed_at")
    same_version = successes.filter(version=OuterRef("version")).order_by("deployed_at")
    return deployments.annotate(
        previous_version=Subquery(earlier.values("version")[:1]),
        first_here=Subquery(same_version.values("deployed_at")[:1]),
    )


def unlinked_incidents(scope: Scope, period: Period) -> int:
    """Incidents opened in the period that name no release: shown, not counted as a change's failure."""
    incidents = WorkItem.objects.filter(
        type=WorkItem.Type.INCIDENT,
        created_at__gte=period.start,
        created_at__lt=period.end,
        fix_releases=None,
    )
    return incidents.filter(scope.q("application")).count()


def production_deployments(scope: Scope, period: Period):
    deployments = Deployment.objects.filter(
        environment__kind=Environment.Kind.PROD,
        deployed_at__gte=period.start,
        deployed_at__lt=period.end,
        status__in=FINISHED,
    )
    return scope.filter(deployments)


def dora(scope: Scope, period: Period) -> Dora:
    """Three queries: the counts, the failures with their restore, the successes with their start."""
    deployments = production_deployments(scope, period)
    counts = with_failure_signs(deployments).aggregate(
        total=Count("pk"),
        successes=Count("pk", filter=Q(status=Deployment.Status.SUCCESS)),
        failures=Count("pk", filter=failure_q()),
    )
    restores = deployments.filter(status__in=FAILED).annotate(restored_at=_next_success())
    restored, unrestored = [], 0
    for failed_at, restored_at in restores.values_list("deployed_at", "restored_at"):
        if restored_at is None:
            unrestored += 1
        else:
            restored.append(restored_at - failed_at)
    lead_times = _lead_times(deployments.filter(status=Deployment.Status.SUCCESS, release__isnull=False))
    return Dora(
        period, counts["total"], counts["successes"], counts["failures"], restored, unrestored, lead_times
    )


def _lead_times(successes) -> list[timedelta]:
    """From each release's first work to its deployment: the releases' first pull request and first
    work item read grouped by release (two queries), not once per deployment."""
    release_ids = successes.values("release_id")
    first_pull = dict(
        PullRequest.objects.filter(release_id__in=release_ids)
        .values("release_id")
        .annotate(first=Min("created_at"))
        .values_list("release_id", "first")
    )
    first_item = dict(
        WorkItem.fix_releases.through.objects.filter(release_id__in=release_ids)
        .values("release_id")
        .annotate(first=Min("workitem__created_at"))
        .values_list("release_id", "first")
    )
    lead_times = []
    for release_id, deployed_at in successes.values_list("release_id", "deployed_at"):
        starts = [t for t in (first_pull.get(release_id), first_item.get(release_id)) if t is not None]
        if starts and min(starts) <= deployed_at:
            lead_times.append(deployed_at - min(starts))
    return lead_times


def weekly(scope: Scope, period: Period) -> list[dict]:
    """Successful and failed production deployments per week (Monday) of the period: one query."""
    first_monday = (period.start - timedelta(days=period.start.weekday())).date()
    # The week as a number counted in SQL (TruncWeek calls back into Python per row on SQLite).
    week = ExpressionWrapper(DaysBetween("deployed_at", Value(first_monday)) / 7, output_field=IntegerField())
    rows = (
        with_failure_signs(production_deployments(scope, period))
        .annotate(week=week)
        .values("week")
        .annotate(
            total=Count("pk"),
            failures=Count("pk", filter=failure_q()),
        )
        .order_by("week")
    )
    found = {row["week"]: row for row in rows}
    weeks, monday, n = [], first_monday, 0
    while monday < period.end.date():
        row = found.get(n, {"total": 0, "failures": 0})
        # Every finished deployment either failed or succeeded: the successes are the rest.
        weeks.append(
            {"week": monday, "successes": row["total"] - row["failures"], "failures": row["failures"]}
        )
        monday, n = monday + timedelta(days=7), n + 1
    return weeks


def _next_success():
    later = Deployment.objects.filter(
        environment_id=OuterRef("environment_id"),
        application_id=OuterRef("application_id"),
        status=Deployment.Status.SUCCESS,
        deployed_at__gt=OuterRef("deployed_at"),
    ).order_by("deployed_at")
    return Subquery(later.values("deployed_at")[:1])


def _median(values: list[timedelta]) -> timedelta | None:
    return statistics.median(values) if values else None
