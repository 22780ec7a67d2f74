"""The pipeline API: can-deploy (gates, freezes global/portfolio/environment/recurring, override, closed
releases, unknown names 404, missing parameters 400), the gates of a release, token authentication
(none or revoked 401), the permission (403, audited), JSON only, and constant query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from portal.api_tokens import api_token_create, api_token_revoke
from portal.errors import SERVER_ERROR
from releases.gates.services.deploy_check import can_deploy
from releases.models import AuditEvent, FreezeWindow
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def reviewer(user_in_role):
    return user_in_role(roles.SECURITY_REVIEWER)


@pytest.fixture
def api(reviewer):
    """A client that calls the API with the reviewer's token: api.get(path, **params)."""
    _, secret = api_token_create(user=reviewer, name="Jenkins")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    client.secret = secret
    return client


@pytest.fixture
def programme():
    return f.PortfolioFactory(name="Payments programme", parent=f.PortfolioFactory(name="Retail"))


@pytest.fixture
def release(programme):
    application = f.ApplicationFactory(key="PAY", name="Payments", portfolio=programme)
    return f.ReleaseFactory(application=application, version="4.2", target_date=f.day(10))


@pytest.fixture
def prod():
    return f.EnvironmentFactory(name="prod", kind="prod")


def ask(api, application="PAY", version="4.2", environment="prod"):
    return api.get(
        "/api/can-deploy", {"application": application, "version": version, "environment": environment}
    )


def freeze(**fields) -> FreezeWindow:
    """A freeze in force now, unless told otherwise."""
    fields.setdefault("starts_at", NOW - timedelta(hours=1))
    fields.setdefault("ends_at", fields["starts_at"] + timedelta(hours=2))
    return f.FreezeWindowFactory(**fields)


# --- can-deploy ----------------------------------------------------------------------------------


def test_a_release_with_every_gate_passed_may_deploy(api, release, prod):
    f.GateFactory(release=release, name="Security review", status="passed", decided_at=NOW)
    f.GateFactory(release=release, name="QA", status="passed", decided_at=NOW)
    response = ask(api)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"allowed": True, "reasons": [], "notes": [], "release": release.pk}


def test_a_pending_gate_stops_it_and_is_named(api, release, prod):
    f.GateFactory(release=release, name="QA", status="passed", decided_at=NOW)
    f.GateFactory(release=release, kind="security", name="Security review")
    body = ask(api).json()
    assert body["allowed"] is False
    assert body["reasons"] == ["Gate “Security review” (Security) is pending."]


def test_a_failed_gate_stops_it(api, release, prod):
    f.GateFactory(release=release, kind="cab", name="CAB", status="failed", decided_at=NOW)
    body = ask(api).json()
    assert (body["allowed"], body["reasons"]) == (False, ["Gate “CAB” (CAB) is failed."])


def test_a_waived_gate_counts_as_passed(api, release, prod):
    f.GateFactory(
        release=release,
        status="waived",
        decided_at=NOW,
        waived_by=f.UserFactory(),
        waiver_reason="Emergency fix",
    )
    assert ask(api).json()["allowed"] is True


@pytest.mark.parametrize(
    "scope",
    ["global", "portfolio", "parent portfolio", "environment"],
)
def test_a_freeze_in_force_stops_it(api, release, prod, scope):
    portfolio = release.application.portfolio
    make = {
        "global": lambda: freeze(reason="Year end"),
        "portfolio": lambda: freeze(scope="portfolio", portfolio=portfolio, reason="Year end"),
        "parent portfolio": lambda: freeze(scope="portfolio", portfolio=portfolio.parent, reason="Year end"),
        "environment": lambda: freeze(scope="environment", environment=prod, reason="Year end"),
    }
    make[scope]()
    body = ask(api).json()
    assert body["allowed"] is False
    assert len(body["reasons"]) == 1 and "Freeze window “Year end” is in force" in body["reasons"][0]


def test_freezes_elsewhere_or_at_other_times_do_not_count(api, release, prod):
    freeze(scope="environment", environment=f.EnvironmentFactory(name="uat"))
    freeze(scope="portfolio", portfolio=f.PortfolioFactory())
    freeze(starts_at=NOW - timedelta(days=3))  # over
    freeze(starts_at=NOW + timedelta(hours=1))  # not yet
    freeze(starts_at=NOW - timedelta(days=8), rrule="FREQ=WEEKLY;COUNT=1")  # its only occurrence is over
    assert ask(api).json() == {"allowed": True, "reasons": [], "notes": [], "release": release.pk}


