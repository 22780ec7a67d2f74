"""A release manager finds a release in the list, opens it, moves its target date, adds a dependency
and sees the panel update in place, then tries one that would close a cycle and is told which."""

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.models import User
from portal.roles import RELEASE_MANAGER
from releases import tasks
from releases.models import AuditEvent, ReleaseDependency
from releases.planning.services.forecasting import forecast_refresh
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


@pytest.fixture
def manager():
    user = User.objects.create_user("rita", password=PASSWORD, first_name="Rita", last_name="Manager")
    user.groups.add(Group.objects.get(name=RELEASE_MANAGER))
    return user


@pytest.fixture
def portfolio_data(manager, monkeypatch):
    """A small portfolio where CLM 1.3 already needs PAY 4.2; forecasts refreshed as the worker would."""
    payments = f.PortfolioFactory(name="Payments")
    train = f.ReleaseTrainFactory(portfolio=payments, name="December train", starts_on=_in_days(10))

    def release(key, name, version, target, **fields):
        app = f.ApplicationFactory(key=key, name=name, portfolio=payments)
        return f.ReleaseFactory(
            application=app, version=version, target_date=_in_days(target), owner=manager, **fields
        )

    pay = release(
        "PAY",
        "Payments Hub",
        "4.2",
        14,
        status="in_progress",
        train=train,
        summary="Cross-border fee transparency",
    )
    clm = release("CLM", "Claims", "1.3", 21, train=train, summary="Claims intake on the new ledger")
    led = release("LED", "Core Ledger", "7.0", 18, status="code_freeze", summary="Posting interface v2")
    release("FX", "FX Rates", "2.8", 9, status="ready", summary="Rate feed failover")
    release("WEB", "Web Banking", "2026.12.1", 30, summary="Statements redesign")
    release("CARD", "Cards", "5.1", -20, status="released", actual_date=_in_days(-19), summary="Tokenisation")
    f.ReleaseDependencyFactory(downstream=clm, upstream=pay, note="Uses the fee API")
    f.GateFactory(
        release=pay,
        name="QA sign-off",
        due_date=_in_days(12),
        evidence_pass_rate=0.96,
        evidence_failed_tests=4,
        evidence_source="Jenkins pay-release #88",
        evidence_at=f.moment(0),
    )
    f.GateFactory(
        release=pay,
        name="Security review",
        kind="security",
        due_date=_in_days(16),
        signer_group=Group.objects.get(name="Security reviewer"),
    )
    recently = timezone.now() - timedelta(days=3)
    for kind, category in [("story", "done"), ("story", "done"), ("story", "in_progress"), ("bug", "todo")]:
        item = f.WorkItemFactory(
            application=pay.application,
            type=kind,
            status_category=category,
            resolved_at=recently if category == "done" else None,
        )
        item.fix_releases.add(pay)
    for _ in range(12):  # the team's recent throughput: the open scope finishes before the target
        f.WorkItemFactory(application=pay.application, status_category="done", resolved_at=recently)
    build = f.BuildFactory(
        application=pay.application, release=pay, job="pay-release", number=88, commit="9f3c2ab71d"
    )
    f.TestRunFactory(release=pay, build=build, name="Regression", passed=412, failed=4, skipped=6)
    f.DeploymentFactory(
        environment=f.EnvironmentFactory(name="SIT-01"), application=pay.application, version="4.2"
    )
    forecast_refresh()
    # The worker's job, done in the web process so the page shows the refreshed forecast.
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: forecast_refresh())
    return pay, clm, led


def _sign_in(page):
    page.goto("/login/")
    submit_login(page, "rita", PASSWORD)
    page.wait_for_url("**/")


def test_edit_a_release_and_its_dependencies(page, manager, portfolio_data, screenshot):
    pay, clm, led = portfolio_data
    _sign_in(page)

    page.goto("/releases/")
    assert page.locator("table.release-table tbody tr").count() == 5, (
        "from this week on: CARD shipped earlier"
    )
    page.select_option("#id_when", label="All dates")
    page.wait_for_function("() => document.querySelectorAll('table.release-table tbody tr').length === 6")
    page.fill("input[name=q]", "PAY")
    page.wait_for_url("**/releases/?*q=PAY*")
    assert page.locator("table.release-table tbody tr").count() == 1, "the table refreshes in place"
    page.fill("input[name=q]", "")
    page.wait_for_function("() => document.querySelectorAll('table.release-table tbody tr').length === 6")
    screenshot("release-list")

    page.click("text=4.2")
    page.wait_for_url(f"**/releases/{pay.pk}/")
    assert page.locator("h1").inner_text() == "PAY 4.2"
    needed_by = page.locator("#dependencies .dependency")
    assert needed_by.count() == 1 and "CLM 1.3" in needed_by.inner_text()

    page.click("text=Edit dates and status")
    page.fill("#id_plan-target_date", _in_days(17).isoformat())
    page.click("text=Save changes")
    page.wait_for_selector("#release-plan .saved")
    assert _in_days(17).strftime("%a %-d %b %Y") in page.locator("#release-plan").inner_text()
    assert "target:" in page.locator("#audit-timeline").inner_text(), "the timeline updates with the save"

    page.fill("#id_dependency-upstream", "LED 7.0")
    page.fill("#id_dependency-note", "Needs posting interface v2")
    page.click("text=Add dependency")
    page.wait_for_selector(f"#dependencies a[href='/releases/{led.pk}/']")
    assert "Needs posting interface v2" in page.locator("#dependencies").inner_text()
    assert page.locator("#id_dependency-upstream").input_value() == "", "a fresh form for the next one"
    assert "Dependency added" in page.locator("#audit-timeline").inner_text()
    # LED 7.0 is forecast after PAY's new target: the forecast (refreshed after the commit) says so.
    assert "Waits for LED 7.0 to ship first" in page.locator("#release-forecast").inner_text()
    assert "At risk" in page.locator("#release-header").inner_text()

    page.fill("#id_dependency-upstream", "CLM 1.3")
    page.click("text=Add dependency")
    alert = page.locator("#dependencies [role=alert]")
    alert.wait_for()
    assert alert.inner_text() == "That would make a cycle: PAY 4.2 → CLM 1.3 → PAY 4.2."
    assert page.locator("#id_dependency-upstream").input_value() == "CLM 1.3", "what was typed stays"
    assert not ReleaseDependency.objects.filter(downstream=pay, upstream=clm).exists()
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "release.update",
        "release.dependency_add",
    ]
    assert re.search(r"/releases/\d+/$", page.url), "HTMX changes do not navigate away"
    screenshot("release-page")
