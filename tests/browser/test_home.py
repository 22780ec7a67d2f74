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
    page.wait_for_function("document.querySelectorAll('li.attention-item').length === 9")
    assert page.url.endswith("/"), "htmx swapped the list in place"

    page.select_option("#follow-portfolio", label="Retail")
    page.locator(".follow-forms form").first.get_by_role("button", name="Follow").click()
    page.wait_for_selector(".followed li:has-text('Retail')")
    page.wait_for_selector("text=Across what you follow")  # the list refreshed itself
    whys = page.locator(".attention-why").all_inner_texts()
    assert any("Retail hold" in why for why in whys)
    assert not any("Other hold" in why for why in whys)
    screenshot("home-following")
