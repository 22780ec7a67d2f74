"""One delivery state per release (on track, at risk, blocked, shipped, cancelled), stored by
forecast_refresh and shown alike by the release list, the calendar, the ICS feed, the home page, the
release page and the API; and "waiting for" lines that name their gate, upstream release or freeze."""

import csv
import io
import re

import pytest
from django.test import Client

from portal import roles
from portal.api_tokens import api_token_create
from releases.models import Release
from releases.planning.services.forecasting import forecast_refresh
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = f.day(0)


@pytest.fixture
def office(client_for):
    return client_for(roles.PROJECT_OFFICE)


@pytest.fixture
def api(user_in_role):
    _, secret = api_token_create(user=user_in_role(roles.SECURITY_REVIEWER), name="Jenkins")
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def releases():
    """RPT 2026.12.0 with a rejected security review, PAY 2.8.1 that needs it, WEB 1.0 on track, and
    LED 3.0 whose last build failed."""
    rpt = f.ReleaseFactory(
        application=f.ApplicationFactory(key="RPT"), version="2026.12.0", target_date=f.day(10)
    )
    review = f.GateFactory(
        release=rpt, kind="security", name="Security review", status="failed", decided_at=f.moment(1)
    )
    f.SignOffFactory(gate=review, decision="reject", comment="Unpatched CVE.")
    pay = f.ReleaseFactory(
        application=f.ApplicationFactory(key="PAY"), version="2.8.1", target_date=f.day(12)
    )
    f.ReleaseDependencyFactory(downstream=pay, upstream=rpt)
    web = f.ReleaseFactory(application=f.ApplicationFactory(key="WEB"), version="1.0", target_date=f.day(10))
    led = f.ReleaseFactory(application=f.ApplicationFactory(key="LED"), version="3.0", target_date=f.day(11))
    f.BuildFactory(application=led.application, release=led, job="ledger", number=412, result="failure")
    forecast_refresh(today=TODAY)
    return {r.application.key: Release.objects.get(pk=r.pk) for r in (rpt, pay, web, led)}


def test_stored_states(releases):
    assert {key: r.forecast_state for key, r in releases.items()} == {
        "RPT": "blocked",
        "PAY": "blocked",
        "WEB": "on_track",
        "LED": "blocked",
    }
    assert releases["LED"].forecast_blocked_reason == "build ledger #412 failed"
    assert (
        releases["PAY"].forecast_blocked_reason
        == "upstream RPT 2026.12.0 is blocked (Security review rejected)"
    )


def _list_states(html: str) -> dict[str, str]:
    rows = re.findall(r'<abbr title="[^"]*">(\w+)</abbr>.*?<td class="col-at_risk">(.*?)</td>', html, re.S)
    return {key: re.sub(r"<[^>]+>", "", cell).split("  ")[0].strip() for key, cell in rows}


def test_list_calendar_feed_api_and_page_show_the_same_state(releases, office, api):
    listed = office.get("/releases/").content.decode()
    states = _list_states(listed)
    assert states["RPT"].startswith("Blocked") and "Security review rejected" in states["RPT"]
    assert states["LED"].startswith("Blocked") and "build ledger #412 failed" in states["LED"]
    assert states["WEB"] == ""

    grid = office.get("/calendar/?month=2030-01").content.decode()
    for key in ("RPT", "PAY", "LED"):
        item = re.search(rf'cal-key">{key}</span>.*?</li>', grid, re.S).group(0)
        assert "badge-blocked" in item and ">blocked</span>" in item, key
    web = re.search(r'cal-key">WEB</span>.*?</li>', grid, re.S).group(0)
    assert "badge" not in web

    for key, release in releases.items():
        body = api.get(f"/api/releases/{release.pk}/gates").json()["release"]
        assert body["delivery_state"] == release.delivery_state.value, key
        assert body["at_risk"] == (key != "WEB")

    page = office.get(f"/releases/{releases['RPT'].pk}/").content.decode()
    assert (
        '<span class="badge badge-alert badge-blocked" title="Security review rejected">Blocked</span>'
        in page
    )
    assert "Blocked: Security review rejected" in page


def test_the_home_page_counts_the_same_states_and_links_to_them(releases, office):
    at_risk = f.ReleaseFactory(target_date=f.day(3))
    f.GateFactory(release=at_risk, due_date=f.day(-3))  # overdue: at risk
    forecast_refresh(today=TODAY)

    html = office.get("/").content.decode()
    tiles = {
        label.strip(): number
        for number, label in re.findall(
            r'<span class="tile-number">([^<]+)</span>\s*<span class="tile-label">([^<·]+)', html
        )
    }
    assert tiles["releases blocked"] == "3"
    assert tiles["releases at risk"] == "1"
    blocked = office.get("/releases/?state=blocked&when=").content.decode()
    assert sorted(_list_states(blocked)) == ["LED", "PAY", "RPT"]


