"""Dense tables at a phone's width (390 px) and a desktop's (1440 px): no page scrolls sideways, no table
cuts off a column, the gates queue is compact and keeps its columns with the review panel open."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import SECURITY_REVIEWER
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PAGE_WIDTH = "() => document.scrollingElement.scrollWidth"


def _in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


def _log_in(page, username: str, then: str) -> None:
    page.goto(f"/login/?next={then}")
    submit_login(page, username, PASSWORD)
    page.wait_for_url(f"**{then}")


def _visible_in(page, cell_selector: str, container_selector: str) -> bool:
    """The cell's right edge is inside the container's box (it is not cut off)."""
    return page.evaluate(
        """([cell, box]) => {
            const c = document.querySelector(cell).getBoundingClientRect();
            const b = document.querySelector(box).getBoundingClientRect();
            return c.width > 0 && c.right <= b.right + 1 && c.left >= b.left - 1;
        }""",
        [cell_selector, container_selector],
    )


@pytest.fixture
def reviewer():
    sofia = User.objects.create_user("sofia", password=PASSWORD, first_name="Sofia", last_name="Martins")
    sofia.groups.add(Group.objects.get(name=SECURITY_REVIEWER))
    return sofia


@pytest.fixture
def queue(reviewer):
    reviewers = Group.objects.get(name=SECURITY_REVIEWER)
    payments = f.PortfolioFactory(name="Payments and settlement platforms")
    gates = []
    for i in range(12):
        app = f.ApplicationFactory(key=f"PAY{i}", name=f"Payments Hub {i}", portfolio=payments)
        release = f.ReleaseFactory(application=app, version="2027.04.1", target_date=_in_days(20))
        gates.append(
            f.GateFactory(
                release=release,
                kind="security",
                name="Security review",
                signer_group=reviewers,
                due_date=_in_days(i - 3),
                evidence_ok=i % 2 == 0,
                evidence_summary="0 critical, 2 high, 14 medium and 31 low findings in 4 scanned images",
                evidence_source="Dependency scan pay-release #88",
                evidence_at=f.moment(0),
            )
        )
    far = f.ReleaseFactory(application=app, version="2028.01", target_date=_in_days(200))
    f.GateFactory(
        release=far, kind="security", name="Far away", signer_group=reviewers, due_date=_in_days(180)
    )
    return gates


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1440"])
def test_the_gates_queue_fits_and_is_compact(page, queue, screenshot, viewport):
    page.set_viewport_size(viewport)
    _log_in(page, "sofia", "/gates/")
    rows = page.locator("#gate-queue tbody tr")
    screenshot(f"gate-queue-{viewport['width']}")
    assert rows.count() == 12  # due soon; the far one on demand
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    # One or two lines a row: the tallest row is under three lines of text (about 3 x 21 px + padding).
    heights = page.eval_on_selector_all("#gate-queue tbody tr", "rows => rows.map(r => r.offsetHeight)")
    assert max(heights) <= 60, heights
    assert _visible_in(page, "#gate-queue tbody tr:first-child td:last-child a", "#gate-queue")

    rows.nth(1).get_by_role("link", name="Review").click()
    page.locator(f"#gate-review #gate-{queue[1].pk}").wait_for()
    screenshot(f"gate-queue-review-{viewport['width']}")
    page.wait_for_function(
        f"() => document.getElementById('queue-gate-{queue[1].pk}').getAttribute('aria-current') === 'true'"
    )
    assert page.locator("#gate-queue tr[aria-current]").count() == 1
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    if viewport is DESKTOP:
        # The panel is beside the queue, and the queue keeps its Evidence and Approvals columns.
        for column in ("th.col-evidence", "th.col-approvals", "tbody tr:first-child td:last-child a"):
            assert _visible_in(page, f"#gate-queue {column}", "#gate-queue"), column

    page.get_by_role("link", name="Show 1 later one").click()
    page.wait_for_function("() => document.querySelectorAll('#gate-queue tbody tr').length === 13")
    assert "later=1" in page.url


@pytest.fixture
def estate(reviewer):
    """Ten environments, each busy now and booked next, with five applications deployed on each."""
    from django.utils import timezone

    now = timezone.now()
    platform = f.GroupFactory(name="Platform engineering and operations")
    apps = [
        f.ApplicationFactory(key=f"LEDGER{i}", name=f"General ledger {i}", portfolio=f.PortfolioFactory())
        for i in range(10)
    ]
    for i in range(10):
        env = f.EnvironmentFactory(name=f"payments-staging-eu-west-{i}", owner_group=platform, capacity=2)
        release = f.ReleaseFactory(application=apps[i], version="2027.04.1-rc.12")
        f.BookingFactory(
            environment=env,
            application=apps[i],
            release=release,
            approved=True,
            starts_at=now - timedelta(hours=2),
            ends_at=now + timedelta(hours=30),
        )
        f.BookingFactory(
            environment=env,
            application=apps[i],
            release=release,
            approved=True,
            starts_at=now + timedelta(days=3),
            ends_at=now + timedelta(days=4),
        )
        for app in apps[:5]:
            f.DeploymentFactory(environment=env, application=app, version="2027.03.17-hotfix.4")
    return apps


def test_the_environments_list_shows_every_column_at_1440(page, estate, screenshot):
    page.set_viewport_size(DESKTOP)
    _log_in(page, "sofia", "/environments/")
    screenshot("environment-list-1440")
    assert page.evaluate(PAGE_WIDTH) <= DESKTOP["width"]
    assert page.evaluate("() => document.querySelector('.env-table').scrollWidth") <= page.evaluate(
        "() => document.querySelector('.env-table').closest('.table-scroll').clientWidth"
    )
    assert _visible_in(page, ".env-table thead th:last-child", ".table-card")
    assert _visible_in(page, ".env-table tbody tr:first-child td.deployed", ".table-card")


def test_what_runs_where_keeps_the_application_column_in_view(page, estate, screenshot):
    page.set_viewport_size(DESKTOP)
    _log_in(page, "sofia", "/environments/what-runs-where/")
    screenshot("environment-matrix-1440")
    scroller = ".board-scroll"
    assert page.evaluate(f"() => document.querySelector('{scroller}').scrollWidth") > page.evaluate(
        f"() => document.querySelector('{scroller}').clientWidth"
    )  # ten environments are wider than the page: the table scrolls in its own box
    page.evaluate(f"() => document.querySelector('{scroller}').scrollLeft = 600")
    screenshot("environment-matrix-scrolled-1440")
    assert _visible_in(page, ".matrix tbody tr:first-child th", scroller)
    assert page.evaluate(PAGE_WIDTH) <= DESKTOP["width"]
    page.set_viewport_size(PHONE)
    assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]
    screenshot("environment-matrix-390")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1440"])
def test_the_calendar_of_all_portfolios_shows_a_portfolio_freeze_named(page, reviewer, screenshot, viewport):
    from django.utils import timezone

    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    if start.day > 25:  # stay inside this month's grid
        start -= timedelta(days=5)
    payments = f.PortfolioFactory(name="Payments")
    f.FreezeWindowFactory(
        for_portfolio=True,
        portfolio=payments,
        starts_at=start,
        ends_at=start + timedelta(days=2),
        reason="Black Friday",
    )
    page.set_viewport_size(viewport)
    _log_in(page, "sofia", "/calendar/")
    note = page.locator(".cal-freeze-note", has_text="Payments freeze: Black Friday").first
    note.wait_for(state="attached")
    screenshot(f"calendar-all-portfolio-freeze-{viewport['width']}")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]


@pytest.mark.parametrize("path", ["/environments/", "/environments/what-runs-where/", "/integrations/"])
def test_environments_and_integrations_do_not_scroll_sideways_on_a_phone(page, estate, screenshot, path):
    from integrations.models import SyncRun

    f.SyncRunFactory(
        status=SyncRun.Status.FAILED, items_fetched=24, items_created=40, error="Jira answered 404"
    )
    page.set_viewport_size(PHONE)
    _log_in(page, "sofia", path)
    screenshot("phone" + path.rstrip("/").replace("/", "-"))
    assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]
