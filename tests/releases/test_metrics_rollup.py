"""The metrics' daily roll-up: stored outcomes give the figures that judging live gives, a hotfix
release counts the change it replaced as failed, late facts are judged again, and the page's queries
stay constant whatever the history."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.facts.services.upserts import (
    DeploymentFact,
    ReleaseFact,
    WorkItemFact,
    deployments_upsert,
    releases_upsert,
    work_items_upsert,
)
from releases.metrics.delivery import booking_wait, bug_fix_times, gate_throughput, release_delivery
from releases.metrics.dora import Period, Scope, dora, weekly
from releases.metrics.rollups import RECHECK_DAYS, metrics_rollup
from releases.models import DailyFigure, MetricsRollup, ProductionOutcome
from tests import factories as f
from tests.releases.test_metrics import PERIOD, START, at, world  # noqa: F401 (the hand-checked set)

pytestmark = pytest.mark.django_db

AFTER_PERIOD = PERIOD.end.date() + timedelta(days=1)  # rolls up every day of the period


def figures(scope=None):
    scope = scope or Scope()
    result = dora(scope, PERIOD)
    return (
        result.deployments,
        result.successes,
        result.failures,
        sorted(result.restored),
        result.unrestored,
        sorted(result.lead_times),
        weekly(scope, PERIOD),
    )


def test_the_stored_outcomes_give_the_figures_judged_live(world):  # noqa: F811
    live = figures(), figures(Scope(application_id=world["pay"].pk))
    result = metrics_rollup(today=AFTER_PERIOD)
    assert result.since is None and result.outcomes == ProductionOutcome.objects.count() == 9
    assert (figures(), figures(Scope(application_id=world["pay"].pk))) == live


def test_days_after_the_roll_up_are_judged_live(world):  # noqa: F811
    before = figures()
    metrics_rollup(today=(START + timedelta(days=12)).date())  # days up to the 11th stored, the rest live
    assert ProductionOutcome.objects.filter(day__gt=START.date() + timedelta(days=11)).count() == 0
    assert figures() == before


def test_a_hotfix_release_marks_the_change_it_replaced_as_failed():
    pay, prod = f.ApplicationFactory(key="PAY"), f.EnvironmentFactory(kind="prod")
    broken = f.ReleaseFactory(application=pay, version="4.2.0")
    fix = f.ReleaseFactory(application=pay, version="4.2.1", hotfix=True)
    f.DeploymentFactory(application=pay, environment=prod, release=broken, deployed_at=at(2), version="4.2.0")
    f.DeploymentFactory(application=pay, environment=prod, release=fix, deployed_at=at(2, 5), version="4.2.1")
    result = dora(Scope(), PERIOD)
    assert (result.deployments, result.failures) == (2, 1)  # the hotfix itself did not fail
    assert result.restored == [timedelta(hours=5)]  # restored when the hotfix shipped
    metrics_rollup(today=AFTER_PERIOD)
    assert ProductionOutcome.objects.get(release=broken).hotfixed
    assert not ProductionOutcome.objects.get(release=fix).failure


def _failure_synced_late(data: dict, external_id: str, deployed_at) -> None:
    """A failed production deployment of PAY (`data`: the hand-checked set), synced after its day was
    rolled up."""
    prod = ProductionOutcome.objects.first().environment
    late = DeploymentFact(
        external_id=external_id,
        environment_id=prod.pk,
        application_id=data["pay"].pk,
        version=f"9.{external_id}",
        release_id=None,
        deployed_at=deployed_at,
        status="failure",
    )
    deployments_upsert(source="github#1", facts=[late])


def test_a_deployment_synced_late_is_judged_at_the_next_roll_up(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    _failure_synced_late(world, "late-1", at(4))
    assert MetricsRollup.objects.get().dirty_from == at(4).date()
    result = metrics_rollup(today=AFTER_PERIOD + timedelta(days=1))
    assert result.since == at(4).date()  # from the late day, not the whole history
    assert dora(Scope(application_id=world["pay"].pk), PERIOD).failures == 4
    assert MetricsRollup.objects.get().dirty_from is None


def test_sums_kept_for_a_roll_up_run_give_way_to_the_next_run(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    pay = Scope(application_id=world["pay"].pk)
    with CaptureQueriesContext(connection) as first_read:
        failures = dora(pay, PERIOD).failures
    with CaptureQueriesContext(connection) as kept_read:
        assert dora(pay, PERIOD).failures == failures
    assert len(kept_read) < len(first_read)  # the stored sums came from the cache
    _failure_synced_late(world, "late-2", at(5))
    metrics_rollup(today=AFTER_PERIOD + timedelta(days=1))
    assert dora(pay, PERIOD).failures == failures + 1  # the new run's rows, not the kept sums


def test_an_incident_naming_a_shipped_release_judges_its_days_again(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    release = f.ReleaseFactory(application=world["pay"], version="4.3", source="jira#1", external_id="10043")
    prod = ProductionOutcome.objects.first().environment
    f.DeploymentFactory(application=world["pay"], environment=prod, release=release, deployed_at=at(5))
    metrics_rollup(today=AFTER_PERIOD)
    failures = dora(Scope(), PERIOD).failures
    incident = WorkItemFact(
        external_id="20001",
        application_id=world["pay"].pk,
        key="PAY-1",
        title="Payments time out",
        type="incident",
        status_category="done",
        status_name="Done",
        priority="Highest",
        created_at=at(6),
        resolved_at=at(6, 4),
        updated_at=at(6, 4),
        fix_release_ids=("10043",),
    )
    work_items_upsert(source="jira#1", facts=[incident])
    assert MetricsRollup.objects.get().dirty_from == at(5).date()
    metrics_rollup(today=AFTER_PERIOD)
    assert dora(Scope(), PERIOD).failures == failures + 1


def test_a_failure_restored_after_the_recheck_window_gets_its_restore_time(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    metrics_rollup(today=AFTER_PERIOD + timedelta(days=10))  # the period's days are out of the recheck
    unrestored = ProductionOutcome.objects.get(failure=True, restore_hours__isnull=True)
    later = unrestored.deployed_at + timedelta(days=RECHECK_DAYS + 5)
    f.DeploymentFactory(
        application=unrestored.application, environment=unrestored.environment, deployed_at=later
    )
    result = metrics_rollup(today=later.date() + timedelta(days=1))
    assert result.since > unrestored.day  # outside the days rolled again, yet judged again
    unrestored.refresh_from_db()
    assert unrestored.restore_hours == pytest.approx(24 * (RECHECK_DAYS + 5))


def test_the_roll_up_is_incremental(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    again = metrics_rollup(today=AFTER_PERIOD + timedelta(days=1))
    assert again.since == AFTER_PERIOD - timedelta(days=RECHECK_DAYS)
    assert again.outcomes < ProductionOutcome.objects.count()


@pytest.mark.parametrize("size", [2, 40])
def test_figures_from_stored_days_take_the_same_queries_at_any_size(size):
    pay, prod = f.ApplicationFactory(), f.EnvironmentFactory(kind="prod")
    for n in range(size):
        f.DeploymentFactory(application=pay, environment=prod, deployed_at=at(n % 27, n % 5), version=str(n))
    metrics_rollup(today=AFTER_PERIOD)
    with CaptureQueriesContext(connection) as queries:
        dora(Scope(), PERIOD)
        weekly(Scope(), PERIOD)
    # dora: where the roll-up stands, the counts, the restore times, the lead times; weekly: two
    assert len(queries) == 6


def test_a_period_in_another_year_reads_only_its_own_days(world):  # noqa: F811
    metrics_rollup(today=AFTER_PERIOD)
    far = Period(datetime(2031, 1, 6, tzinfo=UTC), datetime(2031, 2, 3, tzinfo=UTC))
    assert dora(Scope(), far).deployments == 0
    assert metrics_rollup(today=date(2031, 2, 4)).since is not None


@pytest.fixture
def delivery_world():
    """Releases shipped early, on the day and late (one imported after it shipped), bugs resolved,
    gates decided on time and late, and bookings decided, spread over the period's four weeks."""
    pay, web = f.ApplicationFactory(key="PAY"), f.ApplicationFactory(key="WEB")
    for n, (application, slip) in enumerate([(pay, -2), (pay, 0), (pay, 3), (web, 9), (web, 20), (pay, 1)]):
        shipped = (START + timedelta(days=2 + 4 * n)).date()
        created = START - timedelta(days=10) if n != 5 else START + timedelta(days=30)
        f.ReleaseFactory(
            application=application,
            status="released",
            target_date=shipped - timedelta(days=slip),
            actual_date=shipped,
            created_at=created,
        )
    for created, resolved, priority in ((0, 2, "High"), (1, 5, "High"), (0, 10, "Low"), (3, 26, "")):
        f.WorkItemFactory(
            application=pay, type="bug", priority=priority, created_at=at(created), resolved_at=at(resolved)
        )
    release = f.ReleaseFactory(application=pay)
    for kind, status, decided, due in (
        ("security", "passed", 1, 3),
        ("security", "failed", 5, 3),
        ("qa", "passed", 20, 2),
    ):
        f.GateFactory(
            release=release,
            kind=kind,
            status=status,
            decided_at=at(decided),
            due_date=(START + timedelta(days=due)).date(),
        )
    for created, decided, status in ((0, 1, "approved"), (2, 5, "rejected"), (9, 24, "approved")):
        f.BookingFactory(
            application=pay,
            status=status,
            created_at=at(created),
            decided_at=at(decided),
            decided_by=f.UserFactory(),
        )
    return {"pay": pay, "web": web}


