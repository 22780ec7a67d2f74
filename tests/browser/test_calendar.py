"""A project-office user filters the release calendar by portfolio, moves to next month, sees what is at
risk, expands a busy day in place, switches to the week view, and goes back."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import PROJECT_OFFICE
from releases.planning.calendar import month_period
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _next_month_day(day: int) -> date:
    return month_period(date.today()).following().first.replace(day=day)


@pytest.fixture
def calendar_data():
    payments = f.PortfolioFactory(name="Payments")
    cards = f.PortfolioFactory(name="Cards programme", parent=payments)
    claims = f.PortfolioFactory(name="Claims")
    busy = _next_month_day(12)
    for n, key in enumerate(["PAY", "LEDGER", "FX", "CARD", "ATM", "SEPA", "WIRE"]):
        f.ReleaseFactory(
            application__key=key,
            application__portfolio=cards if key in {"CARD", "ATM"} else payments,
            version=f"3.{n}.0",
            target_date=busy,
            at_risk=n in {2, 5},
            status=["planned", "in_progress", "code_freeze", "ready"][n % 4],
        )
    f.ReleaseFactory(application__key="CLM", application__portfolio=claims, target_date=busy)
    f.ReleaseFactory(
        application__key="PAYAPI", application__portfolio=payments, target_date=_next_month_day(20)
    )
    f.ReleaseFactory(
        application__key="THIS", application__portfolio=claims, target_date=date.today(), at_risk=True
    )
    start = f.moment(0).replace(year=busy.year, month=busy.month, day=24)
    f.FreezeWindowFactory(starts_at=start, ends_at=start + timedelta(days=3), reason="Year-end freeze")
    return busy


@pytest.fixture
def office_user():
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat", last_name="Office")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    return user


def test_filter_by_portfolio_go_to_next_month_and_expand_a_busy_day(
    page, office_user, calendar_data, screenshot
):
    busy = calendar_data
    page.goto("/calendar/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/calendar/")
    this_month = page.locator("#calendar-title").inner_text()
    assert this_month == f"{date.today():%B %Y}"
    assert page.locator(".cal-today").count() == 1
    screenshot("calendar-month")

    page.select_option("#id_portfolio", label="Payments")
    page.wait_for_url("**portfolio=*")
    page.click("a[rel=next]")
    page.wait_for_url(f"**month={busy:%Y-%m}*")
    assert page.locator("#calendar-title").inner_text() == f"{busy:%B %Y}"
    assert "portfolio=" in page.url, "the filter stays on as the month changes"

    cell = page.locator(f'td[data-day="{busy:%Y-%m-%d}"]')
    assert cell.locator(".cal-release").count() == 4
    assert "CLM" not in cell.inner_text(), "another portfolio's release is filtered out"
    assert cell.locator(".cal-risk").count() == 2, "the releases at risk come first, with a badge"
    assert "2 at risk" in cell.locator(".cal-count").inner_text()
    frozen = page.locator(f'td[data-day="{busy.replace(day=25):%Y-%m-%d}"]')
    assert "Year-end freeze" in frozen.get_attribute("title")

    cell.locator(".cal-more").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('td[data-day=\"{busy:%Y-%m-%d}\"] .cal-release').length === 7"
    )
    assert cell.locator(".cal-more").count() == 0
    assert {"CARD", "ATM"} <= set(cell.locator(".cal-key").all_inner_texts()), "programmes belong to it"
    screenshot("calendar-filtered")

    cell.locator(".cal-date").click()  # a day's number opens its week
    page.wait_for_url(f"**week={busy:%G-W%V}*")
    assert page.locator("td[data-day]").count() == 7
    assert page.locator(f'td[data-day="{busy:%Y-%m-%d}"] .cal-release').count() == 7
    screenshot("calendar-week")

    page.go_back()
    page.wait_for_url(f"**month={busy:%Y-%m}*")
    assert page.locator("#calendar-title").inner_text() == f"{busy:%B %Y}"
    assert page.locator("#calendar-period").get_attribute("value") == f"{busy:%Y-%m}"


def test_without_javascript_the_filters_and_more_link_still_work(
    browser, live_server, office_user, calendar_data
):
    busy = calendar_data
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/login/?next=/calendar/")
    submit_login(page, "pat", PASSWORD)
    page.goto(f"/calendar/?month={busy:%Y-%m}")
    page.select_option("#id_portfolio", label="Payments")
    page.click("text=Apply filters")
    assert "portfolio=" in page.url and f"month={busy:%Y-%m}" in page.url
    page.click(f'td[data-day="{busy:%Y-%m-%d}"] .cal-more')
    assert f"/calendar/day/{busy:%Y-%m-%d}/" in page.url
    assert page.locator(".cal-release").count() == 7
    context.close()


def test_the_month_fits_a_phone(browser, live_server, office_user, calendar_data):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/login/?next=/calendar/")
    submit_login(page, "pat", PASSWORD)
    page.goto(f"/calendar/?month={calendar_data:%Y-%m}")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "nothing scrolls sideways on a narrow screen"
    assert page.locator(f'td[data-day="{calendar_data:%Y-%m-%d}"] .cal-release').first.is_visible()
    context.close()
