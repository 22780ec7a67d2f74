"""Reading through the REST API: pages, the pages' filters, ordering, ETags, the pages' permissions,
problem details, and a query count that does not grow with the data."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import SyncRun
from portal import roles
from portal.api.urls import LIST_RESOURCES
from releases.models import Gate
from tests import factories as f
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db


def _one_of_each():
    """A row of every resource, with the relations its serializer shows."""
    release = f.ReleaseFactory(forecast_waiting_for=[{"kind": "gate", "name": "Security", "until": None}])
    upstream = f.ReleaseFactory()
    f.ReleaseDependencyFactory(downstream=release, upstream=upstream)
    gate = f.GateFactory(release=release)
    f.SignOffFactory(gate=gate)
    env = f.EnvironmentFactory()
    f.EnvironmentComponentFactory(composite=env)
    f.BookingFactory(environment=env, application=release.application, approved=True)
    f.DeploymentFactory(environment=env, application=release.application, release=release)
    item = f.WorkItemFactory(application=release.application)
    item.fix_releases.add(release)
    build = f.BuildFactory(application=release.application, release=release)
    f.TestRunFactory(release=release, build=build, environment=env, supplied_by=f.UserFactory())
    f.SyncRunFactory()
    f.ReleaseTrainFactory(portfolio=release.application.portfolio)
    f.FreezeWindowFactory(for_environment=True)
    return release


LISTS = LIST_RESOURCES


@pytest.mark.parametrize("resource", LISTS)
def test_each_list_reads_a_fixed_number_of_queries_whatever_the_size(api_client_for, resource):
    client = api_client_for(roles.ADMIN)
    url = f"/api/v1/{resource}/"
    _one_of_each()
    client.get(url)  # the token's last use is noted once a minute: not part of the count
    with CaptureQueriesContext(connection) as small:
        response = client.get(url)
    assert response.status_code == 200 and response.json()["count"] >= 1
    for _ in range(4):
        _one_of_each()
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.json()["count"] >= 4
    assert len(large) == len(small) <= 10, [q["sql"] for q in large.captured_queries]


# Which role reads what (and a user with no role nothing but the sync runs): tests/api/test_permissions.py


def test_a_refusal_is_recorded_in_the_audit_trail(api_client_for):
    from releases.models import AuditEvent

    client = api_client_for(roles.PROJECT_OFFICE)
    client.get("/api/v1/audit-events/")
    event = AuditEvent.objects.get(action="api.denied")
    assert event.actor == client.user and event.after["permission"] == "releases.view_auditevent"


def test_lists_come_in_pages(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    f.ReleaseFactory.create_batch(5)
    first = client.get("/api/v1/releases/?per_page=2").json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert "page=2" in first["next"] and "per_page=2" in first["next"]
    last = client.get("/api/v1/releases/?per_page=2&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None
    seen = [
        r["id"]
        for p in (1, 2, 3)
        for r in client.get(f"/api/v1/releases/?per_page=2&page={p}").json()["results"]
    ]
    assert len(set(seen)) == 5
    assert_problem(client.get("/api/v1/releases/?page=9"), 404)


def test_per_page_is_bounded(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    f.ReleaseFactory.create_batch(3)
    assert len(client.get("/api/v1/releases/?per_page=100000").json()["results"]) == 3


def test_releases_filter_as_the_release_list_does(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    parent = f.PortfolioFactory()
    child = f.PortfolioFactory(parent=parent)
    inside = f.ReleaseFactory(application=f.ApplicationFactory(portfolio=child), status="in_progress")
    f.ReleaseFactory(status="in_progress")
    f.ReleaseFactory(application=inside.application, status="released", actual_date=f.day(0), at_risk=True)
    ids = lambda query: [r["id"] for r in client.get(f"/api/v1/releases/?{query}").json()["results"]]  # noqa: E731
    assert ids(f"portfolio={parent.pk}&status=in_progress") == [inside.pk]  # the programme's too
    assert len(ids("status=in_progress")) == 2
    assert len(ids("at_risk=true")) == 1
    body = assert_problem(client.get("/api/v1/releases/?status=bogus"), 400)
    assert "status" in body["errors"]


def test_releases_show_forecast_slip_and_blocked_state(api_client_for):
    release = f.ReleaseFactory(
        forecast_date=f.day(10),
        forecast_slip_days=3,
        at_risk=True,
        forecast_state="blocked",
        forecast_blocked_reason="The Security gate failed.",
        forecast_waiting_for=[{"kind": "gate", "name": "Security", "until": None}],
    )
    data = api_client_for(roles.PROJECT_OFFICE).get(f"/api/v1/releases/{release.pk}/").json()
    assert data["forecast_date"] == f.day(10).isoformat() and data["forecast_slip_days"] == 3
    assert data["at_risk"] is True and data["delivery_state"] == release.delivery_state.value
    assert data["blocked_by"] == "The Security gate failed."
    assert data["waiting_for"][0]["kind"] == "gate" and data["waiting_for"][0]["text"]


def test_releases_give_their_odds_and_sort_by_them(api_client_for):
    odds = {"forecast_p50": f.day(4), "forecast_p85": f.day(6), "forecast_p95": f.day(9)}
    reasons = [{"points": 4, "text": "10% of the runs ship after the target"}]
    likely = f.ReleaseFactory(forecast_on_time=0.9, forecast_risk=4, forecast_risk_reasons=reasons, **odds)
    unlikely = f.ReleaseFactory(forecast_on_time=0.1, **odds)
    client = api_client_for(roles.PROJECT_OFFICE)
    data = client.get(f"/api/v1/releases/{likely.pk}/").json()
    assert (data["forecast_on_time"], data["forecast_p85"]) == (0.9, f.day(6).isoformat())
    assert (data["forecast_risk"], data["forecast_risk_reasons"]) == (4, reasons)
    ordered = client.get("/api/v1/releases/?ordering=-forecast_on_time").json()["results"]
    assert [r["id"] for r in ordered] == [likely.pk, unlikely.pk]


def test_ordering(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    late = f.ReleaseFactory(target_date=f.day(30))
    early = f.ReleaseFactory(target_date=f.day(1))
    ids = lambda order: [r["id"] for r in client.get(f"/api/v1/releases/?ordering={order}").json()["results"]]  # noqa: E731
    assert ids("target_date") == [early.pk, late.pk]
    assert ids("-target_date") == [late.pk, early.pk]


def test_gates_filter_by_release_and_as_the_reviewer_queue(api_client_for, user_in_role):
    reviewers = Group.objects.get(name=roles.SECURITY_REVIEWER)
    client = api_client_for(roles.SECURITY_REVIEWER)
    mine = f.GateFactory(signer_group=reviewers, release=f.ReleaseFactory(status="in_progress"))
    other = f.GateFactory(release=f.ReleaseFactory(status="in_progress"))
    f.GateFactory(status=Gate.Status.PASSED, decided_at=f.moment(0))
    ids = lambda query: sorted(r["id"] for r in client.get(f"/api/v1/gates/?{query}").json()["results"])  # noqa: E731
    assert ids("show=mine") == [mine.pk]
    assert ids("show=pending") == sorted([mine.pk, other.pk])
    assert ids(f"release={other.release_id}") == [other.pk]
    assert len(ids("status=passed")) == 1


def test_gates_show_evidence_and_signoffs(api_client_for):
    gate = f.GateFactory(evidence_ok=True, evidence_summary="All green", evidence_pass_rate=0.995)
    signoff = f.SignOffFactory(gate=gate)
    data = api_client_for(roles.PROJECT_OFFICE).get(f"/api/v1/gates/{gate.pk}/").json()
    assert data["evidence"]["ok"] is True and data["evidence"]["summary"] == "All green"
    assert data["signoffs"][0]["id"] == signoff.pk and data["signoffs"][0]["state_hash"] == signoff.state_hash


def test_audit_events_filter_as_the_audit_trail_does(api_client_for):
    client = api_client_for(roles.AUDITOR)
    release = f.ReleaseFactory()
    from releases.planning.services.releases import release_update

    release_update(release=release, by=client.user, summary="Changed")
    results = client.get(f"/api/v1/audit-events/?release={release.pk}&action=release.update").json()[
        "results"
    ]
    assert [e["action"] for e in results] == ["release.update"]


def test_other_filters(api_client_for):
    client = api_client_for(roles.ADMIN)
    release = _one_of_each()
    _one_of_each()
    for resource, query in [
        ("dependencies", f"release={release.pk}"),
        ("deployments", f"release={release.pk}"),
        ("builds", f"release={release.pk}"),
        ("test-runs", f"release={release.pk}"),
        ("work-items", f"fix_release={release.pk}"),
        ("bookings", f"application={release.application_id}"),
        ("applications", f"portfolio={release.application.portfolio_id}"),
        ("trains", f"portfolio={release.application.portfolio_id}"),
        ("sync-runs", "status=" + SyncRun.objects.first().status),
    ]:
        response = client.get(f"/api/v1/{resource}/?{query}")
        assert response.status_code == 200, (resource, response.content)
        assert response.json()["count"] == (2 if resource == "sync-runs" else 1), resource


def test_reads_answer_an_etag_and_304_while_it_matches(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    release = f.ReleaseFactory()
    for url in ("/api/v1/releases/", f"/api/v1/releases/{release.pk}/"):
        response = client.get(url)
        etag = response["ETag"]
        assert etag.startswith('"') and "Authorization" in response["Vary"]
        not_modified = client.get(url, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.content == b""
    release.summary = "Changed"
    release.save()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_an_unknown_id_is_a_404_problem(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    for resource in ("releases", "gates", "bookings", "portfolios", "environments"):
        body = assert_problem(client.get(f"/api/v1/{resource}/999999/"), 404)
        assert body["instance"] == f"/api/v1/{resource}/999999/"
    assert_problem(client.get("/api/v1/releases/99999999999999999999999/"), 404)