def delivery_figures(scope):
    return (
        release_delivery(scope, PERIOD),
        bug_fix_times(scope, PERIOD),
        gate_throughput(scope, PERIOD),
        booking_wait(scope, PERIOD),
    )


@pytest.mark.parametrize("rolled_days", [12, 40])  # part of the period stored, or all of it
def test_the_release_measures_read_from_daily_figures_match_the_live_ones(delivery_world, rolled_days):
    scopes = [
        Scope(),
        Scope(application_id=delivery_world["pay"].pk),
        Scope(application_id=delivery_world["web"].pk),
    ]
    live = [delivery_figures(scope) for scope in scopes]
    assert live[0][0].shipped == 6 and live[2][0].shipped == 2  # the set is not empty
    result = metrics_rollup(today=(START + timedelta(days=rolled_days)).date())
    assert result.figures > 0 and DailyFigure.objects.exists()
    assert [delivery_figures(scope) for scope in scopes] == live


def test_a_bug_resolved_days_ago_and_a_release_shipped_days_ago_mark_their_days(delivery_world):
    metrics_rollup(today=AFTER_PERIOD)
    pay = delivery_world["pay"]
    bug = WorkItemFact(
        external_id="30001",
        application_id=pay.pk,
        key="PAY-9",
        title="Rounding error",
        type="bug",
        status_category="done",
        status_name="Done",
        priority="High",
        created_at=at(1),
        resolved_at=at(9),
        updated_at=at(9),
    )
    work_items_upsert(source="jira#1", facts=[bug])
    assert MetricsRollup.objects.get().dirty_from == at(9).date()
    shipped = ReleaseFact(
        external_id="10077",
        version="4.9.0",
        summary="",
        released=True,
        archived=False,
        release_date=at(6).date(),
        start_date=None,
    )
    releases_upsert(source="jira#1", application_id=pay.pk, facts=[shipped])
    assert MetricsRollup.objects.get().dirty_from == at(6).date()
    before = release_delivery(Scope(), PERIOD).shipped
    metrics_rollup(today=AFTER_PERIOD)
    assert release_delivery(Scope(), PERIOD).shipped == before + 1
    assert {row["priority"]: row["bugs"] for row in bug_fix_times(Scope(), PERIOD)}["High"] == 3
