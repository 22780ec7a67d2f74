"""The daily roll-up: each finished production deployment judged once by the DORA rules and stored
(ProductionOutcome), and the release measures' daily counts (DailyFigure, releases.metrics.daily), so
the metrics page sums indexed rows instead of probing every deployment's history and every shipped
release on each request.

- A beat task rolls up the complete days (up to yesterday, in the portal's time zone) incrementally:
  the days since the last roll-up, the last RECHECK_DAYS again (incidents and hotfixes come days
  after the deployment they judge), every failure not restored yet, and any earlier day a late fact
  marked (`metrics_mark_dirty`: a deployment synced late, an incident naming a shipped release).
  A nightly full roll-up catches what no mark names (an old pull request found late moves a lead time).
- Pages read the stored days and judge the days after them (today, or everything before the first
  roll-up) live with the same rules (`judge`): a figure never waits for the roll-up to be right.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Least, TruncDate
from django.utils import timezone

from releases.metrics.daily import daily_figures
from releases.metrics.period import Period, Scope, portal_day, portal_midnight, portal_today, portal_zone
from releases.models import (
    DailyFigure,
    Deployment,
    Environment,
    MetricsRollup,
    ProductionOutcome,
    PullRequest,
    WorkItem,
)

RECHECK_DAYS = 7
ID_BATCH = 2000
SUCCESS = Deployment.Status.SUCCESS
FAILED = (Deployment.Status.FAILURE, Deployment.Status.ROLLED_BACK)
FINISHED = (SUCCESS, *FAILED)
FIX_RELEASES = WorkItem.fix_releases.through
# A successful deployment of a version that ran there before, replacing a different one: a rollback
# the tool did not mark as one.
ROLLBACK = Q(status=SUCCESS, first_here__lt=F("deployed_at")) & ~Q(previous_version=F("version"))


def production_deployments(scope: Scope, period: Period):
    """The finished attempts to deploy to a production environment in the period."""
    deployments = Deployment.objects.filter(
        environment__kind=Environment.Kind.PROD,
        deployed_at__gte=period.start,
        deployed_at__lt=period.end,
        status__in=FINISHED,
    )
    return scope.filter(deployments)


def incident_q() -> Q:
    """A successful deployment of a release that an incident work item names: the change failed in
    production. The releases named are read once (an uncorrelated subquery), not per deployment."""
    named = FIX_RELEASES.objects.filter(workitem__type=WorkItem.Type.INCIDENT).values("release_id")
    return Q(status=SUCCESS, release_id__in=named)


def with_failure_signs(deployments):
    """Each deployment with what ran on its environment just before (`previous_version`) and when its
    version first ran there (`first_here`), for ROLLBACK: two index probes per deployment (the second
    by environment, application and version, so it reads only that version's few rows)."""
    here = {"environment_id": OuterRef("environment_id"), "application_id": OuterRef("application_id")}
    successes = Deployment.objects.filter(**here, status=SUCCESS)
    earlier = successes.filter(deployed_at__lt=OuterRef("deployed_at")).order_by("-deployed_at")
    same_version = successes.filter(version=OuterRef("version")).order_by("deployed_at")
    return deployments.annotate(
        previous_version=Subquery(earlier.values("version")[:1]),
        first_here=Subquery(same_version.values("deployed_at")[:1]),
    )


def _judged(deployments):
    """Deployments with what the rules need, read by index probes in the same query."""
    here = {"environment_id": OuterRef("environment_id"), "application_id": OuterRef("application_id")}
    next_success = Deployment.objects.filter(**here, status=SUCCESS, deployed_at__gt=OuterRef("deployed_at"))
    next_success = next_success.order_by("deployed_at")
    first_pull = PullRequest.objects.filter(release_id=OuterRef("release_id")).order_by("created_at")
    first_item = FIX_RELEASES.objects.filter(release_id=OuterRef("release_id"))
    first_item = first_item.order_by("workitem__created_at")
    return with_failure_signs(deployments).annotate(
        day=TruncDate("deployed_at", tzinfo=portal_zone()),
        undeclared_rollback=ExpressionWrapper(ROLLBACK, output_field=BooleanField()),
        named_by_incident=ExpressionWrapper(incident_q(), output_field=BooleanField()),
        restored_at=Subquery(next_success.values("deployed_at")[:1]),
        restored_by_hotfix=Subquery(next_success.values("release__hotfix")[:1]),
        restored_by_release=Subquery(next_success.values("release_id")[:1]),
        first_pull_at=Subquery(first_pull.values("created_at")[:1]),
        first_item_at=Subquery(first_item.values("workitem__created_at")[:1]),
    )


def judge(deployments) -> list[ProductionOutcome]:
    """The outcome of each deployment (unsaved rows): one query, the rules applied per row."""
    return [_outcome(d) for d in _judged(deployments).iterator(chunk_size=2000)]


def _outcome(d) -> ProductionOutcome:
    success = d.status == SUCCESS
    rollback = d.status == Deployment.Status.ROLLED_BACK or bool(d.undeclared_rollback)
    # A success replaced next by a hotfix of another release: the hotfix says this change failed.
    hotfixed = success and bool(d.restored_by_hotfix) and d.restored_by_release != d.release_id
    failure = d.status in FAILED or rollback or bool(d.named_by_incident) or hotfixed
    starts = [t for t in (d.first_pull_at, d.first_item_at) if t is not None]
    lead = None
    if success and starts and min(starts) <= d.deployed_at:
        lead = _hours(d.deployed_at - min(starts))
    return ProductionOutcome(
        deployment_id=d.pk,
        day=d.day,
        deployed_at=d.deployed_at,
        application_id=d.application_id,
        environment_id=d.environment_id,
        release_id=d.release_id,
        version=d.version,
        status=d.status,
        rollback=rollback,
        incident=bool(d.named_by_incident),
        hotfixed=hotfixed,
        failure=failure,
        lead_hours=lead,
        restore_hours=_hours(d.restored_at - d.deployed_at) if failure and d.restored_at else None,
    )


def _hours(duration: timedelta) -> float:
    return duration.total_seconds() / 3600


# --- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rolled:
    """What the roll-up has stored: complete days up to `through` (None: never rolled up, every day is
    judged live), by the run `run`."""

    through: date | None = None
    run: UUID | None = None


def rolled() -> Rolled:
    """One query."""
    row = MetricsRollup.objects.filter(pk=1).values_list("rolled_through", "run").first()
    return Rolled(*row) if row else Rolled()


@dataclass(frozen=True)
class Outcomes:
    """A period's outcomes: the stored days as a queryset to aggregate, the days after them judged;
    `run`, the roll-up run the stored days come from (sums over them are kept per run)."""

    stored: object  # QuerySet[ProductionOutcome]
    live: list[ProductionOutcome]
    run: UUID | None = None


def outcomes(scope: Scope, period: Period, state: Rolled | None = None) -> Outcomes:
    """Periods start and end at the portal's midnights (releases.metrics.views.MetricsForm)."""
    state = state or rolled()
    through = state.through
    live_from = period.start
    if through is not None:
        live_from = max(period.start, portal_midnight(through + timedelta(days=1)))
    stored_until = min(live_from, period.end)
    stored = ProductionOutcome.objects.filter(
        day__gte=portal_day(period.start), day__lt=portal_day(stored_until)
    ).filter(scope.q("application"))
    live = []
    if live_from < period.end:
        live = judge(production_deployments(scope, Period(live_from, period.end)))
    return Outcomes(stored, live, state.run)


# --- writing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupResult:
    since: date | None  # None: the whole history
    through: date
    outcomes: int
    figures: int


def metrics_rollup(*, full: bool = False, today: date | None = None) -> RollupResult:
    """Store the outcomes of the complete days before `today` not stored yet, or stale (see the module
    docstring)."""
    through = (today or portal_today()) - timedelta(days=1)
    state = MetricsRollup.objects.filter(pk=1).first() or MetricsRollup(pk=1)
    since = None
    if not full and state.rolled_through is not None:
        since = min(state.rolled_through + timedelta(days=1), through) - timedelta(days=RECHECK_DAYS)
        since = min(since, state.dirty_from or since)
    marks_seen = state.marks
    window = Deployment.objects.filter(
        environment__kind=Environment.Kind.PROD,
        status__in=FINISHED,
        deployed_at__lt=portal_midnight(through + timedelta(days=1)),
    )
    stale = Q()
    if since is not None:
        unrestored = ProductionOutcome.objects.filter(failure=True, restore_hours__isnull=True, day__lt=since)
        stale = Q(deployed_at__gte=portal_midnight(since)) | Q(pk__in=unrestored.values("deployment_id"))
        window = window.filter(stale)
    rows = judge(window)
    figures = daily_figures(since, through + timedelta(days=1))
    with transaction.atomic():
        MetricsRollup.objects.get_or_create(pk=1)
        state = MetricsRollup.objects.select_for_update().get(pk=1)
        _delete_outcomes(since, [row.deployment_id for row in rows])
        ProductionOutcome.objects.bulk_create(rows, batch_size=2000)
        (DailyFigure.objects.filter(day__gte=since) if since else DailyFigure.objects.all()).delete()
        DailyFigure.objects.bulk_create(figures, batch_size=2000)
        state.rolled_through, state.rolled_at, state.run = through, timezone.now(), uuid4()
        if state.marks == marks_seen:  # no late fact arrived while the rows were judged
            state.dirty_from = None
        state.save()
    return RollupResult(since, through, len(rows), len(figures))


def _delete_outcomes(since: date | None, deployment_ids: list[int]) -> None:
    """The stored rows the roll-up replaces: its days, and the earlier rows it judged again."""
    if since is None:
        ProductionOutcome.objects.all().delete()
        return
    ProductionOutcome.objects.filter(day__gte=since).delete()
    for n in range(0, len(deployment_ids), ID_BATCH):
        ProductionOutcome.objects.filter(deployment_id__in=deployment_ids[n : n + ID_BATCH]).delete()


def metrics_mark_dirty(moment: date | datetime) -> None:
    """A fact about `moment` (a day, or a time) arrived: if its day was rolled up already, the next
    roll-up redoes it. One UPDATE, no read: a sync calls it for each page it stores."""
    day = portal_day(moment) if isinstance(moment, datetime) else moment
    MetricsRollup.objects.filter(pk=1, rolled_through__gte=day).update(
        dirty_from=Least(Coalesce("dirty_from", Value(day)), Value(day)), marks=F("marks") + 1
    )
