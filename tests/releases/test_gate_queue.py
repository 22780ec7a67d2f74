"""The reviewer queue at /gates/: "waiting for me" by default (the segregation rules as a filter),
overdue first, the filters, paging, the HTMX partial, and a query count that does not grow."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewers():
    return Group.objects.get(name=roles.SECURITY_REVIEWER)


@pytest.fixture
def sofia(user_in_role):
    return user_in_role(roles.SECURITY_REVIEWER, first_name="Sofia")


@pytest.fixture
def client(sofia):
    client = Client()
    client.force_login(sofia)
    return client


def _gate(name: str, group, *, due_in: int = 5, portfolio=None, release=None, **fields):
    today = timezone.localdate()
    if release is None:
        app = f.ApplicationFactory(portfolio=portfolio or f.PortfolioFactory())
        release = f.ReleaseFactory(application=app, target_date=today + timedelta(days=due_in + 2))
    return f.GateFactory(
        release=release, name=name, signer_group=group, due_date=today + timedelta(days=due_in), **fields
    )


def _names(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(
        r'<tr id="queue-gate-\d+"[^>]*>.*?<strong>([^<]+)</strong>', response.content.decode(), re.S
    )


def test_waiting_for_me_is_the_default_and_keeps_the_rules(client, sofia, reviewers):
    _gate("Later", reviewers, due_in=9, kind="security")
    _gate("Overdue", reviewers, due_in=-3, kind="security")
    _gate("Soon", reviewers, due_in=1, kind="security")
    _gate("Other group", f.GroupFactory(name="CAB"))
    _gate("Decided", reviewers, status="passed", decided_at=f.moment(0))
    owned = _gate("Mine to ship", reviewers)
    owned.release.owner = sofia
    owned.release.save()
    scoped = _gate("I changed scope", reviewers)
    scoped.release.scope_changed_by = sofia
    scoped.release.save()
    signed = _gate("Signed already", reviewers, approvals_required=2)
    f.SignOffFactory(gate=signed, signer=sofia)
    _gate("Cancelled release", reviewers, release=f.ReleaseFactory(status="cancelled"))
    response = client.get("/gates/")
    assert _names(response) == ["Overdue", "Soon", "Later"]
    html = response.content.decode()
    assert '<option value="mine" selected>Waiting for me</option>' in html
    assert html.count('<span class="badge badge-alert">Overdue</span>') == 1


def test_waiting_for_me_lists_the_gates_due_soon_and_the_rest_on_demand(client, reviewers):
    _gate("Overdue", reviewers, due_in=-30)
    _gate("In two weeks", reviewers, due_in=14)
    _gate("In three weeks", reviewers, due_in=21)
    _gate("Next year", reviewers, due_in=300)
    response = client.get("/gates/")
    assert _names(response) == ["Overdue", "In two weeks"]
    html = response.content.decode()
    assert '<a class="later-link" href="?later=1"' in html and "Show 2 later ones</a>" in html
    assert _names(client.get("/gates/?later=1")) == ["Overdue", "In two weeks", "In three weeks", "Next year"]
    assert '<a class="later-link" href="?"' in client.get("/gates/?later=1").content.decode()  # and back
    # All pending and decided are not cut.
    assert len(_names(client.get("/gates/?show=pending"))) == 4
    assert "later-link" not in client.get("/gates/?show=pending").content.decode()


def test_nothing_due_soon_still_offers_the_later_ones(client, reviewers):
    _gate("Next month", reviewers, due_in=30)
    html = client.get("/gates/").content.decode()
    assert "Nothing is due for you by" in html and "Show 1 later one</a>" in html


def test_the_show_select_has_no_bare_empty_option(client, reviewers):
    html = client.get("/gates/").content.decode()
    assert "---------" not in html
    assert '<option value="">All kinds</option>' in html


def test_rows_are_compact_and_phone_columns_are_marked(client, reviewers):
    _gate("Security", reviewers, evidence_summary="0 critical")
    html = client.get("/gates/").content.decode()
    row = re.search(r'<tr id="queue-gate-\d+".*?</tr>', html, re.S).group(0)
    assert "<br>" not in row  # the second line is a block span the phone layout hides
    assert '<td class="evidence col-evidence"><span class="clip" title="0 critical">' in row
    assert 'class="num col-approvals"' in row


def test_a_role_without_sign_off_waits_for_nothing(client_for, reviewers):
    _gate("Security", reviewers)
    response = client_for(roles.PROJECT_OFFICE).get("/gates/")
    assert _names(response) == []
    assert "Nothing is waiting for you." in response.content.decode()
    assert _names(client_for(roles.PROJECT_OFFICE).get("/gates/?show=pending")) == ["Security"]


def test_the_filters(client, reviewers):
    retail = f.PortfolioFactory(name="Retail")
    programme = f.PortfolioFactory(name="Retail mobile", parent=retail)
    _gate("Retail QA", reviewers, portfolio=retail, kind="qa", due_in=2)
    _gate("Mobile security", reviewers, portfolio=programme, kind="security", due_in=-1)
    _gate("Other CAB", f.GroupFactory(name="CAB"), kind="cab", due_in=3)
    _gate("Passed", reviewers, status="passed", decided_at=f.moment(1))
    _gate("Failed", reviewers, status="failed", decided_at=f.moment(2))
    assert _names(client.get("/gates/?show=pending")) == ["Mobile security", "Retail QA", "Other CAB"]
    assert _names(client.get("/gates/?show=pending&kind=cab")) == ["Other CAB"]
    assert _names(client.get(f"/gates/?portfolio={retail.pk}")) == ["Mobile security", "Retail QA"]
    assert _names(client.get(f"/gates/?portfolio={programme.pk}")) == ["Mobile security"]
    assert _names(client.get("/gates/?overdue=true")) == ["Mobile security"]
    assert _names(client.get("/gates/?show=decided")) == ["Failed", "Passed"]  # latest decision first


def test_each_row_shows_evidence_approvals_and_the_way_to_the_panel(client, reviewers):
    gate = _gate("Security", reviewers, approvals_required=2, evidence_summary="No critical <findings>")
    f.SignOffFactory(gate=gate)
    html = client.get("/gates/").content.decode()
    assert "No critical &lt;findings&gt;" in html
    assert '<td class="num col-approvals">1 / 2</td>' in html
    assert f'href="/releases/{gate.release_id}/#gate-{gate.pk}"' in html
    assert f'hx-get="/gates/{gate.pk}/" hx-target="#gate-review"' in html


def test_bad_filter_values_do_not_break_the_page(client, reviewers):
    _gate("Security", reviewers)
    for query in ("portfolio=999999", "kind=nope", "show=nope", "overdue=maybe", "page=abc", "page=99"):
        assert client.get(f"/gates/?{query}").status_code == 200


def test_htmx_asks_for_the_queue_alone(client, reviewers):
    _gate("Security", reviewers)
    response = client.get("/gates/", headers={"HX-Request": "true", "HX-Target": "gate-queue"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="gate-queue"')
    assert 'hx-trigger="gatesChanged from:body"' in html
    assert "<form" not in html


def test_paged_by_fifty(client, reviewers):
    release = f.ReleaseFactory(target_date=timezone.localdate() + timedelta(days=30))
    for i in range(55):
        _gate(f"Gate {i:02d}", reviewers, release=release, due_in=i % 14)
    first, second = client.get("/gates/"), client.get("/gates/?page=2")
    assert len(_names(first)) == 50 and len(_names(second)) == 5
    assert "page 1 of 2" in first.content.decode()


def test_the_pager_links_keep_the_filters_in_one_query_string(client, reviewers):
    release = f.ReleaseFactory(target_date=timezone.localdate() + timedelta(days=30))
    for i in range(55):
        _gate(f"Gate {i:02d}", reviewers, release=release, due_in=i % 20)
    first = client.get("/gates/?show=pending&kind=qa").content.decode()
    assert '<a href="?show=pending&amp;kind=qa&amp;page=2" rel="next">' in first
    assert "??" not in first  # the pager once wrote "??page=2"
    second = client.get("/gates/?show=pending&kind=qa&page=2").content.decode()
    assert '<a href="?show=pending&amp;kind=qa&amp;page=1" rel="prev">' in second
    assert len(_names(client.get("/gates/?show=pending&kind=qa&page=2"))) == 5


def test_per_page_is_bounded(client, reviewers):
    for i in range(3):
        _gate(f"Gate {i}", reviewers)
    assert len(_names(client.get("/gates/?per_page=2"))) == 2
    refused = client.get("/gates/?per_page=501")
    assert refused.status_code == 400
    assert "The per_page must be from 1 to 500." in refused.content.decode()


def _grow(n: int, group) -> None:
    for i in range(n):
        gate = _gate(f"Grown {i}", group, due_in=i % 7 - 3, evidence_summary="ok")
        f.SignOffFactory(gate=gate)


@pytest.mark.parametrize("query", ["", "?later=1", "?show=pending", "?show=decided", "?overdue=true&kind=qa"])
def test_query_count_does_not_grow_with_the_data(client, reviewers, query):
    client.get("/gates/")  # session and permission caches
    _grow(2, reviewers)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/gates/{query}").status_code == 200
    _grow(30, reviewers)
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"/gates/{query}").status_code == 200
    assert len(few) == len(many)
    assert len(many) <= 10


def test_the_queue_and_the_sign_off_check_agree_on_who_may_sign(sofia, reviewers, user_in_role):
    """Who may sign has two forms, a query (Gate.objects.signable_by, the queue) and the Python check
    (sign_blockers, the panel and the service): over every case they name the same gates."""
    from releases.gates.services.signoffs import sign_blockers
    from releases.models import Gate

    _gate("Open", reviewers)
    _gate("Other group", f.GroupFactory(name="CAB"))
    _gate("Decided", reviewers, status="failed", decided_at=f.moment(0))
    _gate("Evidence alone", None, approvals_required=0)
    owned = _gate("Owned", reviewers)
    owned.release.owner = sofia
    owned.release.save()
    scoped = _gate("Scoped", reviewers)
    scoped.release.scope_changed_by = sofia
    scoped.release.save()
    f.SignOffFactory(gate=_gate("Signed", reviewers, approvals_required=2), signer=sofia)
    officer = user_in_role(roles.PROJECT_OFFICE)
    gates = Gate.objects.select_related("release", "signer_group").prefetch_related("signoffs")
    for user in (sofia, officer, user_in_role(roles.SECURITY_REVIEWER)):
        by_query = set(Gate.objects.signable_by(user).values_list("name", flat=True))
        by_check = {gate.name for gate in gates if not sign_blockers(gate=gate, user=user)}
        assert by_query == by_check
    assert set(Gate.objects.signable_by(sofia).values_list("name", flat=True)) == {"Open"}
