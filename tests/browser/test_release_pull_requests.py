"""The release page loads its pull requests after itself (HTMX), and shows them without JavaScript
through the link in their place."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.models import User
from portal.roles import PROJECT_OFFICE
from releases.models import PullRequest
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def release():
    user = User.objects.create_user("olga", password=PASSWORD)
    user.groups.add(Group.objects.get(name=PROJECT_OFFICE))
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="4.2")
    opened = timezone.now() - timedelta(days=2)
    for number, state in [(41, "merged"), (42, "open")]:
        done = opened + timedelta(hours=number) if state == "merged" else None
        PullRequest.objects.create(
            application=release.application,
            release=release,
            repository="acme/payments",
            number=number,
            title=f"Fee change {number}",
            state=state,
            created_at=opened + timedelta(minutes=number),
            updated_at=opened + timedelta(hours=number),
            merged_at=done,
            closed_at=done,
            url=f"https://github.example/acme/payments/pull/{number}",
        )
    return release


def _sign_in(page):
    page.goto("/login/")
    submit_login(page, "olga", PASSWORD)
    page.wait_for_url("**/")


def test_the_pull_requests_load_into_the_page(page, release):
    _sign_in(page)
    page.goto(f"/releases/{release.pk}/")
    counts = page.locator("#pull-requests .pull-counts")
    counts.wait_for()
    assert counts.inner_text().startswith("1 merged · 1 open")
    links = page.locator("#pull-requests li a")
    assert links.all_inner_texts() == ["acme/payments#42", "acme/payments#41"]
    assert page.locator("#pull-requests").count() == 1


def test_without_javascript_the_link_shows_them(browser, live_server, release):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        _sign_in(page)
        page.goto(f"/releases/{release.pk}/")
        page.click("text=Show the pull requests")
        assert "pull_requests=1" in page.url
        assert page.locator("#pull-requests .pull-counts").inner_text().startswith("1 merged · 1 open")
    finally:
        context.close()
