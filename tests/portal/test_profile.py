"""The profile page: who you are, your time zone, your personal calendar feed and its rotation."""

import re

import pytest
from django.test import Client

from portal import roles
from releases.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER, first_name="Rae", last_name="Manager")


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_profile_shows_name_role_time_zone_and_feed(client, user):
    response = client.get("/profile/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Rae Manager</h1>" in html
    assert "Release manager" in html
    assert '<option value="UTC" selected>UTC</option>' in html
    assert f'value="http://testserver/calendar.ics?token={user.feed_token}"' in html
    assert 'name="rotate"' in html


def test_the_name_in_the_top_bar_links_to_the_profile(client):
    html = client.get("/").content.decode()
    assert '<a class="whoami-name link-button" href="/profile/" title="Your profile">Rae Manager</a>' in html


def test_rotating_gives_a_new_token_and_records_it(client, user):
    old = user.feed_token
    response = client.post("/profile/", {"rotate": "1"})
    assert response.status_code == 302 and response["Location"] == "/profile/"
    user.refresh_from_db()
    assert user.feed_token != old
    event = AuditEvent.objects.get(action="user.feed_token_rotate")
    assert event.actor == user
    assert old not in str(event.after) and user.feed_token not in str(event.after)
    assert "new address" in client.get("/profile/").content.decode()


def test_rotating_needs_a_post(client, user):
    old = user.feed_token
    assert client.get("/profile/?rotate=1").status_code == 200
    user.refresh_from_db()
    assert user.feed_token == old


def test_rotating_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    old = user.feed_token
    assert client.post("/profile/", {"rotate": "1"}).status_code == 403
    user.refresh_from_db()
    assert user.feed_token == old
    page = client.get("/profile/")
    token = page.cookies["csrftoken"].value
    assert client.post("/profile/", {"rotate": "1", "csrfmiddlewaretoken": token}).status_code == 302
    user.refresh_from_db()
    assert user.feed_token != old


def test_time_zone_is_saved(client, user):
    response = client.post("/profile/", {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "", "<script>x</script>"])
def test_an_unknown_time_zone_is_a_form_error(client, user, value):
    response = client.post("/profile/", {"time_zone": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "<script>x</script>" not in html
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_the_time_zone_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/profile/", {"time_zone": "Europe/Berlin"}).status_code == 403
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_every_role_has_a_profile(user_in_role):
    for role in roles.ROLES:
        client = Client()
        client.force_login(user_in_role(role))
        assert client.get("/profile/").status_code == 200


def test_the_profile_needs_a_login():
    response = Client().get("/profile/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/profile/"


def test_the_time_zones_are_grouped_by_region_with_the_current_one_and_utc_first(client, user):
    user.time_zone = "Europe/Berlin"
    user.save(update_fields=["time_zone"])
    html = client.get("/profile/").content.decode()
    select = html.split('name="time_zone"', 1)[1].split("</select>", 1)[0]
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups == [
        "Current and UTC",
        "Africa",
        "America",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
        "Other",
    ]
    first = select.split("</optgroup>", 1)[0]
    assert re.findall(r'<option value="([^"]+)"', first) == ["Europe/Berlin", "UTC"]
    assert '<option value="Europe/Berlin" selected>Europe/Berlin</option>' in first
    assert '<option value="America/New_York">New York</option>' in select
    values = re.findall(r'<option value="([^"]+)"', select)
    assert len(values) == len(set(values)) > 400, "one option per zone"
    assert select.count(" selected>") == 1


def test_a_zone_from_any_group_is_saved(client, user):
    assert client.post("/profile/", {"time_zone": "America/Argentina/Buenos_Aires"}).status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "America/Argentina/Buenos_Aires"
    assert client.post("/profile/", {"time_zone": "US/Eastern"}).status_code == 302  # under Other
