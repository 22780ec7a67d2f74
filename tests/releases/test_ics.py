"""The ICS feed: valid RFC 5545 read back by icalendar, stable UIDs, freezes, filters, token only."""

from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from portal import roles
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(user_in_role):
    return user_in_role(roles.PROJECT_OFFICE)


def today():
    return timezone.localdate()


def feed(token: str, query: str = "") -> Calendar:
    """The feed as an anonymous calendar app fetches it, parsed back."""
    response = Client().get(f"/calendar.ics?token={token}{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="flightdeck-releases.ics"'
    return Calendar.from_ical(response.content)


def events(calendar: Calendar, category: str | None = None) -> dict[str, object]:
    found = {}
    for event in calendar.walk("VEVENT"):
        if category is None or category in [str(c) for c in event.get("categories").cats]:
            found[str(event["uid"])] = event
    return found


def test_one_event_per_release_on_its_target_day(owner, settings):
    settings.INSTANCE_NAME = "acme"
    day = today() + timedelta(days=10)
    release = f.ReleaseFactory(
        application__key="PAY",
        application__name="Payments",
        version="2.4.0",
        target_date=day,
        summary="Faster",
    )
    calendar = feed(owner.feed_token)
    assert str(calendar["version"]) == "2.0" and "Flightdeck" in str(calendar["prodid"])
    event = events(calendar)[f"release-{release.pk}@acme"]
    assert str(event["summary"]) == "PAY 2.4.0"
    assert event.decoded("dtstart") == day and event.decoded("dtend") == day + timedelta(days=1)
    assert str(event["url"]) == f"http://testserver/releases/{release.pk}/"
    description = str(event["description"])
    assert "Payments 2.4.0" in description and "Status: Planned" in description and "Faster" in description
    assert isinstance(event.decoded("dtstamp"), datetime)


def test_uids_and_stamps_are_stable_across_requests(owner):
    for n in range(3):
        f.ReleaseFactory(target_date=today() + timedelta(days=n))
    first, second = feed(owner.feed_token), feed(owner.feed_token)
    assert len(events(first)) == 3
    assert first.to_ical() == second.to_ical()


def test_forecast_and_risk_are_in_the_description(owner):
    day = today() + timedelta(days=5)
    release = f.ReleaseFactory(
        target_date=day, forecast_date=day + timedelta(days=9), forecast_slip_days=9, at_risk=True
    )
    event = next(iter(events(feed(owner.feed_token), "At risk").values()))
    assert str(event["uid"]).startswith(f"release-{release.pk}@")
    assert f"Forecast: {day + timedelta(days=9):%Y-%m-%d} (9 days late)" in str(event["description"])


def test_the_odds_are_in_the_description(owner):
    day = today() + timedelta(days=5)
    f.ReleaseFactory(
        target_date=day,
        forecast_on_time=0.004,
        forecast_p50=day + timedelta(days=3),
        forecast_p85=day + timedelta(days=6),
        forecast_p95=day + timedelta(days=8),
    )
    description = str(next(iter(events(feed(owner.feed_token)).values()))["description"])
    p50, p85, p95 = (day + timedelta(days=n) for n in (3, 6, 8))
    assert (
        f"Odds: < 1% by the target; P50 {p50:%Y-%m-%d}, P85 {p85:%Y-%m-%d}, P95 {p95:%Y-%m-%d}" in description
    )


def test_freeze_windows_are_their_own_events(owner):
    start = timezone.make_aware(datetime.combine(today() + timedelta(days=3), time(9)))
    f.FreezeWindowFactory(starts_at=start, ends_at=start + timedelta(days=2), reason="Quarter close")
    f.FreezeWindowFactory(
        starts_at=start, ends_at=start + timedelta(hours=4), reason="Weekly", rrule="FREQ=WEEKLY;COUNT=3"
    )
    freezes = events(feed(owner.feed_token), "Freeze")
    summaries = sorted(str(e["summary"]) for e in freezes.values())
    assert summaries == ["Freeze: Quarter close", "Freeze: Weekly", "Freeze: Weekly", "Freeze: Weekly"]
    close = next(e for e in freezes.values() if "Quarter" in str(e["summary"]))
    assert close.decoded("dtstart") == today() + timedelta(days=3)
    assert close.decoded("dtend") == today() + timedelta(days=6)  # the third day is partly frozen
    assert len(set(freezes)) == 4  # each occurrence has its own UID


def test_filters_apply_to_the_feed(owner):
    portfolio = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=portfolio)
    day = today() + timedelta(days=2)
    mine = f.ReleaseFactory(application__portfolio=programme, target_date=day, at_risk=True)
    f.ReleaseFactory(application__portfolio=programme, target_date=day)
    f.ReleaseFactory(target_date=day, at_risk=True)
    calendar = feed(owner.feed_token, f"&portfolio={portfolio.pk}&at_risk=true")
    assert [uid.split("@")[0] for uid in events(calendar, "At risk")] == [f"release-{mine.pk}"]
    assert len(events(calendar)) == 1


def test_the_feed_covers_three_months_back_to_a_year_ahead(owner):
    for days in (-200, -80, 0, 300, 400):
        f.ReleaseFactory(target_date=today() + timedelta(days=days), application__key=f"D{days + 1000}")
    summaries = sorted(str(e["summary"]).split()[0] for e in events(feed(owner.feed_token)).values())
    assert summaries == ["D1000", "D1300", "D920"]


def test_markup_stays_text_in_the_feed(owner):
    f.ReleaseFactory(version="<script>x</script>", target_date=today())
    event = next(iter(events(feed(owner.feed_token)).values()))
    assert str(event["summary"]).endswith("<script>x</script>")  # plain text in a text property


@pytest.mark.parametrize("query", ["", "?token=", "?token=not-a-token"])
def test_a_missing_or_unknown_token_is_a_404(query):
    assert Client().get(f"/calendar.ics{query}").status_code == 404


def test_a_rotated_token_is_a_404(owner):
    old = owner.feed_token
    client = Client()
    client.force_login(owner)
    assert client.post("/profile/", {"rotate": "1"}).status_code == 302
    owner.refresh_from_db()
    assert Client().get(f"/calendar.ics?token={old}").status_code == 404
    assert Client().get(f"/calendar.ics?token={owner.feed_token}").status_code == 200


def test_a_deactivated_user_has_no_feed(owner):
    owner.is_active = False
    owner.save()
    assert Client().get(f"/calendar.ics?token={owner.feed_token}").status_code == 404


def test_every_user_has_a_different_token(user_in_role):
    tokens = {user_in_role(roles.AUDITOR).feed_token for _ in range(5)}
    assert len(tokens) == 5 and all(len(token) >= 40 for token in tokens)


def test_the_feed_takes_get_only(owner):
    assert Client().post(f"/calendar.ics?token={owner.feed_token}").status_code in {403, 405}


def test_a_huge_feed_keeps_the_releases_nearest_to_today_and_says_so(owner, monkeypatch):
    monkeypatch.setattr("releases.planning.views.calendar.FEED_MAX_RELEASES", 3)
    for days in (-60, -1, 0, 5, 40, 200):
        f.ReleaseFactory(target_date=today() + timedelta(days=days), application__key=f"D{days + 1000}")
    calendar = feed(owner.feed_token)
    summaries = sorted(str(e["summary"]).split()[0] for e in events(calendar).values())
    assert summaries == ["D1000", "D1005", "D1040"]
    assert "filter it" in str(calendar["x-wr-caldesc"])
    assert "x-wr-caldesc" not in feed(owner.feed_token, "&at_risk=true")
