"""An admin on /integrations/ sees that the new Jira Cloud connection reads records the Data Center one
owns, takes them over in the browser, then pauses the old connection and resets a stream's cursor."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from integrations.models import Connection
from portal.models import User
from portal.roles import ADMIN
from releases.models import Release, SourceAlias
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def test_an_admin_takes_over_the_records_of_the_old_connection_and_pauses_it(page, screenshot):
    admin = User.objects.create_user("ada", password=PASSWORD, first_name="Ada")
    admin.groups.add(Group.objects.get(name=ADMIN))
    old = f.ConnectionFactory(name="Jira Data Center", kind=Connection.Kind.JIRA_DC)
    new = f.ConnectionFactory(name="Jira Cloud", kind=Connection.Kind.JIRA_CLOUD)
    releases = f.ReleaseFactory.create_batch(
        3, source=old.source_key, external_id=f.factory.Iterator(["1", "2", "3"])
    )
    for number, release in enumerate(releases):
        SourceAlias.objects.create(source=new.source_key, external_id=f"cloud-{number}", release=release)
    f.SyncCursorFactory(connection=old, stream="issues", watermark="2026-12-01T08:00:00+00:00")

    page.goto("/login/")
    submit_login(page, "ada", PASSWORD)
    page.wait_for_url("**/")
    page.goto("/integrations/")
    card = page.locator(f"#connection-{new.pk}")
    expect(card).to_contain_text("3 records this connection reads are owned by Jira Data Center")
    screenshot("integrations-held-records")

    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm asks first
    card.get_by_role("button", name="Take them over from Jira Data Center").click()
    expect(page.locator(f"#connection-{new.pk}")).to_contain_text("now owns 3 release(s)")
    assert set(Release.objects.values_list("source", flat=True)) == {new.source_key}

    old_card = page.locator(f"#connection-{old.pk}")
    old_card.get_by_role("button", name="Pause").click()
    expect(page.locator(f"#connection-{old.pk}")).to_contain_text("is paused")
    page.locator(f"#connection-{old.pk} summary").click()
    page.locator(f"#connection-{old.pk}").get_by_role("button", name="Reset").click()
    expect(page.locator(f"#connection-{old.pk}")).to_contain_text("The cursor of issues is reset")
    screenshot("integrations-after-take-over")
    old.refresh_from_db()
    assert not old.enabled and not old.cursors.exists()
