"""Home's "Needs attention": each rule fires on what it is about and stays quiet otherwise, the
ranking is the written rule, following narrows the list, and "My queue" holds one's own decisions."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group

from integrations.models import SyncRun
from portal import attention, roles
from portal.attention import BLOCKER, HIGH, MEDIUM, Item, Scope, rank, score
from portal.models import Follow
from releases.models import Gate, Release
from releases.planning.services.forecasting import forecast_baseline_keep
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = f.day(0)
NOW = f.BASE_TIME
EVERYTHING = Scope(everything=True)
QUEUE = "/environments/bookings/queue/"


def _rules(items) -> list[str]:
    return [item.rule for item in items]


# --- ranking (pure) ------------------------------------------------------------------------------


def test_severity_outweighs_urgency_and_impact():
    blocker_far = score(severity=BLOCKER, due=TODAY + timedelta(days=60), today=TODAY)
    high_overdue_wide = score(severity=HIGH, due=TODAY - timedelta(days=1), today=TODAY, downstream=2)
    assert blocker_far == 30
    assert high_overdue_wide == 20 + 15 + 4
    assert score(severity=MEDIUM, due=None, today=TODAY) == 10


def test_urgency_steps_and_impact_is_capped():
    points = [score(severity=MEDIUM, due=TODAY + timedelta(days=d), today=TODAY) for d in (0, 3, 14, 15)]
    assert points == [25, 20, 15, 10]
    assert score(severity=MEDIUM, due=None, today=TODAY, downstream=40) == 20
    assert score(severity=MEDIUM, due=None, today=TODAY, downstream=-3) == 10


def test_rank_sorts_by_score_then_the_oldest_first():
    def item(title, severity, since):
        return Item(rule="x", severity=severity, title=title, why="", since=since, affects="", url="/")

    ranked = rank(
        [item("young", HIGH, NOW), item("old", HIGH, NOW - timedelta(days=3)), item("top", BLOCKER, None)],
        today=TODAY,
    )
    assert [i.title for i in ranked] == ["top", "old", "young"]
    assert [i.points for i in ranked] == [30, 20, 20]


# --- the rules ---------------------------------------------------------------------------------------


def test_gates_overdue_or_failed_fire_on_open_releases_only():
    release = f.ReleaseFactory(target_date=TODAY + timedelta(days=5))
    overdue = f.GateFactory(release=release, due_date=TODAY - timedelta(days=2))
    failed = f.GateFactory(
        release=release,
        status=Gate.Status.FAILED,
        decided_at=NOW,
        evidence_ok=False,
        evidence_summary="3 tests failed",
    )
    f.GateFactory(release=release, due_date=TODAY)  # due today: not overdue yet
    f.GateFactory(
        release=release,
        due_date=TODAY - timedelta(days=2),
        status=Gate.Status.WAIVED,
        decided_at=NOW,
        waiver_reason="ok",
        waived_by=f.UserFactory(),
    )
    shipped = f.ReleaseFactory(released=True, target_date=TODAY - timedelta(days=1))
    f.GateFactory(release=shipped, due_date=TODAY - timedelta(days=3))
    items = attention.gates_rule(EVERYTHING, today=TODAY, now=NOW)
    assert sorted(_rules(items)) == ["gate_failed", "gate_overdue"]
    by_rule = {i.rule: i for i in items}
    assert by_rule["gate_overdue"].url == f"/gates/{overdue.pk}/"
    assert by_rule["gate_failed"].url == f"/gates/{failed.pk}/"
    assert by_rule["gate_failed"].why == "3 tests failed"
    assert release.application.key in by_rule["gate_overdue"].affects


def test_releases_blocked_or_at_risk_say_what_holds_them_and_what_waits_downstream():
    blocked = f.ReleaseFactory(
        forecast_state="blocked", forecast_blocked_reason="Security review was rejected", target_date=TODAY
    )
    f.ReleaseDependencyFactory(upstream=blocked)
    f.ReleaseDependencyFactory(upstream=blocked)
    f.ReleaseFactory(at_risk=True, target_date=TODAY + timedelta(days=9))
    f.ReleaseFactory()  # on track
    f.ReleaseFactory(forecast_state="blocked", status="cancelled")
    items = attention.releases_rule(EVERYTHING, today=TODAY, now=NOW)
    assert _rules(items) == ["release_blocked", "release_at_risk"]
    assert items[0].why == "Security review was rejected"
    assert items[0].downstream == 2
    assert "2 releases downstream" in items[0].affects


def test_at_risk_releases_are_not_crowded_out_by_many_blocked_ones():
    for _ in range(attention.CANDIDATES + 3):
        f.ReleaseFactory(forecast_state="blocked", target_date=TODAY)
    f.ReleaseFactory(at_risk=True, target_date=TODAY + timedelta(days=30))
    items = attention.releases_rule(EVERYTHING, today=TODAY, now=NOW)
    assert _rules(items).count("release_at_risk") == 1


def test_a_release_blocked_by_a_failed_gate_is_listed_once_at_its_cause():
    release = f.ReleaseFactory(forecast_state="blocked", forecast_blocked_reason="Security review rejected")
    gate = f.GateFactory(release=release, status=Gate.Status.FAILED, decided_at=NOW)
    other = f.ReleaseFactory(forecast_state="blocked", forecast_blocked_reason="waits for CLM 1.3")
    items = attention.without_echoes(
        attention.gates_rule(EVERYTHING, today=TODAY, now=NOW)
        + attention.releases_rule(EVERYTHING, today=TODAY, now=NOW)
    )
    assert [(i.rule, i.url) for i in items] == [
        ("gate_failed", f"/gates/{gate.pk}/"),
        ("release_blocked", f"/releases/{other.pk}/"),
    ]
    assert items[0].why == "rejected at sign-off (blocks the release)"


def test_a_forecast_that_slipped_since_yesterday_fires_once_the_day_baseline_is_kept():
    moved = f.ReleaseFactory(forecast_date=TODAY + timedelta(days=10), target_date=TODAY + timedelta(days=10))
    steady = f.ReleaseFactory(forecast_date=TODAY + timedelta(days=4))
    assert forecast_baseline_keep(today=TODAY) == Release.objects.count()
    assert forecast_baseline_keep(today=TODAY) == 0  # once a day
    assert attention.slipped_rule(EVERYTHING, today=TODAY, now=NOW) == []
    Release.objects.filter(pk=moved.pk).update(forecast_date=TODAY + timedelta(days=13))
    Release.objects.filter(pk=steady.pk).update(forecast_date=TODAY + timedelta(days=2))  # earlier: fine
    items = attention.slipped_rule(EVERYTHING, today=TODAY, now=NOW)
    assert _rules(items) == ["release_slipped"]
    assert "slipped 3 days since yesterday" in items[0].title
    # The next day's first refresh keeps the new date: it no longer counts as a slip.
    forecast_baseline_keep(today=TODAY + timedelta(days=1))
    assert attention.slipped_rule(EVERYTHING, today=TODAY + timedelta(days=1), now=NOW) == []


def test_booking_requests_waiting_and_in_conflict():
    env = f.EnvironmentFactory()
    f.BookingFactory(environment=env, approved=True, starts_at=NOW + timedelta(hours=1))
    f.BookingFactory(environment=env, starts_at=NOW + timedelta(hours=2))  # overlaps the approved one
    f.BookingFactory(environment=env, starts_at=NOW + timedelta(days=3))
    f.BookingFactory(environment=env, starts_at=NOW + timedelta(days=4))
    f.BookingFactory(environment=env, starts_at=NOW - timedelta(days=3))  # over: waits for nothing
    items = attention.bookings_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE)
    assert _rules(items) == ["booking_conflict", "bookings_waiting"]
    assert items[1].title == "2 booking requests wait for a decision"
    assert {i.url for i in items} == {QUEUE}


def test_no_booking_request_no_item():
    f.BookingFactory(approved=True, starts_at=NOW + timedelta(hours=1))
    assert attention.bookings_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE) == []


def test_bookings_and_release_targets_inside_a_freeze():
    portfolio = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=portfolio)
    freeze = f.FreezeWindowFactory(
        for_portfolio=True,
        portfolio=portfolio,
        starts_at=NOW + timedelta(days=5),
        ends_at=NOW + timedelta(days=7),
    )
    app = f.ApplicationFactory(portfolio=programme)
    frozen = f.ReleaseFactory(application=app, target_date=TODAY + timedelta(days=6))
    f.ReleaseFactory(application=app, target_date=TODAY + timedelta(days=9))  # after the freeze
    f.ReleaseFactory(target_date=TODAY + timedelta(days=6))  # another portfolio
    f.BookingFactory(application=app, starts_at=NOW + timedelta(days=5, hours=2))
    f.BookingFactory(application=app, starts_at=NOW + timedelta(days=8))  # after it
    items = attention.freezes_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE)
    assert _rules(items) == ["booking_frozen", "target_frozen"]
    assert items[1].url == f"/releases/{frozen.pk}/"
    assert items[1].why.endswith(f"is frozen: {freeze.reason}; move it or ask for an override")
    assert items[0].why.endswith(f"frozen: {freeze.reason}")
    Release.objects.filter(pk=frozen.pk).update(
        freeze_override_by=f.UserFactory(), freeze_override_reason="ok"
    )
    assert _rules(attention.freezes_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE)) == [
        "booking_frozen"
    ]


def test_an_environment_freeze_holds_bookings_on_it_only_and_no_release():
    env = f.EnvironmentFactory()
    f.FreezeWindowFactory(
        for_environment=True,
        environment=env,
        reason="Datacentre move",
        starts_at=NOW + timedelta(days=1),
        ends_at=NOW + timedelta(days=2),
    )
    f.FreezeWindowFactory(
        reason="Far away", starts_at=NOW + timedelta(days=200), ends_at=NOW + timedelta(days=201)
    )
    f.BookingFactory(environment=env, starts_at=NOW + timedelta(days=1, hours=3))
    f.BookingFactory(starts_at=NOW + timedelta(days=1, hours=3))  # another environment
    f.ReleaseFactory(target_date=TODAY + timedelta(days=1))
    items = attention.freezes_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE)
    assert _rules(items) == ["booking_frozen"]
    assert items[0].why.endswith("frozen: Datacentre move")


def test_no_freeze_no_item():
    f.BookingFactory(starts_at=NOW + timedelta(days=1))
    f.ReleaseFactory(target_date=TODAY + timedelta(days=1))
    assert attention.freezes_rule(EVERYTHING, today=TODAY, now=NOW, queue_url=QUEUE) == []


def test_the_latest_build_failed_or_the_latest_test_run_has_failures():
    red = f.ReleaseFactory()
    f.BuildFactory(
        release=red, application=red.application, result="success", started_at=NOW - timedelta(hours=5)
    )
    f.BuildFactory(
        release=red, application=red.application, result="failure", started_at=NOW - timedelta(hours=1)
    )
    f.BuildFactory(release=red, application=red.application, result="running", started_at=NOW)  # not finished
    mended = f.ReleaseFactory()
    f.BuildFactory(
        release=mended, application=mended.application, result="failure", started_at=NOW - timedelta(hours=5)
    )
    f.BuildFactory(
        release=mended, application=mended.application, result="success", started_at=NOW - timedelta(hours=1)
    )
    f.TestRunFactory(release=red, failed=4, executed_at=NOW - timedelta(hours=1))
    f.TestRunFactory(release=mended, failed=4, executed_at=NOW - timedelta(hours=3))
    f.TestRunFactory(release=mended, failed=0, errors=0, executed_at=NOW - timedelta(hours=1))
    items = attention.builds_rule(EVERYTHING, today=TODAY, now=NOW)
    assert _rules(items) == ["build_failed", "tests_failed"]
    assert all(i.url == f"/releases/{red.pk}/" for i in items)
    assert "4 failed" in items[1].why


def test_a_build_tie_goes_to_the_higher_number_and_closed_releases_are_left_out():
    tied = f.ReleaseFactory()
    for number, result in [(8, "success"), (7, "failure")]:  # same start: #8 is the latest
        f.BuildFactory(
            release=tied, application=tied.application, number=number, result=result, started_at=NOW
        )
    shipped = f.ReleaseFactory(status="released", actual_date=TODAY)
    f.BuildFactory(release=shipped, application=shipped.application, result="failure", started_at=NOW)
    f.TestRunFactory(release=shipped, failed=2, executed_at=NOW)
    assert attention.builds_rule(EVERYTHING, today=TODAY, now=NOW) == []


def test_failing_or_stalled_syncs():
    failing = f.SyncRunFactory(status=SyncRun.Status.FAILED, error="401 Unauthorized\ntrace")
    mended = f.ConnectionFactory()
    f.SyncRunFactory(connection=mended, status=SyncRun.Status.FAILED, error="timeout")
    f.SyncRunFactory(connection=mended)  # the latest succeeded
    f.SyncRunFactory(
        status=SyncRun.Status.RUNNING, finished_at=None, heartbeat_at=NOW - timedelta(minutes=30)
    )
    f.SyncRunFactory(status=SyncRun.Status.RUNNING, finished_at=None, heartbeat_at=NOW - timedelta(minutes=1))
    f.SyncRunFactory(connection=f.ConnectionFactory(enabled=False), status=SyncRun.Status.FAILED)
    items = attention.syncs_rule(EVERYTHING, today=TODAY, now=NOW)
    assert _rules(items) == ["sync_failed", "sync_stalled"]
    assert items[0].why == "401 Unauthorized"
    assert failing.connection.name in items[0].title


def test_a_worker_that_is_down():
    assert _rules(attention.worker_rule(today=TODAY, now=NOW)) == ["worker_down"]
    down = attention.worker_rule(today=TODAY, now=NOW)[0]
    overdue_blocker = attention.score(severity=attention.BLOCKER, due=TODAY, today=TODAY)
    assert attention.rank([down], today=TODAY)[0].points > overdue_blocker  # above every failed gate
    f.WorkerHeartbeatFactory(name="worker", seen_at=NOW - timedelta(seconds=30))
    assert attention.worker_rule(today=TODAY, now=NOW) == []
    assert _rules(attention.worker_rule(today=TODAY, now=NOW + timedelta(minutes=5))) == ["worker_down"]


# --- following narrows the list ---------------------------------------------------------------------


def test_following_a_portfolio_covers_its_programmes_and_hides_the_rest():
    user = f.UserFactory()
    portfolio = f.PortfolioFactory()
    programme_app = f.ApplicationFactory(portfolio=f.PortfolioFactory(parent=portfolio))
    mine = f.ReleaseFactory(application=programme_app, forecast_state="blocked")
    other = f.ReleaseFactory(forecast_state="blocked")
    followed_app = f.ReleaseFactory(forecast_state="blocked")

    def blocked_ids():
        scope = attention.follow_scope(user)
        return {i.url for i in attention.releases_rule(scope, today=TODAY, now=NOW)}

    assert blocked_ids() == {f"/releases/{r.pk}/" for r in (mine, other, followed_app)}  # follows nothing
    Follow.objects.create(user=user, portfolio=portfolio)
    assert blocked_ids() == {f"/releases/{mine.pk}/"}
    Follow.objects.create(user=user, application=followed_app.application)
    assert blocked_ids() == {f"/releases/{mine.pk}/", f"/releases/{followed_app.pk}/"}


# --- my queue ----------------------------------------------------------------------------------------


def test_my_queue_holds_my_gates_bookings_and_policy_changes(user_in_role):
    admin = user_in_role(roles.ADMIN)
    group = f.GroupFactory(name="Security")
    admin.groups.add(group)
    admin = type(admin).objects.get(pk=admin.pk)  # fresh permission cache
    mine = f.GateFactory(signer_group=group, release=f.ReleaseFactory())
    f.GateFactory(signer_group=group, release=f.ReleaseFactory(owner=admin))  # their own release
    f.GateFactory(release=f.ReleaseFactory())  # another group's
    f.BookingFactory(starts_at=NOW + timedelta(days=400))
    f.PolicyChangeFactory()
    f.PolicyChangeFactory(proposed_by=admin)  # their own proposal: someone else approves it
    queue = attention.my_queue(admin, now=NOW)
    assert [g.pk for g in queue["gates"]] == [mine.pk]
    assert (queue["gate_count"], queue["booking_count"], queue["change_count"]) == (1, 1, 1)


def test_a_role_without_those_rights_has_an_empty_queue(user_in_role):
    auditor = user_in_role(roles.AUDITOR)
    f.GateFactory(signer_group=Group.objects.get(name=roles.SECURITY_REVIEWER))
    f.BookingFactory(starts_at=NOW + timedelta(days=400))
    f.PolicyChangeFactory()
    queue = attention.my_queue(auditor, now=NOW)
    assert not queue["may_sign"] and queue["gate_count"] == 0
    assert not queue["may_decide_bookings"] and queue["booking_count"] == 0
    assert not queue["may_approve_changes"] and queue["change_count"] == 0


def test_the_queue_links_a_portfolio_policy_change_to_its_portfolio_page(client_for, user_in_role):
    """The link used the policy's id where the page takes the portfolio's."""
    portfolio = f.PortfolioFactory()
    policy = f.GatePolicyFactory(portfolio=portfolio)
    f.PolicyChangeFactory(requirement=f.GateRequirementFactory(policy=policy))
    html = client_for(roles.GOVERNANCE).get("/").content.decode()
    assert f'href="/gates/policies/{portfolio.pk}/"' in html
    assert "gates you can sign now" not in html  # a governance officer signs no gates
