"""Home in a browser: "Show more" swaps the longer list in place, and following a portfolio by htmx
narrows "Needs attention" on the next visit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import User
from portal.roles import PROJECT_OFFICE
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def test_show_more_then_follow_a_portfolio(page, screenshot):
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat")
    user.groups.add(f.GroupFactory(name=PROJECT_OFFICE))
    today = timezone.localdate()
    mine = f.PortfolioFactory(name="Retail")
    for i in range(4):
        f.ReleaseFactory(
            application=f.ApplicationFactory(portfolio=mine),
            forecast_state="blocked",
            forecast_blocked_reason=f"Retail hold {i}",
            target_date=today + timedelta(days=i),
        )
        f.ReleaseFactory(forecast_state="blocked", forecast_blocked_reason=f"Other hold {i}")
    page.goto("/login/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/")
    assert page.locator("li.attention-item").count() == 5
    page.click("text=Show 4 more")  # 8 releases and the worker, down
    page.wait_for_function("() => document.querySelectorAll('li.attention-item').length === 9")
    assert page.url.endswith("/"), "htmx swapped the list in place"

    page.select_option("#follow-portfolio", label="Retail")
    page.locator(".follow-forms form").first.get_by_role("button", name="Follow").click()
    page.wait_for_selector(".followed li:has-text('Retail')")
    page.wait_for_selector("text=Across what you follow")  # the list refreshed itself
    whys = page.locator(".attention-why").all_inner_texts()
    assert any("Retail hold" in why for why in whys)
    assert not any("Other hold" in why for why in whys)
    screenshot("home-following")


def test_the_project_office_follows_a_portfolio_and_opens_its_at_risk_release(page, screenshot):
    """Issue 13's walk: Home, follow a portfolio, the at-risk release heads the list, open it."""
    user = User.objects.create_user("pia", password=PASSWORD, first_name="Pia")
    user.groups.add(f.GroupFactory(name=PROJECT_OFFICE))
    f.WorkerHeartbeatFactory(name="worker", seen_at=timezone.now())  # the worker is up
    today = timezone.localdate()
    retail = f.PortfolioFactory(name="Retail")
    at_risk = f.ReleaseFactory(
        application=f.ApplicationFactory(key="SHOP", portfolio=retail),
        version="7.1.0",
        forecast_state="at_risk",
        at_risk=True,
        forecast_date=today + timedelta(days=5),
        forecast_slip_days=3,
        target_date=today + timedelta(days=2),
    )
    for i in range(6):  # elsewhere, and worse: they head the list until Retail is followed
        f.ReleaseFactory(forecast_state="blocked", forecast_blocked_reason=f"Other hold {i}")
    page.goto("/login/")
    submit_login(page, "pia", PASSWORD)
    page.wait_for_url("**/")
    assert "SHOP 7.1.0" not in page.locator("li.attention-item").first.inner_text()

    page.select_option("#follow-portfolio", label="Retail")
    page.locator(".follow-forms form").first.get_by_role("button", name="Follow").click()
    page.wait_for_selector("text=Across what you follow")
    top = page.locator("li.attention-item").first
    assert "SHOP 7.1.0 is at risk" in top.inner_text()
    screenshot("home-at-risk-on-top")
    top.get_by_role("link").first.click()
    page.wait_for_url(f"**/releases/{at_risk.pk}/**")
    assert "7.1.0" in page.locator("h1").inner_text()
