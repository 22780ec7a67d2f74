"""An admin adds a Jira connection to the sandbox in the admin, tests it, syncs it from /integrations/,
watches the run's live progress while a real Celery worker syncs, and finds the releases and work
items it brought on the release pages. A sync that fails says why on the same page."""

import re
import threading

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from integrations.models import Connection
from integrations.parse.jira import PAGE_SIZE
from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.server import Fault, SandboxServer
from integrations.sync.jira import STORE_BATCH
from portal.models import User
from portal.roles import ADMIN
from releases.models import Release, WorkItem
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
ISSUES = 3 * STORE_BATCH  # thirty pages of a hundred, stored in three batches: three states to watch
VERSIONS = 6
PAGES_PER_BATCH = STORE_BATCH // PAGE_SIZE
SLOW_PAGE = 0.05  # seconds per search page: the sync lasts a few seconds and has a rate to show
HOLD_TIMEOUT = 30  # a failing test does not hold the worker for ever


@pytest.fixture
def sandbox():
    server = SandboxServer(
        JiraRoutes(JiraDataset(issues=ISSUES, projects=("MOBILE",), time_zone="Europe/Berlin"))
    )
    yield server.start()
    server.stop()


class SearchPageHolds:
    """Hold the sandbox's answer to the search pages that begin a new stored batch until the test lets
    each go: the browser is sure to see the run after each batch, however fast or slow the machine,
    and the test waits on what the page shows, not on the clock."""

    def __init__(self, pages: list[int]):
        self.released = {number: threading.Event() for number in pages}
        self.searches = 0
        self.lock = threading.Lock()

    def __call__(self, path: str, query: dict) -> None:  # the sandbox's before_answer hook
        if not path.endswith("/search/jql"):
            return
        with self.lock:
            self.searches += 1
            number = self.searches
        if number in self.released:
            self.released[number].wait(HOLD_TIMEOUT)

    def release(self, number: int) -> None:
        self.released[number].set()

    def release_all(self) -> None:
        for event in self.released.values():
            event.set()


@pytest.fixture
def holds(sandbox, live_worker):
    """Search pages 11 and 21 held; released at the end even when the test fails, before the worker
    stops (this fixture depends on the worker, so it is torn down first)."""
    page_holds = SearchPageHolds([PAGES_PER_BATCH + 1, 2 * PAGES_PER_BATCH + 1])
    yield page_holds
    page_holds.release_all()
    sandbox.before_answer = None


def admin_signs_in(page, path: str) -> None:
    admin = User.objects.create_user("ada", password=PASSWORD, first_name="Ada", is_staff=True)
    admin.groups.add(Group.objects.get(name=ADMIN))
    page.goto(path)
    submit_login(page, "ada", PASSWORD)
    page.wait_for_url(f"**{path}")


