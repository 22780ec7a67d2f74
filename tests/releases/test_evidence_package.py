"""The auditor's evidence package: a zip with report.html and evidence.json holding the release, gates,
evidence, sign-offs, waivers, audit events with their hashes and the chain verification; tampering
shows; only auditors and admins export, and each export (or refusal) is audited."""

import hashlib
import io
import json
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.audit import audit_record, snapshot
from releases.gates.evidence_package import evidence_package_build
from releases.models import AuditEvent
from tests import factories as f
from tests.releases.test_audit import switch_off_append_only_guard

pytestmark = pytest.mark.django_db


@pytest.fixture
def release():
    application = f.ApplicationFactory(key="PAY", name="Payments")
    owner = f.UserFactory(first_name="Olive", last_name="Owner")
    return f.ReleaseFactory(application=application, version="4.2", owner=owner, summary="Faster payouts")


@pytest.fixture
def signed(release):
    """A security gate signed by a reviewer, a waived CAB gate, and their audit events."""
    gate = f.GateFactory(
        release=release,
        kind="security",
        name="Security review",
        evidence_ok=True,
        evidence_summary="0 open blockers",
        evidence_open_blockers=0,
        evidence_source="Jira PAY",
        evidence_at=f.moment(1),
    )
    audit_record(actor=None, action="release.create", obj=release)
    # The factory records the sign-off's signoff.create event, as gate_sign does.
    signoff = f.SignOffFactory(gate=gate, signer=f.UserFactory(first_name="Sam", last_name="Reviewer"))
    waived = f.GateFactory(
        release=release,
        kind="cab",
        name="CAB",
        status="waived",
        decided_at=f.moment(3),
        waived_by=f.UserFactory(first_name="Ada", last_name="Admin"),
        waiver_reason="Emergency security fix",
    )
    audit_record(actor=waived.waived_by, action="gate.waive", obj=waived, before=snapshot(waived))
    audit_record(actor=None, action="test.elsewhere", obj=f.ReleaseFactory())  # another release's event
    return gate, signoff, waived


@pytest.fixture
def auditor(client_for):
    return client_for(roles.AUDITOR, first_name="Audrey", last_name="Auditor")


def unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name.split("/", 1)[1]: archive.read(name).decode() for name in archive.namelist()}


def download(client, release) -> dict[str, str]:
    response = client.get(f"/releases/{release.pk}/evidence.zip")
    assert response.status_code == 200
    return unzip(response.content)


