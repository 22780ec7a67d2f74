"""The project office filters the calendar, saves the view under a name, finds it on the saved views
page and in the calendar's list, and subscribes to its own feed, which a calendar app (no session)
reads as text/calendar with the filtered releases only."""

from datetime import date

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import PROJECT_OFFICE
from releases.models import SavedView
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "flightdeck-po"


def test_the_project_office_saves_a_calendar_view_and_subscribes_to_it(
    browser, live_server, page, screenshot
):
    user = User.objects.create_user("po", password=PASSWORD, first_name="Pat", last_name="Office")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    payments = f.PortfolioFactory(name="Payments")
    claims = f.PortfolioFactory(name="Claims")
    today = date.today()
    f.ReleaseFactory(
        application__key="PAY", application__portfolio=payments, version="5.1.0", target_date=today
    )
    f.ReleaseFactory(
        application__key="CLM", application__portfolio=claims, version="2.0.0", target_date=today
    )

    page.goto("/calendar/")
    submit_login(page, "po", PASSWORD)
    page.wait_for_url("**/calendar/")
    page.select_option("#id_portfolio", label="Payments")
    page.wait_for_url("**portfolio=*")
    page.wait_for_function("() => !document.querySelector('#calendar-grid').innerText.includes('CLM')")

    page.locator("#saved-views-nav summary").click()
    page.fill("#saved-view-name", "Payments releases")
    page.click("text=Save view")
    feed_input = page.locator("#saved-view-feed-url")
    feed_input.wait_for()
    screenshot("saved-view-created")
    view = SavedView.objects.get(owner=user)
    assert view.page == "calendar" and view.query == f"portfolio={payments.pk}"
    feed_url = feed_input.input_value()
    assert feed_url.startswith(f"{live_server.url}/calendar/views/") and feed_url.endswith(".ics")
    assert page.locator("#saved-views-nav nav").get_by_role("link", name="Payments releases").is_visible()

    page.click("text=Manage saved views")
    page.wait_for_url("**/releases/views/")
    row = page.locator(f"#saved-view-{view.pk}")
    assert "Payments releases" in row.inner_text() and "live" in row.inner_text()
    screenshot("saved-views-page")
    row.get_by_role("link", name="Payments releases").click()
    page.wait_for_url(f"**/calendar/?portfolio={payments.pk}")
    assert "PAY" in page.locator("#calendar-grid").inner_text()
    assert "CLM" not in page.locator("#calendar-grid").inner_text()

    calendar_app = browser.new_context()  # no session: the token in the address is all it has
    try:
        response = calendar_app.request.get(feed_url)
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/calendar")
        body = response.text()
        assert "SUMMARY:PAY 5.1.0" in body and "CLM" not in body
        assert "Flightdeck: Payments releases" in body
    finally:
        calendar_app.close()
