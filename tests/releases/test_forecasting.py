"""The stored forecast: forecast_refresh reads gates, dependencies, scope and freezes from the database and
writes forecast_date, slip, risk, what each release waits for and its critical path."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.models import Release
from releases.planning.odds import MIN_HISTORY_DAYS
from releases.planning.services.forecasting import forecast_refresh
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = date(2030, 1, 7)  # a Monday


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def midnight(n: int) -> datetime:
    return datetime.combine(day(n), datetime.min.time(), tzinfo=UTC)


def refreshed(*releases: Release) -> list[Release]:
    forecast_refresh(today=TODAY)
    return [Release.objects.get(pk=r.pk) for r in releases]


def test_release_with_nothing_holding_it_is_forecast_on_target():
    (release,) = refreshed(f.ReleaseFactory(target_date=day(10)))
    assert release.forecast_date == day(10)
    assert release.forecast_slip_days == 0
    assert not release.at_risk
    assert release.forecast_waiting_for == []
    assert release.forecast_critical_path == []
    assert release.forecast_updated_at is not None


def test_gates_not_yet_passed_hold_the_release_until_their_due_date_and_are_named():
    release = f.ReleaseFactory(target_date=day(10))
    f.GateFactory(release=release, name="CAB", due_date=day(13))  # pending
    f.GateFactory(release=release, name="Compliance", due_date=day(12))
    f.GateFactory(release=release, due_date=day(20), status="passed", decided_at=midnight(0))

    (release,) = refreshed(release)

    assert release.forecast_date == day(13)
    assert release.forecast_slip_days == 3
    assert release.at_risk and release.forecast_state == "at_risk"
    assert release.forecast_waiting_for == [
        {
            "kind": "gate",
            "until": day(13).isoformat(),
            "detail": f"due {day(13).isoformat()}",
            "release_id": None,
            "name": "CAB",
            "cause": "",
            "text": f"Gate “CAB” due {day(13).isoformat()}",
        },
        {
            "kind": "gate",
            "until": day(12).isoformat(),
            "detail": f"due {day(12).isoformat()}",
            "release_id": None,
            "name": "Compliance",
            "cause": "",
            "text": f"Gate “Compliance” due {day(12).isoformat()}",
        },
    ]


class TestBlocked:
    """A failed gate or a failed latest build blocks a release until that changes, and says which."""

    def test_a_rejected_security_review_blocks_the_release_and_names_the_gate(self):
        release = f.ReleaseFactory(target_date=day(10))
        security = f.GateFactory(
            release=release, kind="security", name="Security review", status="failed", decided_at=midnight(0)
        )
        f.SignOffFactory(gate=security, decision="reject", comment="Unpatched CVE in the PDF renderer.")

        (release,) = refreshed(release)

        assert release.forecast_state == "blocked"
        assert release.forecast_date is None
        assert release.forecast_blocked_reason == "Security review rejected"
        assert release.forecast_waiting_for[0]["text"] == "Blocked: Security review rejected"
        assert release.at_risk

    def test_a_qa_gate_its_evidence_failed_blocks_with_the_evidence(self):
        release = f.ReleaseFactory(target_date=day(10))
        f.GateFactory(
            release=release,
            name="QA regression",
            approvals_required=0,
            status="failed",
            decided_at=midnight(0),
            evidence_ok=False,
            evidence_summary="40 of 42 tests passed (95.2%), 2 failed",
        )
        (release,) = refreshed(release)
        assert release.forecast_state == "blocked"
        assert (
            release.forecast_blocked_reason
            == "QA regression failed (40 of 42 tests passed (95.2%), 2 failed)"
        )

    def test_a_failed_latest_build_blocks_and_a_later_successful_build_unblocks(self):
        release = f.ReleaseFactory(target_date=day(10))
        app = release.application
        f.BuildFactory(application=app, release=release, job="web-pay", number=411, result="failure")
        f.BuildFactory(application=app, release=release, job="web-pay", number=412, result="failure")
        (blocked,) = refreshed(release)
        assert blocked.forecast_state == "blocked"
        assert blocked.forecast_blocked_reason == "build web-pay #412 failed"

        f.BuildFactory(application=app, release=release, job="web-pay", number=413, result="running")
        (still,) = refreshed(release)
        assert still.forecast_state == "blocked", "a running build changes nothing until it ends"

        f.BuildFactory(application=app, release=release, job="web-pay", number=414, result="success")
        (unblocked,) = refreshed(release)
        assert unblocked.forecast_state == "on_track"
        assert unblocked.forecast_date == day(10)
        assert unblocked.forecast_blocked_reason == ""

    def test_a_release_downstream_of_a_blocked_one_is_blocked_and_says_by_what(self):
        upstream = f.ReleaseFactory(target_date=day(10), version="2026.12.0")
        f.GateFactory(release=upstream, name="Security review", status="failed", decided_at=midnight(0))
        downstream = f.ReleaseFactory(target_date=day(12))
        f.ReleaseDependencyFactory(downstream=downstream, upstream=upstream)

        upstream, downstream = refreshed(upstream, downstream)

        name = f"{upstream.application.key} 2026.12.0"
        assert downstream.forecast_state == "blocked" and downstream.forecast_date is None
        assert downstream.forecast_blocked_reason == f"upstream {name} is blocked (Security review failed)"
        assert downstream.forecast_waiting_for[0]["release_id"] == upstream.pk
        assert downstream.forecast_waiting_for[0]["name"] == name
        assert downstream.forecast_critical_path == [upstream.pk]


def test_waiting_for_names_the_upstream_release_and_the_freeze_window():
    upstream = f.ReleaseFactory(target_date=day(20), version="4.1.0")
    release = f.ReleaseFactory(target_date=day(5))
    f.ReleaseDependencyFactory(downstream=release, upstream=upstream)
    f.FreezeWindowFactory(starts_at=midnight(21), ends_at=midnight(23), reason="Year-end close")

    (release,) = refreshed(release)

    texts = [hold["text"] for hold in release.forecast_waiting_for]
    assert texts == [
        f"Freeze window “Year-end close” ({day(21).isoformat()} to {day(22).isoformat()})",
        f"Waits for {upstream.application.key} 4.1.0 to ship first",
    ]
    assert release.forecast_waiting_for[1]["name"] == f"{upstream.application.key} 4.1.0"


def test_dependencies_chain_across_applications_with_the_critical_path():
    ledger = f.ReleaseFactory(target_date=day(10))
    f.GateFactory(release=ledger, due_date=day(15))
    payments = f.ReleaseFactory(target_date=day(12))
    f.ReleaseDependencyFactory(downstream=payments, upstream=ledger)
    portal = f.ReleaseFactory(target_date=day(20))
    f.ReleaseDependencyFactory(downstream=portal, upstream=payments, kind="ships_with")
    mobile = f.ReleaseFactory(target_date=day(14))
    f.ReleaseDependencyFactory(downstream=mobile, upstream=portal)
    shipped = f.ReleaseFactory(released=True, target_date=day(-5))
    f.ReleaseDependencyFactory(downstream=mobile, upstream=shipped)
    assert len({r.application_id for r in (ledger, payments, portal, mobile, shipped)}) == 5

    ledger, payments, portal, mobile = refreshed(ledger, payments, portal, mobile)

    assert (ledger.forecast_date, payments.forecast_date) == (day(15), day(16))  # ships_before: the day after
    assert payments.forecast_waiting_for[0] == {
        "kind": "upstream",
        "until": day(16).isoformat(),
        "detail": "ships_before",
        "release_id": ledger.pk,
        "name": str(ledger),
        "cause": "",
        "text": f"Waits for {ledger} to ship first",
    }
    assert payments.forecast_critical_path == [ledger.pk]
    assert payments.at_risk and payments.forecast_slip_days == 4
    # Its own target is later than its upstream's forecast: on course, nothing in its path.
    assert portal.forecast_date == day(20) and not portal.at_risk and portal.forecast_critical_path == []
    assert mobile.forecast_date == day(21)
    assert mobile.forecast_critical_path == [portal.pk]


def test_a_release_waiting_on_a_slipping_chain_carries_the_whole_path():
    a = f.ReleaseFactory(target_date=day(5))
    f.GateFactory(release=a, due_date=day(9))
    b = f.ReleaseFactory(target_date=day(6))
    c = f.ReleaseFactory(target_date=day(7))
    f.ReleaseDependencyFactory(downstream=b, upstream=a)
    f.ReleaseDependencyFactory(downstream=c, upstream=b)

    a, b, c = refreshed(a, b, c)

    assert [a.forecast_date, b.forecast_date, c.forecast_date] == [day(9), day(10), day(11)]
    assert c.forecast_critical_path == [b.pk, a.pk]
    assert all(r.at_risk for r in (a, b, c))


def test_scope_behind_finishes_at_the_applications_recent_throughput():
    app = f.ApplicationFactory()
    release = f.ReleaseFactory(application=app, target_date=day(3))
    for n in range(28):  # 28 done in the last four weeks: one a day
        f.WorkItemFactory(application=app, status_category="done", resolved_at=midnight(-n - 1))
    for n in range(10):  # done long ago: not recent throughput
        f.WorkItemFactory(application=app, status_category="done", resolved_at=midnight(-60 - n))
    for category in ["todo"] * 6 + ["in_progress"] * 4:
        f.WorkItemFactory(application=app, status_category=category).fix_releases.add(release)
    f.WorkItemFactory(application=app, status_category="todo", descoped=True).fix_releases.add(release)
    f.WorkItemFactory(application=app, status_category="done", resolved_at=midnight(-40)).fix_releases.add(
        release
    )

    (release,) = refreshed(release)

    assert release.forecast_date == day(10)  # 10 open items at one a day
    assert release.forecast_waiting_for[0]["kind"] == "scope"
    assert release.forecast_waiting_for[0]["detail"] == "10 work items open"
    assert release.at_risk


def test_the_refresh_stores_the_odds_and_says_when_there_are_none(client_for):
    steady = f.ApplicationFactory()
    for n in range(90):  # one a day for the last 90 days, the work begun long before
        f.WorkItemFactory(
            application=steady,
            status_category="done",
            created_at=midnight(-200),
            resolved_at=midnight(-n - 1) + timedelta(hours=9),
        )
    late = f.ReleaseFactory(application=steady, target_date=day(5))
    for _ in range(10):
        f.WorkItemFactory(application=steady, status_category="todo").fix_releases.add(late)
    young = f.ApplicationFactory()
    newcomer = f.ReleaseFactory(application=young, target_date=day(20))
    f.WorkItemFactory(application=young, status_category="todo", created_at=midnight(-5)).fix_releases.add(
        newcomer
    )

    late, newcomer = refreshed(late, newcomer)

    # ten items at one a day: every run finishes on day 10, past the target of day 5
    assert (late.forecast_p50, late.forecast_p85, late.forecast_p95) == (day(10), day(10), day(10))
    assert late.forecast_on_time == 0.0 and late.odds_words == "0%"
    assert newcomer.forecast_p50 is None and newcomer.forecast_on_time is None
    assert newcomer.forecast_odds_note == f"too little history: 5 days of history, {MIN_HISTORY_DAYS} needed"

    assert late.forecast_risk == 40  # sure to miss its target, nothing else wrong
    assert late.forecast_risk_reasons == [{"points": 40, "text": "100% of the runs ship after the target"}]
    page = client_for(roles.PROJECT_OFFICE).get(f"/releases/{late.pk}/").content.decode()
    assert "<strong>0%</strong> by" in page and "P85</dt><dd>" in page and "2,000 simulated runs" in page
    page = client_for(roles.PROJECT_OFFICE).get(f"/releases/{newcomer.pk}/").content.decode()
    assert "No odds: too little history: 5 days of history" in page


def test_scope_on_track_keeps_the_target():
    app = f.ApplicationFactory()
    release = f.ReleaseFactory(application=app, target_date=day(10))
    for n in range(56):  # two a day
        f.WorkItemFactory(application=app, status_category="done", resolved_at=midnight(-(n % 27) - 1))
    for _ in range(4):
        f.WorkItemFactory(application=app, status_category="todo").fix_releases.add(release)

    (release,) = refreshed(release)

    assert release.forecast_date == day(10)
    assert not release.at_risk


class TestFreezeWindows:
    def test_global_freeze_moves_the_release_to_the_first_day_after(self):
        f.FreezeWindowFactory(starts_at=midnight(10), ends_at=midnight(12))
        (release,) = refreshed(f.ReleaseFactory(target_date=day(11)))
        assert release.forecast_date == day(12)
        assert release.forecast_waiting_for[0]["kind"] == "freeze"

    def test_a_freeze_ending_mid_day_holds_that_whole_day(self):
        f.FreezeWindowFactory(starts_at=midnight(10), ends_at=midnight(11) + timedelta(hours=12))
        (release,) = refreshed(f.ReleaseFactory(target_date=day(10)))
        assert release.forecast_date == day(12)

    def test_portfolio_freeze_holds_its_releases_and_its_programmes_but_not_others(self):
        parent = f.PortfolioFactory()
        child = f.PortfolioFactory(parent=parent)
        f.FreezeWindowFactory(
            for_portfolio=True, portfolio=parent, starts_at=midnight(10), ends_at=midnight(13)
        )
        in_parent = f.ReleaseFactory(application=f.ApplicationFactory(portfolio=parent), target_date=day(10))
        in_child = f.ReleaseFactory(application=f.ApplicationFactory(portfolio=child), target_date=day(11))
        elsewhere = f.ReleaseFactory(application=f.ApplicationFactory(), target_date=day(11))

        in_parent, in_child, elsewhere = refreshed(in_parent, in_child, elsewhere)

        assert in_parent.forecast_date == day(13)
        assert in_child.forecast_date == day(13)
        assert elsewhere.forecast_date == day(11) and not elsewhere.at_risk

    def test_weekly_rrule_freeze_holds_each_occurrence(self):
        # Every Friday, all day, from the first Friday on.
        f.FreezeWindowFactory(starts_at=midnight(4), ends_at=midnight(5), rrule="FREQ=WEEKLY;BYDAY=FR")
        friday_in_five_weeks = f.ReleaseFactory(target_date=day(4 + 35))
        thursday = f.ReleaseFactory(target_date=day(3 + 35))

        friday_in_five_weeks, thursday = refreshed(friday_in_five_weeks, thursday)

        assert friday_in_five_weeks.forecast_date == day(5 + 35)  # the Saturday
        assert thursday.forecast_date == day(3 + 35)

    def test_environment_freeze_does_not_hold_releases(self):
        f.FreezeWindowFactory(for_environment=True, starts_at=midnight(10), ends_at=midnight(12))
        (release,) = refreshed(f.ReleaseFactory(target_date=day(10)))
        assert release.forecast_date == day(10)
        assert not release.at_risk

    def test_release_with_a_freeze_override_is_not_held(self):
        f.FreezeWindowFactory(starts_at=midnight(10), ends_at=midnight(12))
        release = f.ReleaseFactory(
            target_date=day(10),
            freeze_override_by=f.UserFactory(),
            freeze_override_reason="Regulatory deadline, approved by the CAB.",
        )
        (release,) = refreshed(release)
        assert release.forecast_date == day(10)
        assert not release.at_risk


def test_closed_releases_are_settled_to_what_happened():
    shipped_late = f.ReleaseFactory(target_date=day(-10), status="released", actual_date=day(-7))
    cancelled = f.ReleaseFactory(target_date=day(5), status="cancelled")
    Release.objects.filter(pk=cancelled.pk).update(at_risk=True, forecast_date=day(9), forecast_slip_days=4)

    shipped_late, cancelled = refreshed(shipped_late, cancelled)

    assert (shipped_late.forecast_date, shipped_late.forecast_slip_days) == (day(-7), 3)
    assert not shipped_late.at_risk and shipped_late.forecast_waiting_for == []
    assert (cancelled.forecast_date, cancelled.forecast_slip_days, cancelled.at_risk) == (None, 0, False)


def test_a_release_closed_after_its_forecast_is_settled_on_the_next_refresh():
    release = f.ReleaseFactory(target_date=day(3))
    f.GateFactory(release=release, due_date=day(6))
    (release,) = refreshed(release)
    assert release.at_risk

    release.status, release.actual_date = "released", day(4)
    release.save()
    (release,) = refreshed(release)

    assert (release.forecast_date, release.forecast_slip_days, release.at_risk) == (day(4), 1, False)


def test_an_unchanged_second_refresh_writes_nothing():
    _portfolio_of(8)
    first = forecast_refresh(today=TODAY)
    assert first > 0
    assert forecast_refresh(today=TODAY) == 0


def test_a_change_rewrites_only_the_releases_it_moves():
    releases = _portfolio_of(8)
    forecast_refresh(today=TODAY)
    f.GateFactory(release=releases[-1], due_date=releases[-1].target_date + timedelta(days=30))
    assert forecast_refresh(today=TODAY) == 1


def test_refresh_runs_the_same_queries_at_two_sizes():
    small = _portfolio_of(3)
    with CaptureQueriesContext(connection) as few:
        forecast_refresh(today=TODAY)
    Release.objects.update(forecast_updated_at=None, forecast_date=None, forecast_state="on_track")
    _portfolio_of(40, start=len(small))
    with CaptureQueriesContext(connection) as many:
        changed = forecast_refresh(today=TODAY)

    assert len(few) == len(many)
    assert changed == 43 + 4  # every open release, and the two closed ones of each portfolio
    # Django logs an executemany as "<rows> times: <sql>": one UPDATE for the open rows, one for the closed.
    writes = [q["sql"].split(": ")[0] for q in many.captured_queries if " times: UPDATE" in q["sql"]]
    assert writes == ["43 times", "4 times"]


def _portfolio_of(n: int, *, start: int = 0) -> list[Release]:
    """n releases over three applications: a dependency chain, gates, scope, a freeze, a closed upstream."""
    portfolio = f.PortfolioFactory()
    apps = [f.ApplicationFactory(portfolio=portfolio) for _ in range(3)]
    f.FreezeWindowFactory(
        for_portfolio=True, portfolio=portfolio, starts_at=midnight(30), ends_at=midnight(32)
    )
    releases = [
        f.ReleaseFactory(application=apps[i % 3], target_date=day(5 + (start + i) % 40)) for i in range(n)
    ]
    for down, up in zip(releases[1:], releases, strict=False):
        if up.target_date < down.target_date:
            f.ReleaseDependencyFactory(downstream=down, upstream=up)
    for release in releases[::2]:
        f.GateFactory(release=release)
    for release in releases[::3]:
        f.WorkItemFactory(application=release.application, status_category="todo").fix_releases.add(release)
    for i, release in enumerate(releases[1::4]):  # latest builds: some failed, some fixed since
        f.BuildFactory(application=release.application, release=release, result="failure")
        if i % 2:
            f.BuildFactory(application=release.application, release=release, result="success")
    for release in releases[3::5]:  # a rejected review
        gate = f.GateFactory(release=release, status="failed", decided_at=midnight(0))
        f.SignOffFactory(gate=gate, decision="reject", comment="Not yet.")
    shipped = f.ReleaseFactory(application=apps[0], released=True, target_date=day(-3))
    f.ReleaseDependencyFactory(downstream=releases[0], upstream=shipped)
    f.ReleaseFactory(application=apps[1], status="cancelled", target_date=day(4))
    return releases


def test_new_facts_refresh_the_forecast_at_once_so_a_failed_build_blocks_without_waiting_for_beat():
    """A sync that brings a failed build queues the evidence refresh; that task now refreshes the
    forecast too (it used to wait for beat's next run, up to five minutes)."""
    from django.utils import timezone

    from releases import tasks

    release = f.ReleaseFactory(target_date=timezone.localdate() + timedelta(days=30))
    f.BuildFactory(
        application=release.application, release=release, job="web-pay", number=7, result="failure"
    )
    result = tasks.gate_evidence_refresh_task.apply(kwargs={"release_ids": [release.pk]}).get()
    release.refresh_from_db()
    assert result["forecasts_changed"] >= 1
    assert (release.forecast_state, release.forecast_blocked_reason) == ("blocked", "build web-pay #7 failed")
