"""The environment pages: the list with its attention tiles, the booking board, one environment's
timeline, what runs where, and the ICS feed. Each read page keeps its query count whatever the data
size, and shows times in the user's time zone."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from portal import roles
from releases.models import Booking
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


def hours(n: float):
    return NOW + timedelta(hours=n)


@pytest.fixture
def po(client_for):
    return client_for(roles.PROJECT_OFFICE)


def approved(env, start, end, **fields):
    return f.BookingFactory(environment=env, starts_at=start, ends_at=end, approved=True, **fields)


def _data(n: int) -> None:
    """n environments, each with bookings now and ahead, deployments, a freeze of its own."""
    for i in range(n):
        env = f.EnvironmentFactory(capacity=1 + i % 3)
        app = f.ApplicationFactory()
        release = f.ReleaseFactory(application=app)
        approved(env, hours(-2), hours(3), release=release, application=app)
        f.BookingFactory(
            environment=env, starts_at=hours(24 * (i % 20) + 5), ends_at=hours(24 * (i % 20) + 9)
        )
        f.DeploymentFactory(environment=env, application=app, version="1.0", deployed_at=hours(-50))
        f.DeploymentFactory(environment=env, application=app, deployed_at=hours(-1))
        f.FreezeWindowFactory(for_environment=True, environment=env, starts_at=hours(48), ends_at=hours(60))
    f.FreezeWindowFactory(starts_at=hours(100), ends_at=hours(101), rrule="FREQ=WEEKLY;COUNT=20")
    f.FreezeWindowFactory(for_portfolio=True, starts_at=hours(24), ends_at=hours(30))  # not on the board


# Every signed-in request reads its session, its user and the role badge's groups first.
AUTH_QUERIES = ('FROM "django_session"', 'FROM "portal_user" WHERE', '"auth_group"')


def _queries(client, url: str) -> int:
    """The page's own queries (as bench/ counts them)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return sum(not any(mark in q["sql"] for mark in AUTH_QUERIES) for q in queries.captured_queries)


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("/environments/", 10),
        ("/environments/board/", 5),
        (f"/environments/board/?day={(NOW + timedelta(days=2)).date()}", 5),
        ("/environments/what-runs-where/", 5),
        ("/environments/bookings/queue/", 10),
    ],
)
def test_read_pages_keep_their_query_count_whatever_the_data_size(client_for, url, limit):
    client = client_for(roles.ENVIRONMENT_ADMIN)
    client.get(url)  # session and permission caches
    _data(2)
    few = _queries(client, url)
    _data(25)
    many = _queries(client, url)
    assert few == many <= limit


def test_the_environment_page_keeps_its_query_count(po):
    env = f.EnvironmentFactory()
    url = f"/environments/{env.pk}/"
    po.get(url)
    few = _queries(po, url)
    for i in range(20):
        approved(env, hours(24 * i), hours(24 * i + 2))
        f.DeploymentFactory(environment=env)
    assert _queries(po, url) == few


def test_the_list_shows_now_next_deployed_health_and_the_tiles(po):
    env = f.EnvironmentFactory(name="SIT-7", capacity=2, kind="uat")
    app = f.ApplicationFactory(key="CLM")
    release = f.ReleaseFactory(application=app, version="3.1")
    approved(env, hours(-2), hours(20), release=release, application=app)  # ends within 48 h
    approved(env, hours(50), hours(54), application=f.ApplicationFactory(key="PAY"))
    f.BookingFactory(environment=env, starts_at=hours(60), ends_at=hours(61))  # waiting
    f.DeploymentFactory(
        environment=env, application=app, version="3.0", status="failure", deployed_at=hours(-1)
    )
    f.EnvironmentFactory(name="DEV-IDLE")  # no booking for 14 days
    frozen_env = f.EnvironmentFactory(name="PERF")
    f.FreezeWindowFactory(starts_at=hours(100), ends_at=hours(110))
    approved(frozen_env, hours(105), hours(106))
    html = po.get("/environments/").content.decode()
    row = html.split("SIT-7", 1)[1].split("</tr>", 1)[0]
    assert "CLM 3.1" in row and "PAY" in row and "CLM 3.0" in row
    assert "health-failing" in row
    tiles = dict(zip(_tile_labels(html), map(int, _tile_numbers(html)), strict=True))
    assert tiles == {
        "requests waiting": 1,
        "bookings ending in 48 h": 1,
        "environments idle for 14 days": 2,  # DEV-IDLE and PERF (its booking is ahead)
        "bookings inside freezes": 1,
    }


def _tile_numbers(html):
    return re.findall(r'<span class="tile-number">(\d+)</span>', html)


def _tile_labels(html):
    return re.findall(r'<span class="tile-label">([^<]+)</span>', html)