def test_a_release_cancelled_since_the_last_refresh_shows_cancelled_everywhere(releases, office, api):
    rpt = releases["RPT"]
    Release.objects.filter(pk=rpt.pk).update(status="cancelled")  # stored state still "blocked"
    assert api.get(f"/api/releases/{rpt.pk}/gates").json()["release"]["delivery_state"] == "cancelled"
    assert _list_states(office.get("/releases/?when=").content.decode())["RPT"] == ""
    assert "RPT" not in _list_states(office.get("/releases/?state=blocked&when=").content.decode())


def test_the_csv_export_and_the_feed_carry_the_state(releases, office, user_in_role):
    export = office.get("/releases/export.csv?when=")
    rows = {
        row["Application"]: row
        for row in csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    }
    assert rows["RPT"]["State"] == "Blocked" and rows["RPT"]["Blocked by"] == "Security review rejected"
    assert rows["WEB"]["State"] == "On track"


def test_waiting_for_lines_name_the_gate_the_upstream_and_the_freeze(office, api):
    led = f.ReleaseFactory(application=f.ApplicationFactory(key="LED"), version="4.1", target_date=f.day(20))
    pay = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="2.8.1", target_date=f.day(5))
    f.ReleaseDependencyFactory(downstream=pay, upstream=led)
    f.GateFactory(release=pay, name="CAB approval", due_date=f.day(-2))  # overdue
    f.FreezeWindowFactory(
        starts_at=f.moment(24 * 21 - 9), ends_at=f.moment(24 * 23 - 9), reason="Quarter-end close"
    )
    forecast_refresh(today=TODAY)

    body = api.get(f"/api/releases/{pay.pk}/gates").json()["release"]
    texts = [line["text"] for line in body["waiting_for"]]
    assert texts == [
        f"Freeze window “Quarter-end close” ({f.day(21).isoformat()} to {f.day(22).isoformat()})",
        "Waits for LED 4.1 to ship first",
        f"Gate “CAB approval” overdue since {f.day(-2).isoformat()}",
    ]
    upstream_line = body["waiting_for"][1]
    assert (upstream_line["name"], upstream_line["release"]) == ("LED 4.1", led.pk)

    page = office.get(f"/releases/{pay.pk}/").content.decode()
    forecast = page[page.index('id="release-forecast"') :]
    assert f'Waits for <a href="/releases/{led.pk}/">LED 4.1</a> to ship first' in forecast
    assert "Gate “CAB approval” overdue since" in forecast
    assert "Freeze window “Quarter-end close”" in forecast
    assert "A gate not yet passed" not in forecast and f"release #{led.pk}" not in forecast


def test_can_deploy_notes_a_blocked_forecast_by_name(releases, api):
    f.EnvironmentFactory(name="prod", kind="prod")
    body = api.get("/api/can-deploy", {"application": "LED", "version": "3.0", "environment": "prod"}).json()
    assert body["notes"] == ["The forecast says it is blocked: build ledger #412 failed."]


def test_a_rejection_refreshes_the_forecast_after_the_commit(monkeypatch, django_capture_on_commit_callbacks):
    from releases import tasks
    from releases.gates.services.signoffs import gate_sign, gate_state_hash, signoff_meaning

    monkeypatch.setattr(tasks.gate_decided_notify_task, "delay", lambda **kwargs: None)
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: forecast_refresh(today=TODAY))
    signer = f.UserFactory(password="pw")
    signer.groups.add(*f.GroupFactory._meta.model.objects.filter(name=roles.SECURITY_REVIEWER))
    release = f.ReleaseFactory(target_date=f.day(10))
    gate = f.GateFactory(
        release=release, kind="security", name="Security review", signer_group=signer.groups.first()
    )
    gate = type(gate).objects.select_related("release__application").get(pk=gate.pk)
    with django_capture_on_commit_callbacks(execute=True):
        gate_sign(
            gate=gate,
            by=signer,
            decision="reject",
            meaning=signoff_meaning(gate, "reject"),
            comment="Unpatched CVE.",
            password="pw",
            state_hash=gate_state_hash(gate),
        )
    release.refresh_from_db()
    assert (release.forecast_state, release.forecast_blocked_reason) == (
        "blocked",
        "Security review rejected",
    )