def test_a_recurring_freeze_stops_it_in_a_later_occurrence(api, release, prod):
    freeze(starts_at=NOW - timedelta(weeks=3, hours=1), rrule="FREQ=WEEKLY", reason="Friday freeze")
    body = ask(api).json()
    assert body["allowed"] is False
    assert "Friday freeze" in body["reasons"][0]


def test_a_recurring_freeze_between_occurrences_does_not_stop_it(api, release, prod):
    freeze(starts_at=NOW - timedelta(weeks=3, days=2), rrule="FREQ=WEEKLY")
    assert ask(api).json()["allowed"] is True


def test_a_freeze_override_lets_it_through_with_a_note(api, release, prod):
    release.freeze_override_by = f.UserFactory()
    release.freeze_override_reason = "Regulatory deadline"
    release.save()
    freeze(reason="Year end")
    body = ask(api).json()
    assert body["allowed"] is True
    assert body["reasons"] == []
    assert body["notes"] == [
        "Freeze window “Year end” is in force everywhere: overridden for this release (Regulatory deadline)"
    ]


def test_an_override_does_not_pass_a_gate(api, release, prod):
    release.freeze_override_by = f.UserFactory()
    release.freeze_override_reason = "Regulatory deadline"
    release.save()
    f.GateFactory(release=release, name="QA")
    assert ask(api).json()["allowed"] is False


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"status": "cancelled"}, "Release 4.2 is cancelled."),
        ({"status": "released", "actual_date": f.day(3)}, "Release 4.2 was already released on 2030-01-10."),
    ],
)
def test_a_closed_release_may_not_deploy(api, release, prod, fields, words):
    for name, value in fields.items():
        setattr(release, name, value)
    release.save()
    assert ask(api).json()["reasons"] == [words]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"application": "NOPE"}, "No application with the key “NOPE”."),
        ({"version": "9.9"}, "Application PAY has no release 9.9."),
        ({"environment": "moon"}, "No environment named “moon”."),
    ],
)
def test_unknown_names_are_404_with_a_message(api, release, prod, params, words):
    response = ask(api, **params)
    assert response.status_code == 404
    assert response.json() == {"detail": words}


@pytest.mark.parametrize("missing", ["application", "version", "environment"])
def test_a_missing_parameter_is_400(api, release, prod, missing):
    params = {"application": "PAY", "version": "4.2", "environment": "prod", missing: " "}
    response = api.get("/api/can-deploy", params)
    assert response.status_code == 400
    assert response.json() == {"detail": f"Missing query parameter: {missing}."}


def test_the_service_takes_a_moment(release, prod):
    freeze(starts_at=NOW + timedelta(days=1))
    assert can_deploy(application_key="PAY", version="4.2", environment_name="prod").allowed
    later = NOW + timedelta(days=1, minutes=30)
    check = can_deploy(application_key="PAY", version="4.2", environment_name="prod", at=later)
    assert not check.allowed


# --- the gates of a release ----------------------------------------------------------------------


def test_the_gates_of_a_release(api, release):
    signer = f.UserFactory(first_name="Sam", last_name="Reviewer")
    security = f.GateFactory(
        release=release,
        kind="security",
        name="Security review",
        due_date=f.day(8),
        approvals_required=2,
        evidence_ok=True,
        evidence_summary="No open blockers",
        evidence_open_blockers=0,
        evidence_source="Jira PAY",
        evidence_at=f.moment(1),
    )
    signoff = f.SignOffFactory(gate=security, signer=signer, comment="Looks fine")
    f.GateFactory(
        release=release,
        kind="cab",
        name="CAB",
        due_date=f.day(9),
        status="waived",
        decided_at=f.moment(2),
        waived_by=f.UserFactory(first_name="Ada", last_name="Admin"),
        waiver_reason="Emergency fix",
    )
    response = api.get(f"/api/releases/{release.pk}/gates")
    assert response.status_code == 200
    body = response.json()
    assert body["release"] == {
        "id": release.pk,
        "application": "PAY",
        "version": "4.2",
        "status": "planned",
        "target_date": "2030-01-17",
        "forecast_date": None,
        "delivery_state": "on_track",
        "at_risk": False,
        "blocked_by": None,
        "waiting_for": [],
    }
    first, second = body["gates"]
    assert (
        first["name"] == "Security review"
        and first["status"] == "pending"
        and first["due_date"] == "2030-01-15"
    )
    assert first["approvals"] == {"given": 1, "required": 2}
    assert first["evidence"]["ok"] is True
    assert first["evidence"]["source"] == "Jira PAY"
    assert first["evidence"]["at"] == f.moment(1).isoformat()
    assert first["signoffs"] == [
        {
            "signer": "Sam Reviewer",
            "decision": "approve",
            "meaning": signoff.meaning,
            "comment": "Looks fine",
            "signed_at": signoff.signed_at.isoformat(),
            "reauthenticated": True,
            "state_hash": signoff.state_hash,
        }
    ]
    assert first["waiver"] is None
    assert second["waiver"] == {"by": "Ada Admin", "reason": "Emergency fix"}


