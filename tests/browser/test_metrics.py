"""The project office opens Metrics on the demo: the DORA figures say what they rest on, the weekly chart
shows, and its table view holds the same numbers as the chart's bars."""

import io
import re

import pytest
from django.core.management import call_command

from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_metrics_chart_and_its_table_agree(page, screenshot):
    call_command("seed_demo", "--scale", "small", stdout=io.StringIO())
    page.goto("/metrics/?days=90")
    submit_login(page, "po", "flightdeck-po")
    assert page.locator("h1").inner_text() == "Metrics"
    failures = page.locator("#failure-title + .value + .universe").inner_text()
    assert re.fullmatch(r"\d+ failures? in \d+ deployments?", failures), failures
    chart = page.get_by_role("img", name="Production deployments per week")
    assert chart.is_visible()
    bars = chart.locator("rect title").all_text_contents()
    assert bars, "the demo deploys to production in the last 90 days"
    page.get_by_text("Table view").first.click()
    table = page.locator("#weekly-table tbody tr")
    shown = {}
    for row in table.all():
        cells = [cell.strip() for cell in row.locator("th, td").all_text_contents()]
        shown[cells[0]] = (int(cells[1]), int(cells[2]))
    for title in bars:  # "Week of 05 Oct 2026: 12 successful, 1 failed"
        week, successes, failed = re.match(
            r"Week of (\d+ \w+ \d+): (\d+) successful, (\d+) failed", title
        ).groups()
        day, month, year = week.split()
        assert shown.get(f"{int(day)} {month} {year}") == (int(successes), int(failed)), (title, shown)
    screenshot("metrics")
