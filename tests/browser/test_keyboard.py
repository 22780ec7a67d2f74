"""A keyboard user: focus is visible, actions answer Enter, and after an HTMX swap focus stays where the
user was (the same control when the new content has it, else the region that changed) instead of
falling back to the top of the page."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from integrations.models import Connection
from portal.models import User
from portal.roles import ADMIN, PROJECT_OFFICE
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
INSIDE = "(id) => document.getElementById(id).contains(document.activeElement)"
NEXT = "Next \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"  # the calendar's link
OUTLINE = "() => getComputedStyle(document.activeElement).outlineStyle"


@pytest.fixture
def admin_on_integrations(page):
    admin = User.objects.create_user("ada", password=PASSWORD, first_name="Ada")
    admin.groups.add(Group.objects.get(name=ADMIN))
    connection = f.ConnectionFactory(name="Jira Data Center", kind=Connection.Kind.JIRA_DC)
    page.goto("/login/")
    submit_login(page, "ada", PASSWORD)
    page.wait_for_url("**/")
    page.goto("/integrations/")
    return connection


def test_focus_is_visible_when_tabbing(page, admin_on_integrations):
    page.keyboard.press("Tab")  # the skip link, then the portal's own controls
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement !== document.body")
    assert page.evaluate(OUTLINE) not in ("none", "")


def test_after_an_htmx_swap_focus_stays_in_the_region_that_changed(page, admin_on_integrations):
    card_id = f"connection-{admin_on_integrations.pk}"
    card = page.locator(f"#{card_id}")
    card.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(card).to_contain_text("is paused")
    # The Pause button is gone (the card now offers Resume): focus goes to the card that changed.
    page.wait_for_function(INSIDE, arg=card_id)  # focus is back in the card once htmx settles
    page.keyboard.press("Tab")
    resume = card.get_by_role("button", name="Resume")
    for _ in range(10):  # the keyboard reaches Resume from the card without leaving it
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Resume":
            break
        page.keyboard.press("Tab")
    expect(resume).to_be_focused()
    page.keyboard.press("Enter")
    expect(card).not_to_contain_text("is paused")
    page.wait_for_function(INSIDE, arg=card_id)


def test_after_an_htmx_swap_the_same_control_keeps_focus(page):
    planner = User.objects.create_user("priya", password=PASSWORD, first_name="Priya")
    planner.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    page.goto("/login/")
    submit_login(page, "priya", PASSWORD)
    page.wait_for_url("**/")
    page.goto("/calendar/?month=2030-01")
    page.get_by_role("link", name=NEXT).focus()
    page.keyboard.press("Enter")  # the month is swapped in, its navigation with it
    expect(page.locator("#calendar-grid")).to_contain_text("February 2030")
    expect(page.get_by_role("link", name=NEXT)).to_be_focused()
    page.keyboard.press("Enter")  # so Enter again goes on to the month after
    expect(page.locator("#calendar-grid")).to_contain_text("March 2030")
