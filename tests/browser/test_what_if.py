"""The project office opens an upstream release, reads its odds, asks what a ten-day slip would move,
and sees the downstream releases of two portfolios that would change; nothing is saved."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import PROJECT_OFFICE
from releases.models import Release
from releases.planning.services.forecasting import forecast_refresh
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


@pytest.fixture
def chain():
    """LED 7.0 feeds PAY 4.2 (Payments), which feeds CRD 5.1 (Cards): each the day after the other."""
    payments, cards = f.PortfolioFactory(name="Payments"), f.PortfolioFactory(name="Cards")
    led = f.ReleaseFactory(
        application__key="LED", application__portfolio=payments, version="7.0", target_date=_in_days(12)
    )
    pay = f.ReleaseFactory(
        application__key="PAY", application__portfolio=payments, version="4.2", target_date=_in_days(13)
    )
    crd = f.ReleaseFactory(
        application__key="CRD", application__portfolio=cards, version="5.1", target_date=_in_days(14)
    )
    f.ReleaseDependencyFactory(upstream=led, downstream=pay)
    f.ReleaseDependencyFactory(upstream=pay, downstream=crd)
    forecast_refresh()
    return led, pay, crd


def test_the_what_if_of_an_upstream_release_lists_what_moves_downstream(page, chain, screenshot):
    led, _pay, crd = chain
    user = User.objects.create_user("olga", password=PASSWORD, first_name="Olga")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    page.goto("/login/")
    submit_login(page, "olga", PASSWORD)
    page.wait_for_url("**/")

    page.goto(f"/releases/{led.pk}/")
    odds = page.locator(".odds").inner_text()
    assert "100%" in odds and "P85" in odds, "no remaining work: it ships on its target in every run"
    page.fill("#what-if-days", "10")
    page.click("text=Show what moves")
    page.wait_for_selector("#what-if table")
    rows = page.locator("#what-if tbody tr")
    assert rows.count() == 2
    assert "PAY 4.2" in rows.nth(0).inner_text() and "Payments" in rows.nth(0).inner_text()
    assert "CRD 5.1" in rows.nth(1).inner_text() and "Cards" in rows.nth(1).inner_text()
    assert "At risk" in rows.nth(1).inner_text() and "0%" in rows.nth(1).inner_text()
    screenshot("what-if")

    page.click("#what-if a:has-text('CRD 5.1')")
    page.wait_for_url(f"**/releases/{crd.pk}/")
    assert Release.objects.get(pk=crd.pk).forecast_date == _in_days(14), "nothing was saved"