def test_the_auditor_downloads_a_zip(auditor, release, signed):
    response = auditor.get(f"/releases/{release.pk}/evidence.zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="evidence-PAY-4.2-')
    assert set(unzip(response.content)) == {"report.html", "evidence.json"}


def test_the_json_holds_gates_evidence_signoffs_waivers_events_and_the_chain(auditor, release, signed):
    _, signoff, _ = signed
    data = json.loads(download(auditor, release)["evidence.json"])
    assert data["release"]["application"] == "PAY" and data["release"]["owner"] == "Olive Owner"
    security, cab = sorted(data["gates"], key=lambda g: g["name"] != "Security review")
    assert security["evidence"]["summary"] == "0 open blockers"
    assert security["evidence"]["source"] == "Jira PAY"
    assert security["signoffs"][0]["signer"] == "Sam Reviewer"
    assert security["signoffs"][0]["state_hash"] == signoff.state_hash
    assert security["signoffs"][0]["meaning"] == signoff.meaning
    assert cab["waiver"] == {"by": "Ada Admin", "reason": "Emergency security fix"}
    actions = [event["action"] for event in data["audit_events"]]
    assert actions == ["release.create", "signoff.create", "gate.waive"]  # not the other release's
    stored = AuditEvent.objects.get(action="signoff.create")
    event = data["audit_events"][1]
    assert (event["hash"], event["prev_hash"], event["hash_matches_content"]) == (
        stored.hash,
        stored.prev_hash,
        True,
    )
    assert data["chain_verification"] == {
        "ok": True,
        "checked": 4,
        "bad_seq": None,
        "bad_id": None,
        "problem": "",
    }


def test_the_report_reads_as_a_record(auditor, release, signed):
    _, signoff, _ = signed
    html = download(auditor, release)["report.html"]
    assert "<h1>PAY 4.2</h1>" in html
    assert "Chain verified: all 4 events" in html
    assert "<strong>Sam Reviewer</strong> — approve" in html
    assert signoff.state_hash in html
    assert "Waived by Ada Admin</strong>: Emergency security fix" in html
    assert "0 open blockers (meets the criteria)" in html
    assert AuditEvent.objects.get(action="gate.waive").hash in html
    assert "<link" not in html and "<script" not in html  # self-contained


def test_a_tampered_chain_shows_as_not_verified(auditor, release, signed):
    switch_off_append_only_guard()
    AuditEvent.objects.filter(action="signoff.create").update(actor_label="mallory")
    files = download(auditor, release)
    data = json.loads(files["evidence.json"])
    bad = AuditEvent.objects.get(action="signoff.create")
    assert data["chain_verification"]["ok"] is False
    assert data["chain_verification"]["bad_seq"] == bad.seq
    assert [e["hash_matches_content"] for e in data["audit_events"]] == [True, False, True]
    assert f"Chain NOT verified: event #{bad.seq}" in files["report.html"]
    assert "does not match its content" in files["report.html"]


def test_markup_in_the_release_is_escaped_in_the_report(auditor, release, signed):
    release.summary = "<script>alert('pwned')</script>"
    release.save()
    gate, _, _ = signed
    gate.evidence_summary = "<img src=x onerror=alert(1)>"
    gate.save()
    html = download(auditor, release)["report.html"]
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html


def test_the_export_is_audited_with_the_zip_hash(auditor, release, signed):
    response = auditor.get(f"/releases/{release.pk}/evidence.zip")
    event = AuditEvent.objects.get(action="evidence.export")
    assert event.actor.get_full_name() == "Audrey Auditor"
    assert (event.object_type, event.object_id) == ("releases.release", str(release.pk))
    assert event.after["sha256"] == hashlib.sha256(response.content).hexdigest()


@pytest.mark.parametrize("role", [roles.AUDITOR, roles.ADMIN])
def test_auditors_and_admins_may_export(client_for, release, role):
    assert client_for(role).get(f"/releases/{release.pk}/evidence.zip").status_code == 200


@pytest.mark.parametrize("role", [roles.PROJECT_OFFICE, roles.SECURITY_REVIEWER, roles.RELEASE_MANAGER])
def test_other_roles_are_refused_and_the_refusal_audited(client_for, release, role):
    response = client_for(role).get(f"/releases/{release.pk}/evidence.zip")
    assert response.status_code == 403
    event = AuditEvent.objects.get()
    assert (event.action, event.object_id) == ("evidence.export.denied", str(release.pk))
    assert not AuditEvent.objects.filter(action="evidence.export").exists()


def test_the_release_timeline_names_the_export(auditor, release):
    auditor.get(f"/releases/{release.pk}/evidence.zip")
    assert "Evidence package exported" in auditor.get(f"/releases/{release.pk}/").content.decode()


def test_an_unknown_release_is_404(auditor):
    assert auditor.get("/releases/999999/evidence.zip").status_code == 404
    assert not AuditEvent.objects.exists()


def test_only_get(auditor, release):
    assert auditor.post(f"/releases/{release.pk}/evidence.zip").status_code == 405


def test_the_release_page_offers_the_export_to_auditors_only(client_for, release):
    link = f'href="/releases/{release.pk}/evidence.zip"'
    assert link in client_for(roles.AUDITOR).get(f"/releases/{release.pk}/").content.decode()
    assert link not in client_for(roles.PROJECT_OFFICE).get(f"/releases/{release.pk}/").content.decode()


def _more(release, n: int) -> None:
    for _ in range(n):
        gate = f.GateFactory(release=release)
        signoff = f.SignOffFactory(gate=gate)
        audit_record(actor=None, action="gate.decide", obj=gate)
        audit_record(actor=None, action="signoff.create", obj=signoff)


def test_building_takes_the_same_queries_at_any_size(release):
    by = f.UserFactory()
    _more(release, 1)
    with CaptureQueriesContext(connection) as few:
        evidence_package_build(release=release, by=by)
    _more(release, 12)
    with CaptureQueriesContext(connection) as many:
        content = evidence_package_build(release=release, by=by).content
    assert len(few) == len(many)
    assert len(json.loads(unzip(content)["evidence.json"])["gates"]) == 13
