"""The project office's question, end to end: which release in my portfolio is at risk next month, and
what is it waiting for? Calendar filter, next month, the at-risk release, its holds and critical path."""

from datetime import date

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import PROJECT_OFFICE
from releases.planning.calendar import month_period
from releases.planning.services.forecasting import forecast_refresh
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def slow_backend_holds_payments():
    """PAY 4.2 targets the 10th of next month but needs LEDG 9.0 (another portfolio), due on the 20th."""
    next_month = month_period(date.today()).following().first
    core = f.PortfolioFactory(name="Core Platforms")
    payments = f.PortfolioFactory(name="Payments")
    ledger = f.ReleaseFactory(
        application__key="LEDG",
        application__portfolio=core,
        version="9.0",
        target_date=next_month.replace(day=20),
    )
    held = f.ReleaseFactory(
        application__key="PAY",
        application__portfolio=payments,
        version="4.2",
        target_date=next_month.replace(day=10),
    )
    f.ReleaseFactory(
        application__key="CLM", application__portfolio=core, target_date=next_month.replace(day=10)
    )
    f.ReleaseDependencyFactory(downstream=held, upstream=ledger)
    forecast_refresh()
    return held


def test_project_office_finds_what_an_at_risk_release_waits_for(
    page, slow_backend_holds_payments, screenshot
):
    held = slow_backend_holds_payments
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat", last_name="Office")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))

    page.goto("/calendar/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/calendar/")

    page.select_option("#id_portfolio", label="Payments")
    page.wait_for_url("**portfolio=*")
    page.click("a[rel=next]")
    page.wait_for_url(f"**month={held.target_date:%Y-%m}*")

    day = page.locator(f'td[data-day="{held.target_date:%Y-%m-%d}"]')
    assert day.locator(".cal-key").all_inner_texts() == ["PAY"], "only the Payments portfolio is shown"
    at_risk = day.locator(".cal-release", has=page.locator(".cal-risk"))
    assert at_risk.count() == 1
    at_risk.click()

    page.wait_for_url(f"**/releases/{held.pk}/")
    forecast = page.locator("#release-forecast")
    assert "+11 days late" in forecast.inner_text()
    holds = forecast.locator(".hold-upstream")
    assert holds.count() == 1
    assert "LEDG 9.0" in holds.inner_text()
    assert forecast.locator(".critical-path a").all_inner_texts() == ["LEDG 9.0"]
    screenshot("release-at-risk")
