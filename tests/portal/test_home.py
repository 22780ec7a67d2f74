"""The home page: its numbers agree with the pages they link to, "Needs attention" shows five and more
on demand, following is a safe POST, and the page reads a fixed number of queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import SyncRun
from portal import roles
from portal.models import Follow
from tests import factories as f

pytestmark = pytest.mark.django_db


def _tiles(html: str) -> list[tuple[str, str]]:
    """(href, number) of each linked tile."""
    return re.findall(
        r'<a class="tile[^"]*" href="([^"]+)">\s*<span class="tile-number">([^<]+)</span>', html
    )


def _unescape(href: str) -> str:
    return href.replace("&amp;", "&")


# --- the numbers agree with the linked pages --------------------------------------------------------


def _disagreeing_data():
    """Rows that the old definitions counted on one side only."""
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    for offset in range(7):
        f.ReleaseFactory(target_date=monday + timedelta(days=offset))
    f.ReleaseFactory(target_date=monday + timedelta(days=1), released=True)  # shipped: not due
    f.ReleaseFactory(target_date=monday + timedelta(days=2), status="cancelled")
    open_release = f.ReleaseFactory(target_date=today + timedelta(days=30))
    f.GateFactory(release=open_release, due_date=today - timedelta(days=2))
    f.GateFactory(
        release=open_release, due_date=today - timedelta(days=2), status="failed", decided_at=timezone.now()
    )
    f.ReleaseFactory(forecast_state="blocked", target_date=today - timedelta(days=40))
    f.ReleaseFactory(at_risk=True, target_date=today + timedelta(days=40))
    now = timezone.now()
    env = f.EnvironmentFactory()
    composite = f.BookingFactory(environment=env, starts_at=now + timedelta(days=2))
    f.BookingFactory(environment=f.EnvironmentFactory(), part_of=composite, starts_at=now + timedelta(days=2))
    f.BookingFactory(environment=env, starts_at=now - timedelta(days=5))  # over already
    f.BookingFactory(environment=env, starts_at=now + timedelta(days=3))


def _count_on(client, href: str) -> int:
    response = client.get(_unescape(href))
    assert response.status_code == 200, href
    context = response.context
    if "weeks" in context:  # the calendar: the grid's per-day totals
        return sum(day.total for week in context["weeks"] for day in week if day.in_period)
    return context["page"].paginator.count


def test_every_linked_number_is_the_count_of_the_page_it_links_to(client_for):
    _disagreeing_data()
    client = client_for(roles.ADMIN)  # may see every page linked, the booking queue included
    tiles = _tiles(client.get("/").content.decode())
    assert len(tiles) == 5
    for href, number in tiles:
        assert int(number) == _count_on(client, href), href
    numbers = [int(n) for _, n in tiles]
    assert numbers == [7, 1, 1, 1, 2]  # due this week, overdue gates, blocked, at risk, bookings


def test_the_waiting_bookings_link_to_the_queue_only_for_those_who_decide(client_for):
    f.BookingFactory(starts_at=timezone.now() + timedelta(days=1))
    hrefs = [href for href, _ in _tiles(client_for(roles.PROJECT_OFFICE).get("/").content.decode())]
    assert "/environments/bookings/queue/" not in hrefs and len(hrefs) == 4
    assert client_for(roles.PROJECT_OFFICE).get("/environments/bookings/queue/").status_code == 403
    hrefs = [href for href, _ in _tiles(client_for(roles.ENVIRONMENT_ADMIN).get("/").content.decode())]
    assert hrefs[-1] == "/environments/bookings/queue/"


def test_the_week_link_is_the_calendar_week_with_the_open_statuses():
    client = Client()
    user = f.UserFactory()
    client.force_login(user)
    href = _unescape(_tiles(client.get("/").content.decode())[0][0])
    assert href.startswith("/calendar/?week=")
    assert "status=released" not in href and "status=cancelled" not in href
    assert "status=planned" in href


# --- needs attention -------------------------------------------------------------------------------


def _blocked_releases(n: int):
    today = timezone.localdate()
    return [
        f.ReleaseFactory(
            forecast_state="blocked",
            forecast_blocked_reason=f"held {i}",
            target_date=today + timedelta(days=i),
        )
        for i in range(n)
    ]


def test_five_first_then_more_on_demand(client_for):
    _blocked_releases(8)
    client = client_for(roles.PROJECT_OFFICE)
    html = client.get("/").content.decode()
    assert html.count('<li class="attention-item ') == 5
    assert "Show 4 more" in html  # 8 releases and the worker, down
    more = client.get("/?more=1").content.decode()
    assert more.count('<li class="attention-item ') == 9
    partial = client.get("/?more=1", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="attention-list")
    body = partial.content.decode()
    assert body.count('<li class="attention-item ') == 9
    assert "<html" not in body and 'class="tiles"' not in body
    assert "Why this order" in html and "Severity first" in html


def test_each_item_says_why_since_when_what_it_affects_and_links_to_the_fix(client_for):
    release = _blocked_releases(1)[0]
    release.forecast_updated_at = timezone.now() - timedelta(hours=3)
    release.forecast_risk = 30
    release.save()
    f.WorkerHeartbeatFactory(name="worker", seen_at=timezone.now())
    html = client_for(roles.PROJECT_OFFICE).get("/").content.decode()
    item = html.split('<li class="attention-item', 1)[1].split("</li>", 1)[0]
    assert f'href="/releases/{release.pk}/"' in item
    assert "held 0" in item
    assert "for 3\xa0hours" in item
    assert f"Affects {release.application.key} {release.version}" in item
    assert "risk 30/100" in item


def test_an_item_text_is_escaped(client_for):
    f.SyncRunFactory(status=SyncRun.Status.FAILED, error="<script>alert(1)</script>")
    html = client_for(roles.PROJECT_OFFICE).get("/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_nothing_wrong_says_so(client_for):
    f.WorkerHeartbeatFactory(name="worker", seen_at=timezone.now())
    html = client_for(roles.PROJECT_OFFICE).get("/").content.decode()
    assert "Nothing needs attention" in html


# --- following -------------------------------------------------------------------------------------


def test_follow_and_unfollow_are_idempotent_and_narrow_the_list(client_for):
    client = client_for(roles.RELEASE_MANAGER)
    user = Follow._meta.get_field("user").related_model.objects.get(pk=client.session["_auth_user_id"])
    mine, other = _blocked_releases(2)
    portfolio = mine.application.portfolio
    for _ in range(2):
        response = client.post("/follows/portfolio/", {"id": portfolio.pk})
        assert response.status_code == 302
    assert Follow.objects.filter(user=user).count() == 1
    html = client.get("/").content.decode()
    assert f"/releases/{mine.pk}/" in html and f"/releases/{other.pk}/" not in html
    assert "Across what you follow" in html
    client.post(f"/follows/portfolio/{portfolio.pk}/delete/")
    assert client.post(f"/follows/portfolio/{portfolio.pk}/delete/").status_code == 302
    assert not Follow.objects.filter(user=user).exists()
    assert f"/releases/{other.pk}/" in client.get("/").content.decode()


def test_following_by_htmx_answers_the_panel(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    app = f.ApplicationFactory(name="Payments")
    response = client.post("/follows/application/", {"id": app.pk}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card follow-panel" id="follow-panel"')
    assert "Payments" in body and "Unfollow" in body
    assert "followsChanged" in response["HX-Trigger"]


@pytest.mark.parametrize(
    ("url", "data", "status"),
    [
        ("/follows/team/", {"id": "1"}, 404),
        ("/follows/portfolio/", {"id": "999999"}, 404),
        ("/follows/application/999999/delete/", {}, 404),
        ("/follows/galaxy/1/delete/", {}, 404),
        ("/follows/portfolio/", {"id": "x"}, 400),
        ("/follows/portfolio/", {"id": "\uff11"}, 400),
        ("/follows/portfolio/", {"id": "99999999999999999999999"}, 400),
        ("/follows/portfolio/", {"id": "1\x00"}, 400),
        ("/follows/portfolio/", {}, 400),
    ],
)
def test_bad_subjects_are_refused_with_a_clear_status(client_for, url, data, status):
    response = client_for(roles.PROJECT_OFFICE).post(url, data)
    assert response.status_code == status
    assert not Follow.objects.exists()


def test_following_needs_a_login_a_post_and_the_csrf_token():
    portfolio = f.PortfolioFactory()
    anonymous = Client()
    response = anonymous.post("/follows/portfolio/", {"id": portfolio.pk})
    assert response.status_code == 302 and "/login/" in response["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(f.UserFactory())
    assert strict.post("/follows/portfolio/", {"id": portfolio.pk}).status_code == 403
    relaxed = Client()
    relaxed.force_login(f.UserFactory())
    assert relaxed.get("/follows/portfolio/").status_code == 405
    assert not Follow.objects.exists()


def test_every_role_may_follow(client_for):
    portfolio = f.PortfolioFactory()
    for role in (roles.AUDITOR, roles.PIPELINE, roles.ENVIRONMENT_ADMIN):
        assert client_for(role).post("/follows/portfolio/", {"id": portfolio.pk}).status_code == 302
    assert Follow.objects.count() == 3


# --- a fixed number of queries ---------------------------------------------------------------------


def _every_rule_fires(n: int) -> None:
    now, today = timezone.now(), timezone.localdate()
    env = f.EnvironmentFactory()
    portfolio = f.PortfolioFactory()
    f.FreezeWindowFactory(starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=4))
    for i in range(n):
        app = f.ApplicationFactory(portfolio=portfolio)
        release = f.ReleaseFactory(
            application=app,
            target_date=today + timedelta(days=3),
            forecast_state="blocked" if i % 2 else "at_risk",
            forecast_date=today + timedelta(days=9),
            forecast_baseline_date=today + timedelta(days=5),
            forecast_baseline_on=today,
            forecast_waiting_for=[{"text": f"waits for upstream {i}"}],
        )
        f.ReleaseDependencyFactory(upstream=release)
        f.GateFactory(release=release, due_date=today - timedelta(days=1))
        if i % 2 == 0:  # a blocked release with a failed gate or build is listed at its cause
            f.GateFactory(release=release, status="failed", decided_at=now)
            f.BuildFactory(release=release, application=app, result="failure", started_at=now)
        f.TestRunFactory(release=release, failed=2, executed_at=now)
        f.BookingFactory(
            environment=env, application=app, approved=True, starts_at=now + timedelta(days=i + 1)
        )
        f.BookingFactory(environment=env, application=app, starts_at=now + timedelta(days=i + 1, hours=1))
        f.BookingFactory(application=app, starts_at=now + timedelta(days=3, hours=1))
        f.SyncRunFactory(status=SyncRun.Status.FAILED, error="boom")
        f.PolicyChangeFactory()


def _home_queries(client, url: str = "/") -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_home_reads_a_fixed_number_of_queries(client_for, user_in_role):
    user = user_in_role(roles.ADMIN)
    client = Client()
    client.force_login(user)
    client.get("/")
    _every_rule_fires(2)
    few, html = _home_queries(client, "/?more=1")
    rules = set(re.findall(r'data-rule="([a-z_]+)"', html))
    assert rules == {
        "gate_overdue",
        "gate_failed",
        "release_blocked",
        "release_at_risk",
        "release_slipped",
        "booking_conflict",
        "bookings_waiting",
        "booking_frozen",
        "target_frozen",
        "build_failed",
        "tests_failed",
        "sync_failed",
        "worker_down",
    }
    _every_rule_fires(12)
    many, _ = _home_queries(client, "/?more=1")
    assert few == many
    Follow.objects.create(user=user, portfolio=f.PortfolioFactory())
    followed, _ = _home_queries(client, "/?more=1")
    assert followed == many + 1  # the portfolio tree, read once


def test_my_queue_counts_are_the_counts_of_the_queues_they_link_to(user_in_role):
    admin = user_in_role(roles.ADMIN)
    group = f.GroupFactory(name="Security")
    admin.groups.add(group)
    now = timezone.now()
    for _ in range(3):
        f.GateFactory(signer_group=group, release=f.ReleaseFactory())
    f.GateFactory(signer_group=group, release=f.ReleaseFactory(released=True))  # shipped: nothing to sign
    f.GateFactory(signer_group=group, release=f.ReleaseFactory(owner=admin))  # their own release
    composite = f.BookingFactory(starts_at=now + timedelta(days=1))
    f.BookingFactory(part_of=composite, starts_at=now + timedelta(days=1))
    f.BookingFactory(starts_at=now - timedelta(days=9))  # over
    f.PolicyChangeFactory()
    client = Client()
    client.force_login(admin)
    html = client.get("/").content.decode()
    counts = dict(
        re.findall(r'<a href="([^"]+)"><strong class="queue-count" data-queue="\w+">(\d+)</strong>', html)
    )
    assert counts == {"/gates/?later=1": "3", "/environments/bookings/queue/": "1", "/gates/policies/": "1"}
    for href in ("/gates/?later=1", "/environments/bookings/queue/"):
        assert client.get(href).context["page"].paginator.count == int(counts[href])
    assert html.count("Remove Requirement") == 1  # the change awaiting approval, named
