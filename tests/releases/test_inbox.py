"""The in-app inbox: every notice is kept per person; the header shows the unread count (one query);
/notifications/ lists one's own, newest first; mark one or all read (POST, CSRF); another person's
notice is a 404; a constant number of queries whatever the inbox holds."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.models import Notification
from releases.notifications.services.delivery import Kind, Notice, deliver
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER, email="rae@example.com")


@pytest.fixture
def client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf(client) -> str:
    client.get("/notifications/")
    return client.cookies["csrftoken"].value


def _notify(user, n: int, subject="PAY 4.2.0 slipped") -> list[Notification]:
    deliver([Notice(user.pk, user.email, Kind.SLIP, f"{subject} #{i}", "In words.\n") for i in range(n)])
    return list(Notification.objects.filter(user=user))


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_header_shows_the_unread_count(client, user, mailoutbox):
    html = client.get("/profile/").content.decode()
    assert 'href="/notifications/"' in html and "badge-unread" not in html
    _notify(user, 3)
    html = client.get("/profile/").content.decode()
    assert '<span class="badge badge-unread" aria-label="3 unread">3</span>' in html
    assert len(mailoutbox) == 3  # kept in the inbox and e-mailed at once (the default)


def test_the_header_count_is_one_query_whatever_the_inbox_holds(client, user):
    _notify(user, 1)
    few = _queries(client, "/profile/")
    _notify(user, 40)
    assert _queries(client, "/profile/") == few
    Notification.objects.all().delete()
    assert _queries(client, "/profile/") == few


def test_the_inbox_lists_ones_own_newest_first_escaped(client, user):
    _notify(user, 2, subject="<script>alert(1)</script>")
    other = f.UserFactory(email="other@example.com")
    _notify(other, 1, subject="Not yours")
    html = client.get("/notifications/").content.decode()
    assert "Not yours" not in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; #1" in html
    assert html.index("#1") < html.index("#0")
    assert "2 unread" in html


def test_the_inbox_reads_a_constant_number_of_queries(client, user):
    _notify(user, 2)
    few = _queries(client, "/notifications/")
    _notify(user, 60)
    assert _queries(client, "/notifications/") == few
    assert _queries(client, "/notifications/?unread=1&page=2") == few


def test_marking_one_read(client, user):
    first, second = _notify(user, 2)
    token = _csrf(client)
    response = client.post(f"/notifications/{first.pk}/read/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None
    stamp = first.read_at
    client.post(f"/notifications/{first.pk}/read/", HTTP_X_CSRFTOKEN=token)
    first.refresh_from_db()
    assert first.read_at == stamp  # read once


def test_htmx_gets_the_list_back(client, user):
    (notification,) = _notify(user, 1)
    token = _csrf(client)
    response = client.post(
        f"/notifications/{notification.pk}/read/",
        HTTP_X_CSRFTOKEN=token,
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="inbox",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="inbox"') and "0 unread" in html


def test_marking_all_read_touches_only_ones_own(client, user):
    _notify(user, 3)
    other = f.UserFactory(email="other@example.com")
    _notify(other, 2)
    token = _csrf(client)
    assert client.post("/notifications/read/", HTTP_X_CSRFTOKEN=token).status_code == 302
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=other, read_at__isnull=True).count() == 2


def test_another_persons_notice_is_not_found(client, user):
    other = f.UserFactory(email="other@example.com")
    (theirs,) = _notify(other, 1)
    token = _csrf(client)
    assert client.post(f"/notifications/{theirs.pk}/read/", HTTP_X_CSRFTOKEN=token).status_code == 404
    assert client.post("/notifications/99999999999999999999/read/", HTTP_X_CSRFTOKEN=token).status_code in {
        400,
        404,
    }
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_writes_need_csrf_a_post_and_a_signed_in_user(client, user):
    (notification,) = _notify(user, 1)
    assert client.post(f"/notifications/{notification.pk}/read/").status_code == 403
    assert client.post("/notifications/read/").status_code == 403
    assert client.get("/notifications/read/").status_code == 405
    assert Client().get("/notifications/").status_code == 302
    assert Client().post("/notifications/read/").status_code in {302, 403}
    notification.refresh_from_db()
    assert notification.read_at is None
