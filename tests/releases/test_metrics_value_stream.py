"""The value stream against a hand-checked set: items roll up to their epic, epics to their initiative;
only work shipped in the period counts; days from the first work to production."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from portal import roles
from releases.metrics.dora import Period, Scope
from releases.metrics.value_stream import NO_INITIATIVE, epic_flows, initiative_flows
from tests import factories as f

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=28))


def day(n: int):
    return (START + timedelta(days=n)).date()


@pytest.fixture
def stream():
    """PAY-1 (customer-experience) has three items: two shipped in 4.2 on day 10, one still planned.
    PAY-2 (no label) has one item shipped on day 40, after the period. WEB-1 (customer-experience)
    has one item shipped on day 5."""
    pay, web = f.ApplicationFactory(key="PAY"), f.ApplicationFactory(key="WEB")
    f.WorkItemFactory(
        application=pay, key="PAY-1", type="epic", title="Instant refunds", labels="customer-experience q1"
    )
    f.WorkItemFactory(application=pay, key="PAY-2", type="epic", title="Ledger split")
    f.WorkItemFactory(
        application=web, key="WEB-1", type="epic", title="New overview", labels="customer-experience"
    )
    shipped = f.ReleaseFactory(application=pay, status="released", target_date=day(10), actual_date=day(10))
    later = f.ReleaseFactory(application=pay, status="released", target_date=day(40), actual_date=day(40))
    planned = f.ReleaseFactory(application=pay, target_date=day(50))
    web_release = f.ReleaseFactory(application=web, status="released", target_date=day(5), actual_date=day(5))
    for release, parent, created in [
        (shipped, "PAY-1", -20),
        (shipped, "PAY-1", -5),
        (planned, "PAY-1", 0),
        (later, "PAY-2", 1),
        (web_release, "WEB-1", -3),
    ]:
        item = f.WorkItemFactory(
            application=release.application, parent_key=parent, created_at=START + timedelta(days=created)
        )
        item.fix_releases.add(release)
    return {"pay": pay}


def test_epics_with_work_shipped_in_the_period(stream):
    flows = {flow.name: flow for flow in epic_flows(Scope(), PERIOD)}
    assert set(flows) == {"PAY-1", "WEB-1"}
    pay = flows["PAY-1"]
    assert (pay.title, pay.initiative, pay.items, pay.shipped) == (
        "Instant refunds",
        "customer-experience",
        3,
        2,
    )
    assert (pay.last_shipped, pay.days_to_production) == (day(10), 30)
    assert [flow.name for flow in epic_flows(Scope(), PERIOD)] == ["PAY-1", "WEB-1"]  # latest shipped first
    assert [flow.name for flow in epic_flows(Scope(application_id=stream["pay"].pk), PERIOD)] == ["PAY-1"]


def test_initiatives_add_up_their_epics(stream):
    (initiative,) = initiative_flows(epic_flows(Scope(), PERIOD))
    assert (initiative.name, initiative.epics, initiative.items, initiative.shipped) == (
        "customer-experience",
        2,
        4,
        3,
    )
    assert (
        initiative.days_to_production == 30
    )  # from PAY's first work (day -20) to the last shipping (day 10)


def test_an_epic_without_a_label_and_an_item_whose_epic_is_unknown():
    release = f.ReleaseFactory(status="released", target_date=day(3), actual_date=day(3))
    item = f.WorkItemFactory(application=release.application, parent_key="GONE-1", created_at=START)
    item.fix_releases.add(release)
    (flow,) = epic_flows(Scope(), PERIOD)
    assert (flow.name, flow.title, flow.initiative) == ("GONE-1", "GONE-1", NO_INITIATIVE)


def test_the_page_and_csv_show_the_value_stream(stream, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    client = client_for(roles.PROJECT_OFFICE)
    html = client.get("/metrics/").content.decode()
    assert 'id="initiatives-table"' in html and "PAY-1 · Instant refunds" in html
    rows = list(
        csv.reader(io.StringIO(b"".join(client.get("/metrics/epics.csv").streaming_content).decode()))
    )
    assert rows[0][0] == "Epic" and [row[0] for row in rows[1:]] == ["PAY-1", "WEB-1"]
