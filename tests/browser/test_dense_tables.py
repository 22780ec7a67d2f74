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
