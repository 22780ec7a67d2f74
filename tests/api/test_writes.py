"""Writing through the REST API: each write calls the page's service (its rules, its audit event) and
answers a refusal as problem details with the page's status."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group

from portal import roles
from releases import tasks
from releases.gates.services.signoffs import gate_state_hash
from releases.models import AuditEvent, Booking, Gate, Release, ReleaseDependency, SignOff
from tests import factories as f
from tests.api.conftest import PASSWORD, assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Side effects are Celery tasks queued after the commit: no broker in these tests."""
    for name in dir(tasks):
        task = getattr(tasks, name)
        if hasattr(task, "delay"):
            monkeypatch.setattr(task, "delay", lambda *a, **kw: None)


def _audited(action: str, actor) -> AuditEvent:
    return AuditEvent.objects.get(action=action, actor=actor)


# --- bookings -------------------------------------------------------------------------------------


def _request_body(env, app, hours=0):
    starts = f.moment(hours)
    return {
        "environment": env.pk,
        "application": app.pk,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=4)).isoformat(),
        "purpose": "Load test",
    }


def test_a_booking_is_requested_through_its_service(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    env, app = f.EnvironmentFactory(capacity=1), f.ApplicationFactory()
    response = client.post_json("/api/v1/bookings/", _request_body(env, app))
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.requester == client.user and booking.status == "requested"
    assert _audited("booking.request", client.user).object_id == str(booking.pk)


def test_a_taken_slot_is_409_naming_the_winner(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    env, app = f.EnvironmentFactory(capacity=1), f.ApplicationFactory()
    winner = f.BookingFactory(environment=env, starts_at=f.moment(1), ends_at=f.moment(3), approved=True)
    body = assert_problem(client.post_json("/api/v1/bookings/", _request_body(env, app)), 409)
    assert body["winner"] == winner.pk and f"#{winner.pk}" in body["detail"]


def test_a_booking_request_needs_the_pages_permission(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    env, app = f.EnvironmentFactory(), f.ApplicationFactory()
    assert_problem(client.post_json("/api/v1/bookings/", _request_body(env, app)), 403)
    assert not Booking.objects.exists()


def test_bad_booking_input_is_400_with_the_fields(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    body = assert_problem(client.post_json("/api/v1/bookings/", {"environment": "x"}), 400)
    assert {"environment", "starts_at", "ends_at", "purpose"} <= set(body["errors"])
    assert_problem(client.post("/api/v1/bookings/", "{not json", content_type="application/json"), 400)


def test_a_booking_the_service_refuses_is_422(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    env, app = f.EnvironmentFactory(), f.ApplicationFactory()
    data = _request_body(env, app) | {"ends_at": f.moment(-1).isoformat()}
    body = assert_problem(client.post_json("/api/v1/bookings/", data), 422)
    assert body["errors"]


def test_approve_and_reject_through_their_services(api_client_for):
    client = api_client_for(roles.ENVIRONMENT_ADMIN)
    first, second = f.BookingFactory(), f.BookingFactory()
    response = client.post_json(f"/api/v1/bookings/{first.pk}/approve/", {})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert _audited("booking.approve", client.user).object_id == str(first.pk)
    body = assert_problem(client.post_json(f"/api/v1/bookings/{second.pk}/reject/", {}), 422)
    assert "reason" in body["errors"]
    response = client.post_json(f"/api/v1/bookings/{second.pk}/reject/", {"reason": "No room"})
    assert response.json()["status"] == "rejected" and response.json()["reason"] == "No room"
    assert _audited("booking.reject", client.user)
    # Decided already: the state no longer allows it, as on the pages.
    assert_problem(client.post_json(f"/api/v1/bookings/{first.pk}/approve/", {}), 409)


def test_only_deciders_approve(api_client_for):
    booking = f.BookingFactory()
    assert_problem(
        api_client_for(roles.RELEASE_MANAGER).post_json(f"/api/v1/bookings/{booking.pk}/approve/"), 403
    )
    assert Booking.objects.get(pk=booking.pk).status == "requested"


def test_cancel_is_the_requesters_or_an_admins(api_client_for):
    requester = api_client_for(roles.RELEASE_MANAGER)
    stranger = api_client_for(roles.RELEASE_MANAGER)
    booking = f.BookingFactory(requester=requester.user)
    body = assert_problem(stranger.post_json(f"/api/v1/bookings/{booking.pk}/cancel/"), 403)
    assert "requester" in body["detail"]
    response = requester.post_json(f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "Not needed"})
    assert response.json()["status"] == "cancelled"
    assert _audited("booking.cancel", requester.user)
    assert_problem(requester.post_json(f"/api/v1/bookings/{booking.pk}/cancel/"), 409)
    assert_problem(requester.post_json("/api/v1/bookings/999999/cancel/"), 404)


# --- releases and dependencies --------------------------------------------------------------------


def test_a_release_is_created_through_its_service(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    app = f.ApplicationFactory()
    response = client.post_json(
        "/api/v1/releases/", {"application": app.pk, "version": "9.9.0", "target_date": f.day(20).isoformat()}
    )
    assert response.status_code == 201, response.content
    release = Release.objects.get(application=app, version="9.9.0")
    assert response.json()["id"] == release.pk
    assert _audited("release.create", client.user).object_id == str(release.pk)
    assert_problem(api_client_for(roles.PROJECT_OFFICE).post_json("/api/v1/releases/", {}), 403)


def test_a_release_plan_is_changed_as_its_page_changes_it(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    release = f.ReleaseFactory(target_date=f.day(10))
    response = client.patch_json(f"/api/v1/releases/{release.pk}/", {"target_date": f.day(12).isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["target_date"] == f.day(12).isoformat()
    assert _audited("release.update", client.user).after["target_date"] == f.day(12).isoformat()
    # The page's form rules: a code freeze after the target is refused, field by field.
    body = assert_problem(
        client.patch_json(f"/api/v1/releases/{release.pk}/", {"code_freeze_date": f.day(30).isoformat()}), 422
    )
    assert "code_freeze_date" in body["errors"]
    assert_problem(
        api_client_for(roles.PROJECT_OFFICE).patch_json(f"/api/v1/releases/{release.pk}/", {}), 403
    )


def test_dependencies_are_added_and_removed_through_their_service(api_client_for):
    client = api_client_for(roles.RELEASE_MANAGER)
    a, b = f.ReleaseFactory(), f.ReleaseFactory()
    response = client.post_json(
        "/api/v1/dependencies/", {"downstream": a.pk, "upstream": b.pk, "kind": "ships_before"}
    )
    assert response.status_code == 201, response.content
    assert _audited("release.dependency_add", client.user)
    cycle = assert_problem(
        client.post_json(
            "/api/v1/dependencies/", {"downstream": b.pk, "upstream": a.pk, "kind": "ships_before"}
        ),
        409,
    )
    assert "cycle" in cycle["detail"]
    itself = assert_problem(
        client.post_json(
            "/api/v1/dependencies/", {"downstream": a.pk, "upstream": a.pk, "kind": "ships_with"}
        ),
        422,
    )
    assert "upstream" in itself["errors"]
    dependency = ReleaseDependency.objects.get()
    assert client.delete(f"/api/v1/dependencies/{dependency.pk}/").status_code == 204
    assert not ReleaseDependency.objects.exists() and _audited("release.dependency_remove", client.user)


# --- gate sign-off --------------------------------------------------------------------------------


@pytest.fixture
def gate():
    release = f.ReleaseFactory(status="in_progress", owner=f.UserFactory())
    return f.GateFactory(
        release=release, kind="security", signer_group=Group.objects.get(name=roles.SECURITY_REVIEWER)
    )


@pytest.fixture
def signer(api_client_for):
    return api_client_for(roles.SECURITY_REVIEWER, password=PASSWORD)


def _signature(client, gate, **changes):
    state = client.get(f"/api/v1/gates/{gate.pk}/sign-off/").json()
    return {
        "decision": "approve",
        "agree": True,
        "password": PASSWORD,
        "state_hash": state["state_hash"],
    } | changes


def test_a_gate_is_signed_with_the_password_re_entered(signer, gate):
    state = signer.get(f"/api/v1/gates/{gate.pk}/sign-off/").json()
    assert state["may_sign"] is True and state["state_hash"] == gate_state_hash(gate)
    assert state["meanings"]["approve"]
    response = signer.post_json(f"/api/v1/gates/{gate.pk}/sign-off/", _signature(signer, gate))
    assert response.status_code == 201, response.content
    signoff = SignOff.objects.get(gate=gate)
    assert (
        signoff.signer == signer.user
        and signoff.reauthenticated
        and signoff.meaning == state["meanings"]["approve"]
    )
    assert "password" not in response.json()
    assert _audited("signoff.create", signer.user)
    assert Gate.objects.get(pk=gate.pk).status == Gate.Status.PASSED


def test_a_wrong_password_signs_nothing_and_counts_as_a_guess(signer, gate):
    body = assert_problem(
        signer.post_json(f"/api/v1/gates/{gate.pk}/sign-off/", _signature(signer, gate, password="wrong")),
        422,
    )
    assert "password" in body["errors"] and "tries left" in " ".join(body["errors"]["password"])
    assert not SignOff.objects.exists()
    assert _audited("gate.sign.denied", signer.user)


def test_signing_pauses_after_too_many_wrong_passwords(signer, gate, settings):
    settings.AXES_FAILURE_LIMIT = 2
    url = f"/api/v1/gates/{gate.pk}/sign-off/"
    for _ in range(2):
        signer.post_json(url, _signature(signer, gate, password="wrong"))
    body = assert_problem(signer.post_json(url, _signature(signer, gate)), 429)
    assert "paused" in body["detail"] and not SignOff.objects.exists()


def test_a_signature_needs_agreement_and_a_valid_body(signer, gate):
    url = f"/api/v1/gates/{gate.pk}/sign-off/"
    assert (
        "agree" in assert_problem(signer.post_json(url, _signature(signer, gate, agree=False)), 422)["errors"]
    )
    assert "password" in assert_problem(signer.post_json(url, {"decision": "approve"}), 400)["errors"]
    rejected = _signature(signer, gate, decision="reject")
    assert "comment" in assert_problem(signer.post_json(url, rejected), 422)["errors"]
    assert not SignOff.objects.exists()


def test_a_stale_state_is_409(signer, gate):
    data = _signature(signer, gate)
    Gate.objects.filter(pk=gate.pk).update(evidence_summary="New findings")
    assert_problem(signer.post_json(f"/api/v1/gates/{gate.pk}/sign-off/", data), 409)


def test_only_the_gates_signers_sign(api_client_for, gate):
    other = api_client_for(roles.CHANGE_MANAGER, password=PASSWORD)
    body = assert_problem(other.post_json(f"/api/v1/gates/{gate.pk}/sign-off/", _signature(other, gate)), 403)
    assert body["detail"] and not SignOff.objects.exists()
    assert other.get(f"/api/v1/gates/{gate.pk}/sign-off/").json()["may_sign"] is False


def test_the_owner_never_signs(api_client_for, gate):
    owner = api_client_for(roles.SECURITY_REVIEWER, password=PASSWORD)
    Release.objects.filter(pk=gate.release_id).update(owner=owner.user)
    assert_problem(owner.post_json(f"/api/v1/gates/{gate.pk}/sign-off/", _signature(owner, gate)), 403)


# --- freeze windows -------------------------------------------------------------------------------


def test_freeze_windows_are_written_as_the_admin_writes_them(api_client_for):
    client = api_client_for(roles.ENVIRONMENT_ADMIN)
    data = {"scope": "global", "starts_at": f.moment(0).isoformat(), "ends_at": f.moment(48).isoformat()}
    response = client.post_json("/api/v1/freeze-windows/", data | {"reason": "Quarter close"})
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert _audited("freezewindow.create", client.user).object_id == str(pk)
    response = client.patch_json(f"/api/v1/freeze-windows/{pk}/", {"reason": "Year end"})
    assert response.json()["reason"] == "Year end" and _audited("freezewindow.update", client.user)
    # The model's rules: a portfolio's window names its portfolio.
    assert_problem(client.patch_json(f"/api/v1/freeze-windows/{pk}/", {"scope": "portfolio"}), 422)
    assert client.delete(f"/api/v1/freeze-windows/{pk}/").status_code == 204
    assert _audited("freezewindow.delete", client.user)


def test_freeze_windows_need_the_admins_permissions(api_client_for):
    window = f.FreezeWindowFactory()
    client = api_client_for(roles.RELEASE_MANAGER)
    assert client.get("/api/v1/freeze-windows/").json()["count"] == 1
    assert_problem(client.patch_json(f"/api/v1/freeze-windows/{window.pk}/", {"reason": "x"}), 403)
    assert_problem(client.delete(f"/api/v1/freeze-windows/{window.pk}/"), 403)
    assert_problem(client.post_json("/api/v1/freeze-windows/", {}), 403)


@pytest.mark.parametrize(
    "body",
    [b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"environment": 1e999, "purpose": "x"}', b"[1, 2]", b"\xff"],
    ids=["deep", "infinite", "not-an-object", "not-utf8"],
)
def test_hostile_bodies_are_400_problems(api_client_for, body):
    client = api_client_for(roles.RELEASE_MANAGER)
    assert_problem(client.post("/api/v1/bookings/", body, content_type="application/json"), 400)
    assert not Booking.objects.exists()
