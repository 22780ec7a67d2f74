"""An HTMX action the server refuses (403, 404, a dropped connection) says so on the page instead of
seeming to do nothing."""

import pytest
from django.contrib.auth.models import Group

from integrations.models import SyncRun
from portal.models import User
from portal.roles import PROJECT_OFFICE
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def office_page(page):
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    page.goto("/integrations/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/integrations/")
    return page


def htmx(page, method: str, path: str) -> None:
    """As an hx-get/hx-post element would ask (a refused request rejects htmx.ajax's promise)."""
    script = "([method, path]) => { htmx.ajax(method, path, {target: '#main'}).catch(() => {}); }"
    page.evaluate(script, [method, path])


def test_a_refused_action_says_it_was_not_allowed_and_changes_nothing(office_page, screenshot):
    connection = f.ConnectionFactory()
    htmx(office_page, "POST", f"/integrations/connections/{connection.pk}/sync/")  # office may not sync
    alert = office_page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "You are not allowed to do that. Nothing was changed."
    assert office_page.get_by_role("heading", name="Integrations").is_visible(), "the page stays"
    assert not SyncRun.objects.exists()
    screenshot("htmx-refused")


def test_a_missing_thing_and_a_dropped_connection_are_said_too(office_page):
    htmx(office_page, "GET", "/integrations/runs/999999/progress/")
    office_page.get_by_text("That is no longer there: reload the page.").wait_for()
    office_page.route("**/integrations/runs/1/progress/", lambda route: route.abort())
    htmx(office_page, "GET", "/integrations/runs/1/progress/")
    office_page.get_by_text("Flightdeck could not be reached").wait_for()
    assert office_page.locator(".messages li").count() == 1, "the newest message replaces the last"
