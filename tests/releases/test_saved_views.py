"""Saved views: a filtered calendar or release list kept under a name, shared with groups, each with
its own ICS feed token (rotated or revoked without touching the other feeds or the personal one)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from portal import roles
from releases.errors import Conflict, DomainError, NotFound
from releases.models import AuditEvent, SavedView
from releases.planning.services import saved_views as services
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def po(user_in_role):
    return user_in_role(roles.PROJECT_OFFICE)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create(owner, name="Payments at risk", page="calendar", query="at_risk=true", **kwargs):
    return services.saved_view_create(owner=owner, name=name, page=page, query=query, **kwargs)


def feed_path(token: str) -> str:
    return f"/calendar/views/{token}.ics"


def vevents(content: bytes) -> list[str]:
    """The feed's events, each as its own iCalendar text (the calendar's name aside)."""
    return sorted(event.to_ical().decode() for event in Calendar.from_ical(content).walk("VEVENT"))


# --- services ---------------------------------------------------------------------------------------


def test_create_keeps_only_the_filters_in_a_fixed_order_and_audits(po):
    portfolio = f.PortfolioFactory()
    view, token = create(
        po, query=f"month=2030-01&status=ready&at_risk=true&status=planned&portfolio={portfolio.pk}&q=&page=3"
    )
    assert view.query == f"portfolio={portfolio.pk}&status=planned&status=ready&at_risk=true"
    assert view.feed_token_hash == services.token_hash(token) and token not in view.feed_token_hash
    event = AuditEvent.objects.get(action="savedview.create")
    assert event.object_id == str(view.pk)
    assert token not in str(event.after) and view.feed_token_hash not in str(event.after)


def test_values_that_filter_nothing_are_dropped(po):
    view, _ = create(po, query="at_risk=maybe&q=%20%20&when=past")
    assert view.query == "when=past"


def test_names_are_unique_per_owner(po, user_in_role):
    create(po, name="Mine")
    with pytest.raises(Conflict, match="already have a view called"):
        create(po, name="  Mine ")
    create(user_in_role(roles.PROJECT_OFFICE), name="Mine")  # another owner may use it
    assert SavedView.objects.filter(name="Mine").count() == 2


def test_the_database_refuses_a_duplicate_name_or_a_bad_page(po):
    create(po, name="Mine")
    for bad in ({"name": "Mine"}, {"name": "x", "page": "gantt"}, {"name": ""}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SavedView.objects.create(owner=po, page=bad.pop("page", "list"), feed_token_hash="a" * 64, **bad)


@pytest.mark.parametrize(
    "query",
    ["portfolio=999999", "status=shipped", "q=a%00b", "gate_state=nope", "x=" + "y" * 5000],
)
def test_bad_filters_are_refused(po, query):
    with pytest.raises(DomainError) as refused:
        create(po, query=query)
    assert refused.value.field == "query"
    assert not SavedView.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "a\x00b"])
def test_bad_names_are_refused(po, name):
    with pytest.raises(DomainError) as refused:
        create(po, name=name)
    assert refused.value.field == "name"


def test_sharing_only_with_ones_own_groups_unless_admin(po, user_in_role):
    office = Group.objects.get(name=roles.PROJECT_OFFICE)
    auditors = Group.objects.get(name=roles.AUDITOR)
    view, _ = create(po, shared_with=[office])
    assert list(view.shared_with.all()) == [office]
    with pytest.raises(DomainError, match="only with groups you belong to, not with Auditor"):
        services.saved_view_update(view=view, by=po, shared_with=[auditors])
    admin = user_in_role(roles.ADMIN)
    admin_view, _ = create(admin, shared_with=[auditors, office])
    assert set(admin_view.shared_with.all()) == {auditors, office}


def test_rename_and_share_are_audited_and_only_by_the_owner(po, user_in_role):
    office = Group.objects.get(name=roles.PROJECT_OFFICE)
    view, _ = create(po)
    services.saved_view_update(view=view, by=po, name="Renamed", shared_with=[office])
    view.refresh_from_db()
    assert view.name == "Renamed" and list(view.shared_with.all()) == [office]
    event = AuditEvent.objects.get(action="savedview.update")
    assert event.before["name"] == "Payments at risk" and event.after["shared_with"] == [office.pk]
    with pytest.raises(NotFound):
        services.saved_view_update(view=view, by=user_in_role(roles.PROJECT_OFFICE), name="Theirs")
    create(po, name="Other")
    with pytest.raises(Conflict):
        services.saved_view_update(view=view, by=po, name="Other")


def test_rotate_kills_the_old_token(po):
    view, old = create(po)
    assert Client().get(feed_path(old)).status_code == 200
    view, new = services.saved_view_feed_rotate(view=view, by=po)
    assert new != old
    assert Client().get(feed_path(old)).status_code == 404
    assert Client().get(feed_path(new)).status_code == 200
    assert AuditEvent.objects.filter(action="savedview.feed_rotate").count() == 1


def test_revoking_one_feed_keeps_the_others_and_the_personal_feed(po):
    one, one_token = create(po, name="One")
    _, two_token = create(po, name="Two", query="status=planned")
    personal = po.feed_token
    services.saved_view_feed_revoke(view=one, by=po)
    services.saved_view_feed_revoke(view=one, by=po)  # twice changes nothing
    assert AuditEvent.objects.filter(action="savedview.feed_revoke").count() == 1
    assert Client().get(feed_path(one_token)).status_code == 404
    assert Client().get(feed_path(two_token)).status_code == 200
    po.refresh_from_db()
    assert po.feed_token == personal
    assert Client().get(f"/calendar.ics?token={personal}").status_code == 200
    _, back = services.saved_view_feed_rotate(view=one, by=po)  # a revoked feed comes back at a new address
    assert Client().get(feed_path(back)).status_code == 200


def test_delete_ends_the_feed(po):
    view, token = create(po)
    services.saved_view_delete(view=view, by=po)
    assert not SavedView.objects.exists()
    assert Client().get(feed_path(token)).status_code == 404
    assert AuditEvent.objects.get(action="savedview.delete").before["name"] == "Payments at risk"


# --- the feed ---------------------------------------------------------------------------------------


def test_the_feed_equals_the_filtered_personal_feed(po):
    day = timezone.localdate() + timedelta(days=3)
    portfolio = f.PortfolioFactory()
    f.ReleaseFactory(application__portfolio=portfolio, target_date=day, at_risk=True)
    f.ReleaseFactory(application__portfolio=portfolio, target_date=day)
    f.ReleaseFactory(target_date=day, at_risk=True)
    query = f"portfolio={portfolio.pk}&at_risk=true"
    _, token = create(po, query=query)
    saved = Client().get(feed_path(token))
    personal = Client().get(f"/calendar.ics?token={po.feed_token}&{query}")
    assert saved["Content-Type"] == "text/calendar; charset=utf-8"
    assert len(vevents(saved.content)) == 1
    assert vevents(saved.content) == vevents(personal.content)
    assert "Flightdeck: Payments at risk" in saved.content.decode()


@pytest.mark.parametrize("token", ["nope", "", "x" * 500])
def test_unknown_tokens_are_404(db, token):
    assert Client().get(feed_path(token)).status_code == 404


def test_a_nul_byte_in_the_token_is_refused_at_the_edge(db):
    assert Client().get(feed_path("a%00b")).status_code == 400


def test_the_feed_of_an_inactive_owner_is_404(po):
    _, token = create(po)
    po.is_active = False
    po.save()
    assert Client().get(feed_path(token)).status_code == 404


# --- pages ------------------------------------------------------------------------------------------


def test_save_this_view_from_the_calendar_with_htmx(po):
    client = logged_in(po)
    page = client.get("/calendar/?month=2030-01&at_risk=true").content.decode()
    assert 'id="saved-views-nav"' in page and 'name="query" value="month=2030-01&amp;at_risk=true"' in page
    response = client.post(
        "/releases/views/new/",
        {"name": "Risky", "page": "calendar", "query": "month=2030-01&at_risk=true"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    view = SavedView.objects.get()
    assert view.query == "at_risk=true" and view.page == "calendar"
    assert 'href="/calendar/?at_risk=true"' in html
    feed_url = re.search(r'value="(http://testserver/calendar/views/[^"]+\.ics)"', html).group(1)
    assert Client().get(feed_url).status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_htmx_save_prefers_the_filter_form_sent_along(po):
    client = logged_in(po)
    response = client.post(
        "/releases/views/new/",
        {
            "name": "Now",
            "page": "list",
            "query": "status=ready",
            "status": ["planned"],
            "q": "",
            "when": "upcoming",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert SavedView.objects.get().query == "status=planned&when=upcoming"


def test_plain_post_shows_the_feed_address_once_on_the_saved_views_page(po):
    client = logged_in(po)
    response = client.post(
        "/releases/views/new/", {"name": "Plain", "page": "list", "query": "status=planned"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "shown only this once" in html and "/calendar/views/" in html
    again = client.get("/releases/views/").content.decode()
    assert "Plain" in again and "/calendar/views/" not in again  # the secret is not shown again


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "page": "list"},
        {"name": "x" * 1_000_000, "page": "list"},
        {"name": "a\x00b", "page": "list"},
        {"name": "ok", "page": "gantt"},
        {"name": "ok", "page": "list", "query": "portfolio=999999"},
        {"name": "ok", "page": "list", "query": "q=a%00b"},
        {"name": "ok", "page": "list", "query": "x" * 1_000_000},
        {"name": "ok", "page": "list", "portfolio": "nope"},
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_a_form_error_never_a_500(po, data, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = logged_in(po).post("/releases/views/new/", data, **headers)
    if "\x00" in data["name"]:
        assert response.status_code == 400  # the edge refuses a NUL byte in any parameter
    else:
        assert response.status_code == 422
        assert 'role="alert"' in response.content.decode()
    assert not SavedView.objects.exists()


def test_a_taken_name_is_a_form_error(po):
    create(po, name="Mine")
    response = logged_in(po).post(
        "/releases/views/new/", {"name": "Mine", "page": "list"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422 and "already have a view called" in response.content.decode()


def test_csrf_is_required(po):
    view, _ = create(po)
    client = Client(enforce_csrf_checks=True)
    client.force_login(po)
    urls = [
        "/releases/views/new/",
        f"/releases/views/{view.pk}/edit/",
        f"/releases/views/{view.pk}/delete/",
        f"/releases/views/{view.pk}/feed/rotate/",
        f"/releases/views/{view.pk}/feed/revoke/",
    ]
    for url in urls:
        assert client.post(url, {"name": "x", "page": "list"}).status_code == 403
    assert SavedView.objects.get().name == "Payments at risk" and SavedView.objects.get().feed_live


def test_others_cannot_see_edit_or_delete_a_view(po, user_in_role):
    view, token = create(po)
    stranger = logged_in(user_in_role(roles.AUDITOR))
    assert stranger.get(f"/releases/views/{view.pk}/").status_code == 404
    assert "Payments at risk" not in stranger.get("/releases/views/").content.decode()
    assert "Payments at risk" not in stranger.get("/calendar/").content.decode()
    for action in ("edit", "delete", "feed/rotate", "feed/revoke"):
        assert stranger.post(f"/releases/views/{view.pk}/{action}/", {"name": "Mine now"}).status_code == 404
    view.refresh_from_db()
    assert view.name == "Payments at risk" and view.feed_live
    assert Client().get(feed_path(token)).status_code == 200


def test_a_shared_view_is_seen_by_the_group_and_lost_when_leaving_it(po, user_in_role):
    office = Group.objects.get(name=roles.PROJECT_OFFICE)
    view, _ = create(po, shared_with=[office])
    colleague = user_in_role(roles.PROJECT_OFFICE)
    client = logged_in(colleague)
    page = client.get("/releases/views/").content.decode()
    assert (
        "Payments at risk" in page and f"/calendar.ics?token={colleague.feed_token}&amp;at_risk=true" in page
    )
    assert client.get(f"/releases/views/{view.pk}/")["Location"] == "/calendar/?at_risk=true"
    assert "Payments at risk" in client.get("/calendar/").content.decode()
    # a member may open it, never change it
    assert client.post(f"/releases/views/{view.pk}/delete/").status_code == 404
    colleague.groups.remove(office)
    assert client.get(f"/releases/views/{view.pk}/").status_code == 404
    assert "Payments at risk" not in client.get("/releases/views/").content.decode()


def test_the_owner_renames_shares_rotates_revokes_and_deletes_from_the_page(po):
    office = Group.objects.get(name=roles.PROJECT_OFFICE)
    view, old = create(po)
    client = logged_in(po)
    response = client.post(
        f"/releases/views/{view.pk}/edit/", {"name": "Renamed", "shared_with": [office.pk]}
    )
    assert response.status_code == 302
    view.refresh_from_db()
    assert view.name == "Renamed" and list(view.shared_with.all()) == [office]
    bad = client.post(f"/releases/views/{view.pk}/edit/", {"name": "x", "shared_with": ["nope"]})
    assert bad.status_code == 422
    auditors = Group.objects.get(name=roles.AUDITOR)
    assert (
        client.post(
            f"/releases/views/{view.pk}/edit/", {"name": "x", "shared_with": [auditors.pk]}
        ).status_code
        == 422
    )
    rotated = client.post(f"/releases/views/{view.pk}/feed/rotate/")
    new = re.search(r"/calendar/views/([^\"]+)\.ics", rotated.content.decode()).group(1)
    assert Client().get(feed_path(old)).status_code == 404 and Client().get(feed_path(new)).status_code == 200
    assert client.post(f"/releases/views/{view.pk}/feed/revoke/").status_code == 302
    assert Client().get(feed_path(new)).status_code == 404
    assert client.post(f"/releases/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_names_are_escaped(po):
    create(po, name="<script>alert(1)</script>", page="list")
    client = logged_in(po)
    for url in ("/releases/views/", "/releases/"):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- queries ----------------------------------------------------------------------------------------


def _queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(queries)


def _make_views(owner, others, n: int, start: int) -> None:
    office = Group.objects.get(name=roles.PROJECT_OFFICE)
    for i in range(start, start + n):
        create(owner, name=f"Mine {i}", page="calendar" if i % 2 else "list", shared_with=[office])
        create(others, name=f"Theirs {i}", page="calendar" if i % 2 else "list", shared_with=[office])


@pytest.mark.parametrize("url", ["/releases/views/", "/calendar/?month=2030-01", "/releases/"])
def test_query_count_does_not_grow_with_views(po, user_in_role, url):
    client = logged_in(po)
    other = user_in_role(roles.PROJECT_OFFICE)
    client.get(url)
    _make_views(po, other, 2, 0)
    few = _queries(client, url)
    _make_views(po, other, 12, 2)
    many = _queries(client, url)
    assert few == many


@pytest.mark.parametrize(
    ("url", "target"), [("/calendar/?month=2030-01", "calendar-grid"), ("/releases/", "release-table")]
)
def test_the_partials_do_not_read_saved_views(po, url, target):
    client = logged_in(po)
    create(po)
    with CaptureQueriesContext(connection) as page:
        client.get(url)
    assert [q for q in page if "releases_savedview" in q["sql"]], "the whole page reads them"
    with CaptureQueriesContext(connection) as partial:
        client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)
    assert not [q for q in partial if "releases_savedview" in q["sql"]]
