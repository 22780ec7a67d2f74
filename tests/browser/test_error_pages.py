"""The error pages as a person meets them: 404 and 403 in the portal's layout with its navigation, 400
and 500 in the slim layout; each says what happened and offers the way back home. Screenshots at a
desktop and a phone width go to var/screenshots/ for a person to look at."""

import pytest
from django.contrib.auth.models import Group

from portal import views
from portal.models import User
from portal.roles import PROJECT_OFFICE
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def office_user():
    user = User.objects.create_user("pat", password=PASSWORD, first_name="Pat", last_name="Office")
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    return user


def _fits_the_width(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"


def _look(page, screenshot, name: str) -> None:
    _fits_the_width(page)
    screenshot(f"error-{name}")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits_the_width(page)
    screenshot(f"error-{name}-phone")
    page.set_viewport_size({"width": 1440, "height": 900})


def test_the_error_pages_have_the_layout_and_a_way_back(page, office_user, screenshot, monkeypatch):
    release = f.ReleaseFactory()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/login/")
    submit_login(page, "pat", PASSWORD)
    page.wait_for_url("**/")

    response = page.goto("/releases/no-such-thing/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.locator(".mainnav a").count() >= 8
    _look(page, screenshot, "404")
    page.get_by_role("link", name="Back to Home").click()
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Needs attention").is_visible()

    response = page.goto(f"/releases/{release.pk}/")
    response = page.goto(f"/releases/{release.pk}/evidence.zip")
    assert response.status == 403
    assert page.get_by_role("heading", name="You cannot open this page").is_visible()
    assert page.get_by_text("Only auditors and administrators export evidence packages.").is_visible()
    _look(page, screenshot, "403")

    response = page.goto("/releases/?" + "&".join(f"f{i}=1" for i in range(1100)))  # too many fields
    assert response.status == 400
    assert page.get_by_role("heading", name="The request could not be read").is_visible()
    _look(page, screenshot, "400")

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "needs_attention", fail)
    response = page.goto("/")
    assert response.status == 500
    assert page.get_by_role("heading", name="Something went wrong").is_visible()
    assert "boom" not in page.content()
    _look(page, screenshot, "500")
    assert page.get_by_role("link", name="Back to Home").get_attribute("href") == "/"
