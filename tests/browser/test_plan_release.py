"""A release manager plans in the portal: creates a release from the list, lands on its page with
its gates, then clones it for the next version; then ticks three releases on the list, moves them a
week later, sees the preview (each release, and the release downstream the forecast moves) and
confirms."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import RELEASE_MANAGER
from releases.models import AuditEvent, Release, ReleaseDependency
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


def test_a_release_manager_creates_a_release_and_clones_it(page, screenshot):
    user = User.objects.create_user("rita", password=PASSWORD, first_name="Rita")
    user.groups.add(Group.objects.get(name=RELEASE_MANAGER))
    application = f.ApplicationFactory(key="PAY", name="Payments Hub")
    f.GateRequirementFactory(
        policy=f.GatePolicyFactory(portfolio=application.portfolio), name="Security review"
    )
    page.goto("/login/")
    submit_login(page, "rita", PASSWORD)
    page.wait_for_url("**/")

    page.goto("/releases/")
    page.click("text=New release")
    page.wait_for_url("**/releases/new/")
    page.select_option("#id_application", label="PAY · Payments Hub")
    page.fill("#id_version", "4.3.0")
    page.fill("#id_summary", "Fee transparency")
    page.fill("#id_target_date", _in_days(30).isoformat())
    screenshot("release-new")
    page.click("text=Create the release")
    created = Release.objects.get(version="4.3.0")
    page.wait_for_url(f"**/releases/{created.pk}/")
    assert page.locator("h1").inner_text() == "PAY 4.3.0"
    assert "Security review" in page.locator("#gates").inner_text()  # its gates at once

    page.click("text=Clone")
    page.wait_for_url(f"**/releases/{created.pk}/clone/")
    assert page.input_value("#id_version") == "4.3.1"
    page.fill("#id_target_date", _in_days(44).isoformat())
    page.click("text=Create the copy")
    clone = Release.objects.get(version="4.3.1")
    page.wait_for_url(f"**/releases/{clone.pk}/")
    assert clone.summary == "Fee transparency" and clone.target_date == _in_days(44)
    assert AuditEvent.objects.filter(action="release.clone", object_id=str(clone.pk)).exists()

    third = f.ReleaseFactory(application=application, version="4.4.0", target_date=_in_days(50))
    downstream = f.ReleaseFactory(
        application=f.ApplicationFactory(key="CARDS"), version="9.1", target_date=_in_days(31)
    )
    ReleaseDependency.objects.create(upstream=created, downstream=downstream)
    _bulk_move(page, screenshot, [created, clone, third], downstream)


def _bulk_move(page, screenshot, releases, downstream):
    page.goto("/releases/?application=" + str(releases[0].application_id))
    for release in releases:
        page.check(f'input[name="release"][value="{release.pk}"]')
    page.select_option("#bulk-action", "move")
    page.fill('#bulk-form input[name="days"]', "7")
    screenshot("release-list-bulk")
    page.click("#bulk-form button:has-text('Preview')")
    page.wait_for_url("**/releases/bulk/")
    preview = page.locator("main").inner_text()
    assert "3 of 3 releases would change" in preview
    assert "CARDS 9.1" in preview  # downstream: its forecast moves with PAY 4.3.0
    screenshot("release-bulk-preview")
    assert not AuditEvent.objects.filter(action="release.update").exists()  # a preview saves nothing
    page.click("text=Confirm: change 3 releases")
    page.wait_for_url("**/releases/?application=*")
    assert "3 releases changed" in page.locator(".messages").inner_text()
    targets = dict(Release.objects.filter(pk__in=[r.pk for r in releases]).values_list("pk", "target_date"))
    assert targets == {r.pk: r.target_date + timedelta(days=7) for r in releases}
