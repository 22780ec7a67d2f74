"""Slip alerts: when a release's forecast moves past its target, or an upstream slip moves it, the
owner of every affected release is told once per change, with what moved it and by how much; a
refresh that finds nothing new sends nothing; mail goes out after the commit, through the worker."""

from datetime import date, timedelta

import pytest

from releases import tasks
from releases.models import Gate, Release
from releases.notifications.services.slips import slips_claim
from releases.planning.forecast import forecast_all
from releases.planning.services.forecasting import FACT_COLUMNS, STORED, forecast_refresh, load_facts
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = date(2030, 1, 7)


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.fixture(autouse=True)
def eager(settings):
    settings.FLIGHTDECK_BASE_URL = "https://flightdeck.example.com"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # not on the app's conf, which would outlive the test


@pytest.fixture
def refresh(django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            forecast_refresh(today=TODAY)

    return run


def release(key: str, version: str, target: date, owner: str) -> Release:
    return f.ReleaseFactory(
        application=f.ApplicationFactory(key=key),
        version=version,
        target_date=target,
        owner=f.UserFactory(email=f"{owner}@example.com"),
    )


def test_a_slip_past_the_target_is_alerted_once_per_change(mailoutbox, refresh):
    pay = release("PAY", "4.2.0", day(10), "olive")
    gate = f.GateFactory(release=pay, name="Security review", due_date=day(13))
    refresh()
    assert [m.to for m in mailoutbox] == [["olive@example.com"]]
    assert mailoutbox[0].subject == "[Flightdeck] PAY 4.2.0 now forecast 2030-01-20, 3 days after its target"
    assert "PAY 4.2.0 now forecast 2030-01-20, 3 days after its target: gate “Security review” due" in (
        mailoutbox[0].body
    )
    assert f"https://flightdeck.example.com/releases/{pay.pk}/" in mailoutbox[0].body

    refresh()  # nothing changed: nothing sent
    assert len(mailoutbox) == 1

    Gate.objects.filter(pk=gate.pk).update(due_date=day(15))
    refresh()  # a later date is a new change
    assert len(mailoutbox) == 2
    assert "It was forecast 2030-01-20: 2 days later now." in mailoutbox[1].body
    refresh()
    assert len(mailoutbox) == 2


def test_an_upstream_slip_reaches_the_downstream_owners(mailoutbox, refresh):
    led = release("LED", "4.1", day(10), "lena")
    pay = release("PAY", "4.2.0", day(12), "olive")
    f.ReleaseDependencyFactory(downstream=pay, upstream=led)
    refresh()
    assert mailoutbox == []  # both on time

    f.GateFactory(release=led, name="CAB", due_date=day(16))
    refresh()
    by_owner = {m.to[0]: m for m in mailoutbox}
    assert sorted(by_owner) == ["lena@example.com", "olive@example.com"]
    pay.refresh_from_db()
    late = (pay.forecast_date - day(12)).days
    assert by_owner["olive@example.com"].subject == (
        f"[Flightdeck] PAY 4.2.0 now forecast {pay.forecast_date}, {late} days after its target"
    )
    assert "after its target: waits for LED 4.1 to ship first." in by_owner["olive@example.com"].body
    assert all(len(m.to) == 1 for m in mailoutbox)


def test_back_on_time_clears_the_alert_so_the_next_slip_is_told(mailoutbox, refresh):
    pay = release("PAY", "4.2.0", day(10), "olive")
    gate = f.GateFactory(release=pay, name="Security review", due_date=day(13))
    refresh()
    assert Release.objects.get(pk=pay.pk).slip_alerted_date == day(13)
    Gate.objects.filter(pk=gate.pk).update(due_date=day(9))
    refresh()
    assert Release.objects.get(pk=pay.pk).slip_alerted_date is None
    Gate.objects.filter(pk=gate.pk).update(due_date=day(13))
    refresh()
    assert len(mailoutbox) == 2


def test_an_alert_is_claimed_once_when_two_refreshes_overlap(django_capture_on_commit_callbacks, monkeypatch):
    """Two refreshes that read the same rows: the second finds the alert claimed and sends nothing."""
    queued = []
    monkeypatch.setattr(tasks.slip_alerts_notify_task, "delay", lambda **kw: queued.append(kw))
    pay = release("PAY", "4.2.0", day(10), "olive")
    f.GateFactory(release=pay, name="Security review", due_date=day(13))
    rows = {r["id"]: r for r in Release.objects.open().values(*FACT_COLUMNS, *STORED, "slip_alerted_date")}
    forecasts = forecast_all(load_facts(rows, today=TODAY).values(), today=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        first = slips_claim(rows, forecasts)
        second = slips_claim(rows, forecasts)
    assert [a["release_id"] for a in first] == [pay.pk] and second == []
    assert len(queued) == 1


def test_a_release_without_an_owner_is_not_a_failure(mailoutbox, refresh):
    pay = f.ReleaseFactory(target_date=day(10), owner=None)
    f.GateFactory(release=pay, due_date=day(13))
    refresh()
    assert mailoutbox == []
    assert Release.objects.get(pk=pay.pk).slip_alerted_date == day(13)
