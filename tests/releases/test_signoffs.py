"""Signing and waiving gates: the service (segregation of duties, quorum, password re-entered, state
hash, every refusal audited, the chain still verifies) and the gate panel's endpoints (roles, CSRF,
422 for bad input, 403 for a rule broken, 409 for a gate that moved on, 404 for an unknown gate)."""

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client

from portal import roles
from releases import tasks
from releases.audit import audit_verify
from releases.gates.services.signoffs import (
    BadPassword,
    SignOffRefused,
    gate_sign,
    gate_state_hash,
    gate_waive,
    sign_blockers,
    signoff_meaning,
)
from releases.models import AuditEvent, Gate, SignOff
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """Passwords matter here, their hashing cost does not."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def notified(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.gate_decided_notify_task, "delay", lambda **kw: calls.append(kw))
    return calls


@pytest.fixture
def reviewers():
    return Group.objects.get(name=roles.SECURITY_REVIEWER)


def _person(role: str, first_name: str, **fields):
    user = f.UserFactory(first_name=first_name, last_name="Signer", password=PASSWORD, **fields)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def sofia():
    return _person(roles.SECURITY_REVIEWER, "Sofia")


@pytest.fixture
def daniel():
    return _person(roles.SECURITY_REVIEWER, "Daniel")


@pytest.fixture
def owner():
    return _person(roles.SECURITY_REVIEWER, "Olga")  # a reviewer too: only the ownership stops her


@pytest.fixture
def admin():
    return _person(roles.ADMIN, "Alex")


@pytest.fixture
def gate(reviewers, owner):
    app = f.ApplicationFactory(key="PAY", name="Payments Hub")
    release = f.ReleaseFactory(application=app, version="4.2", owner=owner, status="in_progress")
    return f.GateFactory(
        release=release,
        kind="security",
        name="Security",
        signer_group=reviewers,
        evidence_summary="No critical findings",
        evidence_source="Scanner",
        evidence_at=f.moment(1),
    )


def _sign(gate, by, decision="approve", comment="", password=PASSWORD, state_hash=None):
    gate = Gate.objects.select_related("release__application").get(pk=gate.pk)
    return gate_sign(
        gate=gate,
        by=by,
        decision=decision,
        meaning=signoff_meaning(gate, decision),
        comment=comment,
        password=password,
        state_hash=state_hash or gate_state_hash(gate),
    )


def _denials(action="gate.sign.denied") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- the service ---------------------------------------------------------------------------------


def test_a_reviewer_signs_and_the_gate_passes(gate, sofia, notified, django_capture_on_commit_callbacks):
    expected_hash = gate_state_hash(gate)
    with django_capture_on_commit_callbacks(execute=True):
        signoff = _sign(gate, sofia)
    assert (signoff.signer, signoff.signer_name, signoff.decision) == (sofia, "Sofia Signer", "approve")
    assert signoff.meaning == "I have reviewed the evidence for PAY 4.2 and approve the Security gate."
    assert signoff.reauthenticated and signoff.state_hash == expected_hash
    gate.refresh_from_db()
    assert gate.status == "passed" and gate.decided_at is not None
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "signoff.create",
        "gate.decide",
    ]
    assert notified == [{"gate_id": gate.pk}]
    assert audit_verify().ok


def test_a_quorum_gate_needs_two_different_signers(gate, sofia, daniel, notified):
    Gate.objects.filter(pk=gate.pk).update(approvals_required=2)
    _sign(gate, sofia)
    gate.refresh_from_db()
    assert gate.status == "pending"
    with pytest.raises(SignOffRefused, match="already signed") as refused:
        _sign(gate, sofia)
    assert refused.value.conflict
    assert SignOff.objects.filter(gate=gate).count() == 1
    _sign(gate, daniel)
    gate.refresh_from_db()
    assert gate.status == "passed"
    assert SignOff.objects.filter(gate=gate).count() == 2
    assert len(notified) == 0  # without the commit callbacks run: enqueued only after commit


def test_one_rejection_fails_the_gate_and_needs_a_comment(gate, sofia):
    with pytest.raises(ValidationError, match="why you reject"):
        _sign(gate, sofia, decision="reject", comment="  ")
    assert not SignOff.objects.exists()
    signoff = _sign(gate, sofia, decision="reject", comment="Two critical CVEs open")
    assert signoff.meaning.endswith("and reject the Security gate.")
    gate.refresh_from_db()
    assert (gate.status, signoff.comment) == ("failed", "Two critical CVEs open")


def _not_in_the_group(gate, user):
    gate.signer_group = f.GroupFactory(name="CAB")
    gate.save()


def _in_the_group_without_the_permission(gate, user):
    gate.signer_group = f.GroupFactory(name="Architects")
    gate.save()
    user.groups.set([gate.signer_group])


def _owns_the_release(gate, user):
    gate.release.owner = user
    gate.release.save()


def _changed_the_scope(gate, user):
    gate.release.scope_changed_by = user
    gate.release.save()


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (_not_in_the_group, "Only members of CAB sign this gate."),
        (_in_the_group_without_the_permission, "Your role does not sign gates"),
        (_owns_the_release, "You own this release: segregation of duties"),
        (_changed_the_scope, "You last changed this release's scope"),
    ],
)
def test_segregation_of_duties_refuses_and_records_the_attempt(gate, sofia, arrange, reason):
    arrange(gate, sofia)
    assert any(reason in words for words in sign_blockers(gate=gate, user=sofia))
    with pytest.raises(SignOffRefused, match=re.escape(reason)) as refused:
        _sign(gate, sofia)
    assert not refused.value.conflict
    assert not SignOff.objects.exists()
    gate.refresh_from_db()
    assert gate.status == "pending"
    (denial,) = _denials()
    assert (denial.actor, denial.object_id) == (sofia, str(gate.pk))
    assert reason in denial.after["reason"]
    assert audit_verify().ok


def test_an_eligible_reviewer_has_no_blockers(gate, sofia):
    assert sign_blockers(gate=gate, user=sofia) == []


def test_a_decided_gate_cannot_be_signed(gate, sofia, daniel):
    _sign(gate, sofia)
    with pytest.raises(SignOffRefused, match="already passed") as refused:
        _sign(gate, daniel)
    assert refused.value.conflict
    assert SignOff.objects.count() == 1


def test_a_wrong_password_stores_nothing_but_the_denial(gate, sofia):
    with pytest.raises(BadPassword):
        _sign(gate, sofia, password="guess")
    assert not SignOff.objects.exists()
    gate.refresh_from_db()
    assert gate.status == "pending"
    (denial,) = _denials()
    assert "password is not correct" in denial.after["reason"]


def test_a_stale_state_hash_is_refused(gate, sofia):
    opened = gate_state_hash(gate)
    Gate.objects.filter(pk=gate.pk).update(evidence_summary="1 critical finding")
    with pytest.raises(SignOffRefused, match="changed since you opened it") as refused:
        _sign(gate, sofia, state_hash=opened)
    assert refused.value.conflict
    assert not SignOff.objects.exists()
    assert len(_denials()) == 1


def test_the_state_hash_covers_scope_evidence_and_signatures(gate, sofia):
    first = gate_state_hash(gate)
    assert re.fullmatch(r"[0-9a-f]{64}", first) and gate_state_hash(gate) == first
    f.WorkItemFactory(application=gate.release.application).fix_releases.add(gate.release)
    with_scope = gate_state_hash(gate)
    assert with_scope != first
    Gate.objects.filter(pk=gate.pk).update(approvals_required=2)
    _sign(gate, sofia)
    assert gate_state_hash(Gate.objects.get(pk=gate.pk)) != with_scope


def test_an_admin_waives_with_a_reason(gate, admin, notified, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationError, match="Say why"):
        gate_waive(gate=gate, by=admin, reason=" ")
    gate.refresh_from_db()
    assert gate.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        gate_waive(gate=gate, by=admin, reason="Accepted risk, CISO ticket SEC-12")
    gate.refresh_from_db()
    assert (gate.status, gate.waived_by, gate.waiver_reason) == (
        "waived",
        admin,
        "Accepted risk, CISO ticket SEC-12",
    )
    assert AuditEvent.objects.get(action="gate.waive").before["status"] == "pending"
    assert notified == [{"gate_id": gate.pk}]
    with pytest.raises(SignOffRefused, match="already waived") as refused:
        gate_waive(gate=gate, by=admin, reason="again")
    assert refused.value.conflict


def test_only_an_admin_waives(gate, sofia):
    with pytest.raises(SignOffRefused, match="Only an administrator"):
        gate_waive(gate=gate, by=sofia, reason="Looks fine to me")
    gate.refresh_from_db()
    assert gate.status == "pending"
    assert len(_denials("gate.waive.denied")) == 1


# --- the endpoints -------------------------------------------------------------------------------


def _client(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def _post_sign(client, gate, *, htmx=True, **fields):
    gate = Gate.objects.select_related("release__application").get(pk=gate.pk)
    data = {
        "decision": "approve",
        "agree": "on",
        "comment": "",
        "password": PASSWORD,
        "state_hash": gate_state_hash(gate),
    } | fields
    headers = {"HX-Request": "true", "HX-Target": f"gate-{gate.pk}"} if htmx else {}
    return client.post(f"/gates/{gate.pk}/sign/", data, headers=headers)


def test_signing_over_htmx_returns_the_panel_and_the_event(gate, sofia):
    response = _post_sign(_client(sofia), gate)
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"gatesChanged": {}}
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article id="gate-{gate.pk}"')
    assert '<span class="badge gate-passed">Passed</span>' in html
    assert "Sofia Signer" in html
    assert "“I have reviewed the evidence for PAY 4.2 and approve the Security gate.”" in html
    stored = SignOff.objects.get()
    assert f'title="SHA-256 of the release and gate state signed: {stored.state_hash}"' in html
    assert f"{stored.state_hash[:12]}…" in html
    assert 'name="password"' not in html  # signed: no form left for her


def test_signing_without_htmx_redirects_back_to_the_release(gate, sofia):
    response = _post_sign(_client(sofia), gate, htmx=False)
    assert response.status_code == 302
    assert response["Location"] == f"/releases/{gate.release_id}/#gate-{gate.pk}"
    assert SignOff.objects.count() == 1


def test_the_owner_gets_403_with_the_reason_and_the_attempt_is_audited(gate, owner):
    response = _post_sign(_client(owner), gate)
    assert response.status_code == 403
    assert "You own this release: segregation of duties" in response.content.decode()
    assert not SignOff.objects.exists()
    assert _denials()[0].actor == owner


def test_a_role_without_sign_off_gets_403_even_with_an_empty_form(gate, client_for):
    response = client_for(roles.PROJECT_OFFICE).post(
        f"/gates/{gate.pk}/sign/", {}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 403
    assert "Your role does not sign gates: it lacks the sign-off permission." in response.content.decode()
    assert len(_denials()) == 1


def test_signing_needs_the_csrf_token(gate, sofia):
    response = _post_sign(_client(sofia, enforce_csrf_checks=True), gate)
    assert response.status_code == 403
    assert not SignOff.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"agree": ""}, "Tick “I agree” to sign"),
        ({"decision": "reject", "comment": ""}, "Say why you reject the gate."),
        ({"decision": "maybe"}, "Select a valid choice"),
        ({"state_hash": "not-a-hash"}, "The form lost the state you read"),
        ({"password": ""}, "This field is required."),
    ],
)
def test_bad_input_is_422_with_the_message_and_nothing_changes(gate, sofia, fields, error):
    response = _post_sign(_client(sofia), gate, **fields)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not SignOff.objects.exists()
    assert not _denials()


def test_a_wrong_password_is_422_nothing_stored_and_the_denial_audited(gate, sofia):
    response = _post_sign(_client(sofia), gate, password="guess", comment="typed before")
    assert response.status_code == 422
    html = response.content.decode()
    assert "The password is not correct: nothing was signed." in html
    assert "typed before" in html  # the comment survives, the password does not
    assert not SignOff.objects.exists()
    assert len(_denials()) == 1


def test_a_replayed_request_signs_once(gate, sofia, reviewers):
    Gate.objects.filter(pk=gate.pk).update(approvals_required=2)
    client = _client(sofia)
    gate = Gate.objects.select_related("release__application").get(pk=gate.pk)
    data = {"decision": "approve", "agree": "on", "password": PASSWORD, "state_hash": gate_state_hash(gate)}
    first = client.post(f"/gates/{gate.pk}/sign/", data, headers={"HX-Request": "true"})
    again = client.post(f"/gates/{gate.pk}/sign/", data, headers={"HX-Request": "true"})
    assert (first.status_code, again.status_code) == (200, 409)
    assert "You have already signed this gate" in again.content.decode()
    assert SignOff.objects.count() == 1


def test_a_gate_that_changed_since_it_was_opened_is_409(gate, sofia):
    stale = gate_state_hash(Gate.objects.select_related("release__application").get(pk=gate.pk))
    Gate.objects.filter(pk=gate.pk).update(evidence_summary="1 critical finding")
    response = _post_sign(_client(sofia), gate, state_hash=stale)
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed since you opened it" in html
    assert "1 critical finding" in html  # what changed is shown, with a fresh form to sign it
    assert not SignOff.objects.exists()


def test_unknown_gates_are_404(sofia, admin):
    assert _client(sofia).post("/gates/999999/sign/", {}).status_code == 404
    assert _client(admin).post("/gates/999999/waive/", {"reason": "x"}).status_code == 404
    assert _client(sofia).get("/gates/999999/").status_code == 404


def test_waiving_from_the_panel(gate, admin, sofia):
    headers = {"HX-Request": "true"}
    assert (
        _client(sofia).post(f"/gates/{gate.pk}/waive/", {"reason": "x"}, headers=headers).status_code == 403
    )
    empty = _client(admin).post(f"/gates/{gate.pk}/waive/", {"reason": ""}, headers=headers)
    assert empty.status_code == 422
    assert "This field is required." in empty.content.decode()
    gate.refresh_from_db()
    assert gate.status == "pending"
    done = _client(admin).post(f"/gates/{gate.pk}/waive/", {"reason": "Accepted <risk>"}, headers=headers)
    assert done.status_code == 200
    assert json.loads(done["HX-Trigger"]) == {"gatesChanged": {}}
    html = done.content.decode()
    assert "Waived, not passed:" in html
    assert "Accepted &lt;risk&gt;" in html
    assert (
        _client(admin).post(f"/gates/{gate.pk}/waive/", {"reason": "x"}, headers=headers).status_code == 409
    )


def test_waiving_needs_the_csrf_token(gate, admin):
    response = _client(admin, enforce_csrf_checks=True).post(f"/gates/{gate.pk}/waive/", {"reason": "x"})
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.status == "pending"


# --- what the release page shows -----------------------------------------------------------------


def _gates_section(client, gate) -> str:
    html = client.get(f"/releases/{gate.release_id}/").content.decode()
    return html.split('id="gates-title"', 1)[1].split("</section>", 1)[0]


def test_a_reviewer_sees_the_meaning_and_the_form(gate, sofia):
    section = _gates_section(_client(sofia), gate)
    assert "<q>I have reviewed the evidence for PAY 4.2 and approve the Security gate.</q>" in section
    assert "I agree to the meaning of my signature" in section
    assert 'type="password"' in section
    assert f'value="{gate_state_hash(gate)}"' in section
    assert 'value="approve"' in section and 'value="reject"' in section
    assert "Waive this gate" not in section


def test_the_owner_sees_why_they_cannot_sign(gate, owner):
    section = _gates_section(_client(owner), gate)
    assert "You cannot sign this gate." in section
    assert "You own this release: segregation of duties means its owner cannot sign its gates." in section
    assert 'type="password"' not in section


def test_an_admin_sees_the_waiver_form_and_a_waiver_stays_visible(gate, admin, sofia):
    assert "Waive this gate" in _gates_section(_client(admin), gate)
    gate_waive(gate=gate, by=admin, reason="Accepted risk")
    section = _gates_section(_client(sofia), gate)
    assert "Waived, not passed:" in section
    assert "Alex Signer let this gate through" in section
    assert "Accepted risk" in section


def test_the_release_timeline_shows_the_decisions_and_refreshes_after_one(gate, sofia, owner):
    _post_sign(_client(owner), gate)  # refused: the owner
    _post_sign(_client(sofia), gate)
    html = _client(sofia).get(f"/releases/{gate.release_id}/").content.decode()
    timeline = html.split('id="timeline-title"', 1)[1].split("</section>", 1)[0]
    lines = re.findall(r"<strong>([^<]+)</strong>", timeline)
    assert len(lines) == 3
    assert lines[0].endswith(" of PAY 4.2 passed")  # the decision
    assert lines[1].startswith(f"{sofia.get_full_name()} approved ")  # the signature, by name
    assert "tried to sign" in lines[2] and "was refused: You own this release" in lines[2]
    assert re.search(
        r'<div hidden [^>]*hx-trigger="gatesChanged from:body" hx-target="#audit-timeline"', html
    )


def test_without_htmx_a_refusal_or_bad_input_renders_the_gates_own_page(gate, owner, sofia):
    refused = _post_sign(_client(owner), gate, htmx=False)
    assert refused.status_code == 403
    assert "<h1>Security gate of PAY 4.2</h1>" in refused.content.decode()
    assert "You own this release" in refused.content.decode()
    invalid = _post_sign(_client(sofia), gate, htmx=False, agree="")
    assert invalid.status_code == 422
    assert "<h1>Security gate of PAY 4.2</h1>" in invalid.content.decode()
    assert "Tick “I agree” to sign" in invalid.content.decode()
    assert not SignOff.objects.exists()


def test_password_guessing_at_a_sign_off_is_paused_after_the_limit(gate, sofia, settings):
    client = _client(sofia)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert _post_sign(client, gate, password="guess").status_code == 422
    paused = _post_sign(client, gate)  # the right password, now refused unread
    assert paused.status_code == 429
    assert "Too many wrong passwords: signing is paused" in paused.content.decode()
    assert "Sign in to Flightdeck" not in paused.content.decode()  # the panel, not a lockout page
    assert not SignOff.objects.exists()
