"""axe-core (vendored in tests/browser/vendor/axe-core, MPL-2.0) on every page of the small demo, as each
role, at 1440 px and at 390 px: no serious or critical violation. A page a role may not open is checked
too (its 403 page is a page). The axe script is evaluated through the browser's debugging protocol,
which the portal's Content-Security-Policy does not govern; the pages themselves run under it. At either
width no page may scroll sideways, and no table may be cut off by a box that does not scroll: a wide
table scrolls inside its own box."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from demo.catalogue import DEMO_USERS
from releases.models import Environment, Gate, GatePolicy, Release, ReleaseTrain
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
PASSWORDS = {user["username"]: user["password"] for user in DEMO_USERS}
ROLES = ["admin", "po", "rm", "sec", "envadmin", "auditor", "cm", "gov"]
WIDTHS = (1440, 390)
PAGES = [
    "/",
    "/calendar/",
    "/calendar/?view=week",
    "/releases/",
    "/releases/new/",
    "/releases/import/",
    "/releases/views/",
    "/releases/trains/",
    "/releases/portfolios/",
    "/releases/portfolios/new/",
    "/releases/trains/new/",
    "/gates/",
    "/gates/policies/",
    "/environments/",
    "/environments/board/",
    "/environments/what-runs-where/",
    "/environments/bookings/new/",
    "/environments/bookings/queue/",
    "/integrations/",
    "/metrics/",
    "/notifications/",
    "/profile/",
    "/audit/",
    "/no-such-page/",
]
SERIOUS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  const where = (v) => v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}) ${v.help}: ${where(v)}`);
}"""
# How far the page is wider than the window, in CSS pixels (0 when it fits).
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# Tables wider than the first box around them that clips instead of scrolling.
CUT_OFF = """() => [...document.querySelectorAll("table")].filter((table) => {
  const right = table.getBoundingClientRect().right;
  for (let box = table.parentElement; box; box = box.parentElement) {
    const overflow = getComputedStyle(box).overflowX;
    if (overflow === "auto" || overflow === "scroll") return false;
    if (overflow !== "visible") return right > box.getBoundingClientRect().right + 1;
  }
  return false;
}).map((table) => table.id || table.className || "table")"""


def _pages_of_the_demo() -> list[str]:
    """The fixed pages, and one of each kind of detail page."""
    release = Release.objects.open().order_by("target_date").first()
    return [
        *PAGES,
        f"/releases/{release.pk}/",
        f"/releases/{release.pk}/notes/",
        f"/releases/{release.pk}/clone/",
        f"/releases/trains/{ReleaseTrain.objects.first().pk}/",
        f"/gates/{Gate.objects.filter(release=release).first().pk}/",
        f"/gates/policies/{GatePolicy.objects.exclude(portfolio=None).first().pk}/",
        f"/environments/{Environment.objects.first().pk}/",
    ]


@pytest.mark.parametrize("username", ROLES)
def test_no_serious_or_critical_accessibility_violation_on_any_page(browser, live_server, username):
    call_command("seed_demo", "--scale", "small", stdout=io.StringIO())
    pages = _pages_of_the_demo()
    violations, sideways = [], []
    for width in WIDTHS:
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto("/login/")
        submit_login(page, username, PASSWORDS[username])
        page.wait_for_url("**/")
        for path in pages:
            page.goto(path)
            page.evaluate(AXE)
            violations += [f"{username} {width}px {path}: {found}" for found in page.evaluate(SERIOUS)]
            if (overflow := page.evaluate(OVERFLOW)) > 0:
                sideways.append(f"{username} {width}px {path}: {overflow} px too wide")
            sideways += [f"{username} {width}px {path}: {table} cut off" for table in page.evaluate(CUT_OFF)]
        context.close()
    assert violations == []
    assert sideways == []