def test_an_admin_connects_jira_tests_syncs_watches_progress_and_sees_the_releases_and_work_items(
    page, sandbox, holds, screenshot
):
    f.ApplicationFactory(key="MOB", name="Mobile Banking App")
    admin_signs_in(page, "/admin/integrations/connection/add/")
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
    expect(card.get_by_text("MOBILE → MOB")).to_be_visible()
    expect(card.get_by_text("No sync has run yet.")).to_be_visible()
    card.get_by_role("button", name="Test connection").click()
    result = card.locator(".test-result")
    expect(result).to_contain_text("Connection works.")
    expect(result).to_contain_text(f"readable: MOBILE ({VERSIONS} versions)")

    sandbox.faults.append(Fault("slow", path="/search/jql", delay=SLOW_PAGE, times=ISSUES // PAGE_SIZE))
    sandbox.before_answer = holds
    card.get_by_role("button", name="Sync now").click()
    run = card.locator("tbody.run").first  # the newest run: its numbers, then its progress line
    status, progress, bar = run.locator(".badge"), run.locator(".progress-line"), run.locator("progress")

    # The first batch is stored while the worker waits for page 11: the browser's poll shows it.
    expected = f"of {ISSUES + VERSIONS:,} items"
    expect(progress).to_contain_text(f"{1 + PAGES_PER_BATCH} pages · {STORE_BATCH + VERSIONS:,} {expected}")
    expect(status).to_have_text("Running")
    expect(progress).to_contain_text(re.compile(r"\d[\d,]* items/s · about \d+ (s|min)( \d+ s)? left"))
    first_percent = int(bar.get_attribute("value"))
    assert first_percent == round(100 * (STORE_BATCH + VERSIONS) / (ISSUES + VERSIONS))

    holds.release(PAGES_PER_BATCH + 1)  # the next batch: the same row, polled, moves on
    expect(progress).to_contain_text(
        f"{1 + 2 * PAGES_PER_BATCH} pages · {2 * STORE_BATCH + VERSIONS:,} {expected}"
    )
    expect(status).to_have_text("Running")
    assert int(bar.get_attribute("value")) > first_percent
    screenshot("integrations-sync-running")

    holds.release(2 * PAGES_PER_BATCH + 1)
    expect(status).to_have_text("Succeeded", timeout=20_000)
    cells = run.locator("tr").first.locator("td").all_inner_texts()
    assert cells[4:7] == [str(1 + ISSUES // PAGE_SIZE), f"{ISSUES + VERSIONS:,}", f"{ISSUES + VERSIONS:,}"]
    expect(run.locator(".run-detail")).to_have_count(0)  # no progress line, and no more polling
    assert run.get_attribute("hx-trigger") is None
    screenshot("integrations-sync-succeeded")

    release = Release.objects.get(application__key="MOB", version="MOBILE 1.3")
    page.goto(f"/releases/{release.pk}/")
    expect(page.get_by_role("heading", name="MOB MOBILE 1.3")).to_be_visible()
    # Issues 3, 9, 15, ... have fix version 1.3: bugs and sub-tasks, all still "Offen" (to do).
    scope = page.locator("table.scope")
    in_release = str(ISSUES // VERSIONS)
    assert scope.locator("tfoot").inner_text().split() == ["All", in_release, "0", "0", "0", "/", in_release]
    assert scope.locator("tbody th").all_inner_texts() == ["Bug", "Sub-task"]
    screenshot("integrations-synced-release")


def test_a_sync_that_fails_says_why_and_keeps_the_pages_it_stored(page, sandbox, live_worker, screenshot):
    connection = f.ConnectionFactory(
        name="Mobile Jira",
        kind=Connection.Kind.JIRA_CLOUD,
        base_url=sandbox.url,
        credentials={"username": "sync-bot@example.com", "token": "sandbox-token"},
        scope={"projects": ["MOBILE"]},
    )
    f.ApplicationMappingFactory(connection=connection, application__key="MOB", external_key="MOBILE")
    # Page 13 arrives cut in half: the twelve pages before it are stored, then the run fails.
    sandbox.faults.append(Fault("truncate", path="/search/jql", after=12))
    admin_signs_in(page, "/integrations/")

    page.get_by_role("button", name="Sync now").click()
    run = page.locator(f"#connection-{connection.pk} tbody.run").first
    expect(run.locator(".badge")).to_have_text("Failed", timeout=20_000)
    error = run.locator(".run-error")
    expect(error).to_contain_text("Failed: The tool's answer could not be read (it was probably cut off).")
    expect(error).to_contain_text("Run Sync now again")
    raw = run.locator("details.raw-error")  # the tool's own words, folded, for the admin
    raw.locator("summary").click()
    expect(raw).to_contain_text("Jira answered /rest/api/3/search/jql with invalid JSON")
    expect(run.locator(".run-detail")).to_contain_text("The 13 pages stored before the failure are kept")
    stored = 12 * PAGE_SIZE
    assert run.locator("tr").first.locator("td").all_inner_texts()[5] == f"{stored + VERSIONS:,}"
    assert WorkItem.objects.filter(application__key="MOB").count() == stored
    screenshot("integrations-sync-failed")
