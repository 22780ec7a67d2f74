"""The what-if of a release page: a slip or a new target previews every downstream release, across
portfolios, whose P85 or state would change; nothing is saved; bad input is refused with its reason."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases.models import AuditEvent, Release, ReleaseDependency
from releases.planning.selectors.what_if import NoDateToMove, what_if
from tests import factories as f

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def day(n: int):
    return today() + timedelta(days=n)


def chain(length: int, *, start: int = 10):
    """Releases each shipping the day after the one before, on their targets: every link is tight."""
    releases = [f.ReleaseFactory(target_date=day(start + n)) for n in range(length)]
    for upstream, downstream in itertools.pairwise(releases):
        ReleaseDependency.objects.create(upstream=upstream, downstream=downstream)
    return releases


def test_a_slip_lists_every_downstream_release_it_moves_across_portfolios():
    first, second, third = chain(3)
    third.application = f.ApplicationFactory(portfolio=f.PortfolioFactory(name="Cards"))
    third.save()
    f.ReleaseFactory(target_date=day(11))  # not downstream: never listed
    changes = what_if(first, today=today(), slip_days=5)
    assert [change.release_id for change in changes] == [second.pk, third.pk]
    moved = {change.release_id: change for change in changes}
    assert (moved[second.pk].p85_before, moved[second.pk].p85_after) == (day(11), day(16))
    assert moved[third.pk].portfolio == "Cards" and moved[third.pk].p85_after == day(17)
    assert moved[third.pk].state_words == ("On track", "At risk")
    assert (moved[third.pk].odds_before, moved[third.pk].odds_after) == ("100%", "0%")


def test_a_slip_absorbed_by_slack_moves_nothing():
    upstream, downstream = f.ReleaseFactory(target_date=day(5)), f.ReleaseFactory(target_date=day(30))
    ReleaseDependency.objects.create(upstream=upstream, downstream=downstream)
    assert what_if(upstream, today=today(), slip_days=3) == []
    assert [c.release_id for c in what_if(upstream, today=today(), slip_days=40)] == [downstream.pk]


def test_a_new_target_is_previewed_as_saving_it_would_move_things():
    first, second = chain(2)
    (change,) = what_if(first, today=today(), target=day(20))
    assert change.release_id == second.pk and change.p85_after == day(21)
    assert what_if(first, today=today(), target=day(5)) == []  # earlier: the downstream keeps its target


def test_nothing_is_saved():
    first, _ = chain(2)
    before = list(Release.objects.order_by("pk").values())
    events = AuditEvent.objects.count()
    what_if(first, today=today(), slip_days=9)
    assert list(Release.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == events


def test_a_blocked_or_closed_release_has_no_date_to_move():
    blocked = f.ReleaseFactory(target_date=day(3))
    f.GateFactory(release=blocked, status="failed", due_date=day(1), decided_at=timezone.now())
    with pytest.raises(NoDateToMove, match="blocked"):
        what_if(blocked, today=today(), slip_days=2)
    shipped = f.ReleaseFactory(status="released", actual_date=day(-1), target_date=day(-1))
    with pytest.raises(NoDateToMove, match="released"):
        what_if(shipped, today=today(), slip_days=2)


@pytest.fixture
def client(client_for):
    return client_for(roles.PROJECT_OFFICE)


def test_the_page_shows_the_form_and_the_preview_answers_htmx(client):
    first, second = chain(2)
    page = client.get(f"/releases/{first.pk}/").content.decode()
    assert f'hx-get="/releases/{first.pk}/what-if/"' in page and 'name="days"' in page
    response = client.get(f"/releases/{first.pk}/what-if/?days=4", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "1 downstream release would change" in html
    assert f'href="/releases/{second.pk}/"' in html and "Nothing is saved" in html
    preview = client.get(f"/releases/{first.pk}/what-if/?plan-target_date={day(15).isoformat()}").content
    assert b"If the target moves to" in preview and b"1 downstream release would change" in preview


@pytest.mark.parametrize(
    "query",
    [
        "",
        "days=0",
        "days=-3",
        "days=366",
        "days=abc",
        "days=4\x00",
        "target_date=9999-99-99",
        "target_date=9999-12-31",
        "target_date=0001-01-01",
        "days=2&target_date=2030-01-01",
    ],
)
def test_bad_input_is_a_400_with_its_reason(client, query):
    release = f.ReleaseFactory(target_date=day(4))
    response = client.get(f"/releases/{release.pk}/what-if/?{query}")
    assert response.status_code == 400
    assert b'class="alert alert-error"' in response.content


def test_a_blocked_release_is_a_409_and_an_unknown_one_a_404(client):
    blocked = f.ReleaseFactory(target_date=day(3))
    f.GateFactory(release=blocked, status="failed", due_date=day(1), decided_at=timezone.now())
    response = client.get(f"/releases/{blocked.pk}/what-if/?days=3")
    assert response.status_code == 409 and b"no date to move" in response.content
    assert client.get("/releases/999999/what-if/?days=3").status_code == 404


def test_the_preview_needs_a_login():
    release = f.ReleaseFactory()
    response = Client().get(f"/releases/{release.pk}/what-if/?days=3")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_preview_reads_the_same_queries_for_a_short_and_a_long_chain(client):
    def queries(release) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/releases/{release.pk}/what-if/?days=3").status_code == 200
        return len(captured)

    short, long = chain(2, start=10), chain(12, start=40)
    assert queries(short[0]) == queries(long[0])