def test_the_board_shows_bookings_and_freezes_by_day_in_the_users_time_zone(client_for):
    client = client_for(roles.PROJECT_OFFICE, time_zone="Pacific/Auckland")
    env = f.EnvironmentFactory(name="SIT-9")
    auckland = ZoneInfo("Pacific/Auckland")
    # Noon tomorrow in Auckland, so the two hours never straddle its midnight, whatever the time now.
    tomorrow_noon = (timezone.now().astimezone(auckland) + timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    booking = approved(
        env,
        tomorrow_noon,
        tomorrow_noon + timedelta(hours=2),
        purpose="Load <test>",
        application=f.ApplicationFactory(key="ACC"),
    )
    f.FreezeWindowFactory(
        for_environment=True, environment=env, starts_at=hours(72), ends_at=hours(74), reason="Patch & reboot"
    )
    html = client.get("/environments/board/").content.decode()
    row = html.split(">SIT-9</a>", 1)[1].split("</tr>", 1)[0]
    cells = re.split(r"<td[ >]", row)[1:]
    assert len(cells) == 28
    with_booking = [i for i, cell in enumerate(cells) if f"#booking-{booking.pk}" in cell]
    start_local = booking.starts_at.astimezone(auckland)
    today_local = timezone.now().astimezone(start_local.tzinfo).date()
    assert with_booking == [(start_local.date() - today_local).days]
    long = approved(env, hours(24 * 5), hours(24 * 7 + 1))  # three days (four in some time zones)
    cells = client.get("/environments/board/").content.decode().split(">SIT-9</a>", 1)[1].split("</tr>", 1)[0]
    assert 3 <= cells.count(f"#booking-{long.pk}") <= 4
    assert "Load &lt;test&gt;" in row and "<test>" not in row
    assert 'title="Freeze: Patch &amp; reboot"' in row  # the frozen cells are shaded, not chipped
    assert "freeze-mark" not in html
    assert '<tr class="freeze-lane">' not in html  # bands are for freezes of every environment
    assert row.count('<span class="freeze-label">Freeze: Patch &amp; reboot</span>') == 1  # named once


def test_a_global_freeze_is_one_band_across_its_days_not_a_chip_in_every_cell(po):
    for name in ("SIT-1", "SIT-2", "SIT-3"):
        f.EnvironmentFactory(name=name)
    f.FreezeWindowFactory(starts_at=hours(24 * 3), ends_at=hours(24 * 7), reason="Black Friday")
    html = po.get("/environments/board/?start=" + str(NOW.date())).content.decode()
    lanes = re.findall(r'<tr class="freeze-lane">(.*?)</tr>', html)
    assert len(lanes) == 1
    band = re.search(r'<td colspan="(\d+)" class="freeze-band"[^>]*>(.*?)</td>', lanes[0])
    assert int(band.group(1)) in (4, 5)  # the four days it spans (five when it straddles midnights)
    assert "Freeze: Black Friday (all environments)" in band.group(2)
    assert html.count(">Black Friday<") == 0 and html.count("Freeze: Black Friday (all") == 2  # label, title


def test_long_labels_are_shown_in_full(po):
    env = f.EnvironmentFactory(name="SIT-L")
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="LEDG"), version="2027.04.1-hotfix")
    approved(env, hours(30), hours(32), release=release, application=release.application)
    html = po.get("/environments/board/").content.decode()
    assert ">LEDG 2027.04.1-hotfix</a>" in html


def test_the_hour_view_shows_each_environments_bookings_by_hour(client_for):
    client = client_for(roles.RELEASE_MANAGER)  # UTC
    env = f.EnvironmentFactory(name="SIT-H")
    day = (NOW + timedelta(days=3)).date()
    start = datetime.combine(day, time(9), tzinfo=UTC)
    booking = approved(env, start, start + timedelta(hours=3), application=f.ApplicationFactory(key="HRS"))
    response = client.get(f"/environments/board/?day={day}")
    assert response.status_code == 200
    html = response.content.decode()
    row = html.split(">SIT-H</a>", 1)[1].split("</tr>", 1)[0]
    cells = re.split(r"<td[ >]", row)[1:]
    assert len(cells) == 24
    assert [i for i, cell in enumerate(cells) if f"#booking-{booking.pk}" in cell] == [9]  # named once
    assert [i for i, cell in enumerate(cells) if "chip-more" in cell] == [10, 11]  # then its bar
    # An empty hour links to the request form for that hour on that environment.
    link = re.search(r'<a class="cell-request" href="([^"]+)"', cells[13]).group(1).replace("&amp;", "&")
    assert (
        link
        == f"/environments/bookings/new/?environment={env.pk}&starts_at={day}T13%3A00&ends_at={day}T14%3A00"
    )
    form = client.get(link).content.decode()
    assert f'<option value="{env.pk}" selected>' in form
    assert f'value="{day}T13:00"' in form and f'value="{day}T14:00"' in form
    assert "This field is required" not in form  # prefilled, not submitted