def test_an_unknown_release_is_404_json(api):
    response = api.get("/api/releases/999999/gates")
    assert response.status_code == 404
    assert response.json() == {"detail": "No release with id 999999."}


def test_the_api_answers_get_only_in_json(api, release):
    response = api.post(f"/api/releases/{release.pk}/gates")
    assert response.status_code in {403, 405}  # CSRF or method: either way JSON
    assert response["Content-Type"] == "application/json"
    assert api.delete("/api/can-deploy").json() == {"detail": "Method Not Allowed"}


def test_a_server_error_is_json_too(api, release, prod, monkeypatch):
    def broken(**_):
        raise RuntimeError("boom")

    monkeypatch.setattr("releases.gates.services.deploy_check.can_deploy", broken)
    client = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {api.secret}"})
    response = ask(client)
    assert response.status_code == 500
    assert response.json() == {"detail": SERVER_ERROR}  # portal.errors.server_error: "boom" is not shown


# --- authentication and permission ---------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Token fdk_x", "Bearer fdk_unknown"]
)
def test_without_a_valid_token_it_is_401(release, prod, header):
    client = Client(headers={"Authorization": header} if header else {})
    for url in (
        "/api/can-deploy?application=PAY&version=4.2&environment=prod",
        f"/api/releases/{release.pk}/gates",
    ):
        response = client.get(url)
        assert response.status_code == 401
        assert "detail" in response.json()
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(api, release, prod, reviewer):
    assert ask(api).status_code == 200
    api_token_revoke(token=reviewer.api_tokens.get(), by=reviewer)
    response = ask(api)
    assert response.status_code == 401
    assert response.json() == {"detail": "This API token is not valid (unknown or revoked)."}


def test_a_user_without_the_permission_is_403_and_audited(release, prod):
    user = f.UserFactory(username="nobody")  # no role
    _, secret = api_token_create(user=user, name="CI")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    response = client.get(f"/api/releases/{release.pk}/gates")
    assert response.status_code == 403
    assert response.json() == {"detail": "Your account lacks the permission releases.view_gate."}
    event = AuditEvent.objects.get(action="api.denied")
    assert event.actor == user
    assert event.after["path"] == f"/api/releases/{release.pk}/gates"
    assert event.after["permission"] == "releases.view_gate"
    assert ask(client).status_code == 403
    assert AuditEvent.objects.filter(action="api.denied").count() == 2


def test_a_session_does_not_open_the_api(client_for, release, prod):
    client = client_for(roles.ADMIN)
    assert ask(client).status_code == 401


# --- query counts --------------------------------------------------------------------------------


def _more_data(release, prod, n: int, start: int) -> None:
    for i in range(start, start + n):
        f.GateFactory(release=release, name=f"Passed {i}", status="passed", decided_at=NOW)
        f.GateFactory(release=release, name=f"Open {i}")
        f.SignOffFactory(gate=f.GateFactory(release=release, name=f"Signed {i}"))
        freeze(starts_at=NOW - timedelta(days=10 + i))
        freeze(starts_at=NOW - timedelta(weeks=2 + i, hours=1), rrule="FREQ=WEEKLY")
        freeze(
            scope="portfolio", portfolio=release.application.portfolio, starts_at=NOW + timedelta(days=i + 1)
        )
        freeze(scope="environment", environment=prod, starts_at=NOW - timedelta(days=20 + i))
        f.ReleaseFactory(application=release.application)


def _count(api, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    ("url", "own_queries"),
    [("/api/can-deploy?application=PAY&version=4.2&environment=prod", 5), ("gates", 3)],
)
def test_query_counts_do_not_grow_with_the_data(api, release, prod, url, own_queries):
    url = f"/api/releases/{release.pk}/gates" if url == "gates" else url
    _more_data(release, prod, 1, start=0)
    api.get(url)  # the token's first use of the minute also stamps last_used_at
    few = _count(api, url)
    _more_data(release, prod, 15, start=1)
    many = _count(api, url)
    assert few == many == 3 + own_queries  # the token, the user's two permission reads, the endpoint's
