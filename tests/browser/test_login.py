"""A person signs in, sees who they are and where they can go, and signs out."""

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import PROJECT_OFFICE
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def office_user():
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat", last_name="Office")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    return user


def test_sign_in_see_role_and_sections_then_sign_out(page, office_user, screenshot):
    page.goto("/metrics/")
    assert "/login/" in page.url, "an anonymous visitor is sent to the login page"
    screenshot("login")

    submit_login(page, "pat", PASSWORD)

    page.wait_for_url("**/metrics/")
    assert page.locator(".whoami-name").inner_text() == "Pat Office"
    assert page.locator(".badge-role").inner_text() == PROJECT_OFFICE
    nav = page.locator(".mainnav a").all_inner_texts()
    assert nav == [
        "Home",
        "Calendar",
        "Releases",
        "Trains",
        "Gates",
        "Environments",
        "Integrations",
        "Metrics",
    ]
    assert page.locator(".mainnav a[aria-current=page]").inner_text() == "Metrics"
    assert page.get_by_role("heading", name="The four DORA measures").is_visible()

    page.click("text=Home")
    page.wait_for_url("**/")
    assert page.locator(".tile").count() == 6  # due, overdue gates, blocked, at risk, bookings, worker
    assert page.get_by_role("heading", name="Needs attention").is_visible()
    assert page.get_by_role("heading", name="My queue").is_visible()
    assert page.locator("li.attention-item").count() == 1  # nothing seeded but the worker, down
    screenshot("home")

    page.click("text=Sign out")
    page.wait_for_url("**/login/")
    page.goto("/")
    assert "/login/" in page.url, "after signing out, pages need a login again"


def test_wrong_password_shows_a_clear_message(page, office_user):
    page.goto("/login/")
    submit_login(page, "pat", "not-the-password")
    alert = page.locator(".alert-error")
    assert "correct username and password" in alert.inner_text()
    assert "/login/" in page.url


def test_layout_holds_on_a_phone(browser, live_server, office_user):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/login/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "nothing scrolls sideways on a narrow screen"
    context.close()