def test_an_empty_day_cell_requests_the_environments_working_hours(client_for):
    client = client_for(roles.RELEASE_MANAGER)
    f.EnvironmentFactory(name="SIT-W")  # Mon-Fri 08:00-18:00
    first = (NOW + timedelta(days=7)).date()
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    html = client.get(f"/environments/board/?start={monday}&days=7").content.decode()
    cells = re.split(r"<td[ >]", html.split(">SIT-W</a>", 1)[1].split("</tr>", 1)[0])[1:]
    link = re.search(r'href="([^"]+)"', cells[0]).group(1).replace("&amp;", "&")
    assert f"starts_at={monday}T08%3A00&ends_at={monday}T18%3A00" in link
    saturday = monday + timedelta(days=5)
    assert f"starts_at={saturday}T00%3A00" in re.search(r'href="([^"]+)"', cells[5]).group(1)


def test_only_those_who_may_request_get_request_links_and_never_in_the_past(client_for, po):
    f.EnvironmentFactory(name="SIT-P")
    assert "cell-request" not in po.get("/environments/board/").content.decode()  # project office
    manager = client_for(roles.RELEASE_MANAGER)
    yesterday = (NOW - timedelta(days=1)).date()
    assert "cell-request" not in manager.get(f"/environments/board/?day={yesterday}").content.decode()
    assert "cell-request" in manager.get("/environments/board/").content.decode()


def test_the_hour_view_refuses_bad_days(po):
    for bad in ("tomorrow", "2030-02-30", "0001-01-01", "9999-12-31", "2030-01-01%00"):
        assert po.get(f"/environments/board/?day={bad}").status_code == 400, bad


def test_the_board_pages_through_time_and_refuses_bad_input(po):
    assert po.get("/environments/board/?start=2030-01-07&days=7").status_code == 200
    assert po.get("/environments/board/?start=tomorrow").status_code == 400
    assert po.get("/environments/board/?days=0").status_code == 400
    assert po.get("/environments/board/?days=x").status_code == 400


def test_what_runs_where_shows_the_latest_successful_version_and_drift(po):
    env = f.EnvironmentFactory(name="UAT-1")
    app = f.ApplicationFactory(key="PAY")
    f.DeploymentFactory(environment=env, application=app, version="4.1", deployed_at=hours(-30))
    f.DeploymentFactory(
        environment=env, application=app, version="4.3", deployed_at=hours(-2), status="failure"
    )
    approved(
        env, hours(-1), hours(5), release=f.ReleaseFactory(application=app, version="4.2"), application=app
    )
    html = po.get("/environments/what-runs-where/").content.decode()
    row = html.split('title="', 1)[1]
    assert "4.1" in row and "4.3" not in row
    assert "booked 4.2" in html
    assert "cell-drift" in html


def test_the_timeline_lists_bookings_and_freezes(po):
    env = f.EnvironmentFactory(name="SIT-3")
    booking = approved(env, hours(5), hours(8), purpose="Pen test")
    f.FreezeWindowFactory(starts_at=hours(30), ends_at=hours(40), reason="Board meeting")
    html = po.get(f"/environments/{env.pk}/").content.decode()
    assert f'id="booking-{booking.pk}"' in html
    assert "Pen test" in html and "Board meeting" in html
    assert "booking-cancel" not in html and "/cancel/" not in html  # not theirs, not an admin
    assert po.get("/environments/999999/").status_code == 404


def test_the_ics_feed_needs_the_feed_token_and_lists_the_bookings(client, user_in_role):
    env = f.EnvironmentFactory(name="SIT-4")
    booking = approved(env, hours(5), hours(8), purpose="Soak")
    f.BookingFactory(environment=env, starts_at=hours(10), ends_at=hours(12))
    token = user_in_role(roles.PROJECT_OFFICE).feed_token
    assert client.get(f"/environments/{env.pk}/bookings.ics").status_code == 404
    assert client.get(f"/environments/{env.pk}/bookings.ics?token=nope").status_code == 404
    assert client.get(f"/environments/999999/bookings.ics?token={token}").status_code == 404
    response = client.get(f"/environments/{env.pk}/bookings.ics?token={token}")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert sorted(str(e["status"]) for e in events) == ["CONFIRMED", "TENTATIVE"]
    first = next(e for e in events if str(e["uid"]).startswith(f"booking-{booking.pk}@"))
    assert first.decoded("dtstart") == booking.starts_at


def test_pages_need_a_login(client):
    for url in ("/environments/", "/environments/board/", "/environments/what-runs-where/"):
        assert client.get(url)["Location"].startswith("/login/")
    assert Booking.objects.count() == 0
