"""An admin adds a Jira connection to the sandbox in the admin, tests it, syncs it from /integrations/,
watches the run, and finds the releases and work items it brought on the release pages."""

import pytest
from django.contrib.auth.models import Group

from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.server import Fault, SandboxServer
from portal.celery import app as celery_app
from portal.models import User
from portal.roles import ADMIN
from releases.models import Release
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def sandbox():
    server = SandboxServer(
        JiraRoutes(JiraDataset(issues=240, projects=("MOBILE",), time_zone="Europe/Berlin"))
    )
    yield server.start()
    server.stop()


@pytest.fixture
def eager_celery():
    """No worker in this test: the task runs in the web request, after the commit, as a worker would."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_an_admin_connects_jira_tests_syncs_and_sees_the_releases_and_work_items(
    page, sandbox, eager_celery, screenshot
):
    f.ApplicationFactory(key="MOB", name="Mobile Banking App")
    admin = User.objects.create_user("ada", password=PASSWORD, first_name="Ada", is_staff=True)
    admin.groups.add(Group.objects.get(name=ADMIN))
    page.goto("/admin/integrations/connection/add/")
    submit_login(page, "ada", PASSWORD)
    page.wait_for_url("**/admin/integrations/connection/add/")

    page.fill("#id_name", "Mobile Jira")
    page.select_option("#id_kind", "jira_cloud")
    page.fill("#id_base_url", sandbox.url)
    page.fill("#id_scope", '{"projects": ["MOBILE"]}')
    page.fill("#id_username", "sync-bot@example.com")
    page.fill("#id_token", "sandbox-token")
    page.click("text=Add another Application mapping")
    page.locator("#mappings-0 .select2-selection").click()
    page.fill(".select2-search__field", "MOB")
    page.locator(".select2-results__option", has_text="Mobile Banking App").click()
    page.fill("#id_mappings-0-external_key", "MOBILE")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/integrations/connection/")

    page.goto("/integrations/")
    card = page.locator("section.connection", has_text="Mobile Jira")
    assert card.get_by_text("MOBILE → MOB").is_visible()
    assert card.get_by_text("No sync has run yet.").is_visible()
    card.get_by_role("button", name="Test connection").click()
    result = card.locator(".test-result")
    result.wait_for()
    assert "Connection works." in result.inner_text()
    assert "readable: MOBILE (6 versions)" in result.inner_text()

    sandbox.faults.append(Fault("slow", path="/search", delay=0.5, times=3))
    card.get_by_role("button", name="Sync now").click()
    row = page.locator("section.connection tbody tr").first
    row.get_by_text("Succeeded").wait_for(timeout=20_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "Succeeded"
    assert cells[5] == str(240 + 6)  # fetched: issues and versions
    screenshot("integrations-sync-succeeded")

    release = Release.objects.get(application__key="MOB", version="MOBILE 1.3")
    page.goto(f"/releases/{release.pk}/")
    assert page.get_by_role("heading", name="MOB MOBILE 1.3").is_visible()
    # Issues 3, 9, 15, ... have fix version 1.3: forty bugs and sub-tasks, all still "Offen" (to do).
    scope = page.locator("table.scope")
    assert scope.locator("tfoot").inner_text().split() == ["All", "40", "0", "0", "0", "/", "40"]
    assert scope.locator("tbody th").all_inner_texts() == ["Bug", "Sub-task"]
    screenshot("integrations-synced-release")
