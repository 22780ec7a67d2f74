"""The audit trail: one hash chain, written in the transaction of the change, and tampering is named."""

import json
from datetime import timedelta
from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from releases.audit import GENESIS_HASH, HASHED_FIELDS, audit_record, audit_verify, event_hash, snapshot
from releases.models import AuditChainHead, AuditEvent, Release, SignOff
from releases.planning.services.releases import release_create, release_update
from tests import factories as f

pytestmark = pytest.mark.django_db


def record(n: int) -> list[AuditEvent]:
    return [
        audit_record(actor=None, action="test.event", object_type="test", object_id=str(i), after={"n": i})
        for i in range(1, n + 1)
    ]


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=None, action="test.event", object_type="test", object_id="1")
    assert not AuditEvent.objects.exists()
    with transaction.atomic():
        audit_record(actor=None, action="test.event", object_type="test", object_id="1")
    assert AuditEvent.objects.count() == 1


def test_events_form_one_chain():
    user = f.UserFactory()
    events = record(3)
    events.append(audit_record(actor=user, action="test.by_user", object_type="test", object_id="4"))
    stored = list(AuditEvent.objects.order_by("seq"))
    assert [event.seq for event in stored] == [1, 2, 3, 4]
    assert stored[0].prev_hash == GENESIS_HASH
    for previous, event in pairwise(stored):
        assert event.prev_hash == previous.hash
    assert len({event.hash for event in stored}) == 4
    assert (stored[-1].actor, stored[-1].actor_label) == (user, user.username)
    assert (stored[0].actor, stored[0].actor_label) == (None, "system")
    head = AuditChainHead.objects.get()
    assert (head.seq, head.hash) == (4, stored[-1].hash)


def test_verify_passes_an_intact_chain():
    record(5)
    result = audit_verify(chunk_size=2)
    assert result.ok
    assert result.checked == 5
    assert result.bad_seq is None


def switch_off_append_only_guard(table: str = "releases_auditevent") -> None:
    """Tamper as a database owner would: lift the table's guard triggers first (undone with the test's
    transaction). The app itself cannot change or remove an event (see the tests at the end of this
    module)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while FK checks are pending
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')


def test_verify_passes_an_empty_chain():
    assert audit_verify().as_dict() == {
        "ok": True,
        "checked": 0,
        "bad_seq": None,
        "bad_id": None,
        "problem": "",
    }


def test_verify_names_a_changed_row():
    events = record(4)
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=events[1].pk).update(after={"n": 200})
    result = audit_verify()
    assert not result.ok
    assert (result.bad_seq, result.bad_id) == (2, events[1].pk)
    assert result.checked == 1
    assert "changed" in result.problem


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite stores JSON and times as text")
@pytest.mark.parametrize(
    ("column", "text"),
    [
        ("after", '{"n": 200}'),
        ("after", ' {"n": 2}'),  # the same value, written around the app: still named
        ("after", '{"n": 2} '),
        ("created_at", "2031-01-01 00:00:00"),
        ("created_at", "2030-01-07T09:00:00"),  # another spelling is a change too
    ],
)
def test_verify_names_a_row_whose_stored_text_was_changed(column, text):
    """audit_verify reads the columns' stored text; whatever is written there outside the ORM is named."""
    events = record(3)
    switch_off_append_only_guard()
    sql = {
        "after": "UPDATE releases_auditevent SET after = %s WHERE id = %s",
        "created_at": "UPDATE releases_auditevent SET created_at = %s WHERE id = %s",
    }[column]
    with connection.cursor() as cursor:
        cursor.execute(sql, [text, events[1].pk])
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, 2, events[1].pk)
    assert "changed" in result.problem


def test_verify_names_a_row_rewritten_with_a_fresh_hash_by_the_next_link():
    events = record(3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.after = {"n": 200}
    forged.hash = event_hash(**{name: getattr(forged, name) for name in HASHED_FIELDS})
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=forged.pk).update(after=forged.after, hash=forged.hash)
    result = audit_verify()
    assert not result.ok
    assert (result.bad_seq, result.bad_id) == (3, events[2].pk)
    assert "link" in result.problem


def test_verify_names_the_gap_left_by_a_deleted_middle_row():
    events = record(4)
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=events[1].pk).delete()
    result = audit_verify()
    assert not result.ok
    assert (result.bad_seq, result.bad_id) == (3, events[2].pk)
    assert "expected #2" in result.problem
    assert "removed" in result.problem


def test_verify_detects_a_deleted_last_row_through_the_head():
    events = record(3)
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=events[-1].pk).delete()
    result = audit_verify()
    assert not result.ok
    assert result.bad_seq == 3
    assert result.checked == 2
    assert "removed" in result.problem


def test_audit_verify_command_reports_success(capsys):
    record(3)
    call_command("audit_verify")
    assert "Audit chain OK: 3 events verified, 0 checkpoints" in capsys.readouterr().out


def test_audit_verify_command_fails_naming_the_bad_event():
    events = record(3)
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=events[1].pk).update(action="test.forged")
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    message = str(excinfo.value)
    assert "#2" in message
    assert f"id {events[1].pk}" in message
    assert "1 events before it verified" in message


def test_snapshot_hides_encrypted_fields():
    connection = f.ConnectionFactory(credentials={"username": "bot", "token": "plain-secret"})
    data = snapshot(connection)
    assert data["credentials_encrypted"] == "(set)"
    assert data["webhook_secret_encrypted"] == ""
    assert data["name"] == connection.name
    dumped = json.dumps(data)
    assert connection.credentials_encrypted not in dumped
    assert "plain-secret" not in dumped


# --- services ------------------------------------------------------------------------------------


def test_release_create_is_audited():
    user, application = f.UserFactory(), f.ApplicationFactory()
    release = release_create(application=application, version="3.1.0", target_date=f.day(30), by=user)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_type) == ("release.create", user, "releases.release")
    assert event.object_id == str(release.pk)
    assert event.before is None
    assert event.after["version"] == "3.1.0"
    assert event.after["target_date"] == f.day(30).isoformat()


def test_release_update_records_before_and_after():
    user = f.UserFactory()
    release = f.ReleaseFactory(target_date=f.day(10))
    release_update(release=release, by=user, target_date=f.day(12), summary="Moved two days")
    event = AuditEvent.objects.get()
    assert event.action == "release.update"
    assert (event.before["target_date"], event.after["target_date"]) == (
        f.day(10).isoformat(),
        f.day(12).isoformat(),
    )
    assert event.after["summary"] == "Moved two days"
    assert Release.objects.get(pk=release.pk).target_date == f.day(12)


def test_release_update_without_a_change_writes_nothing():
    release = f.ReleaseFactory()
    release_update(
        release=release, by=f.UserFactory(), target_date=release.target_date, version=release.version
    )
    assert not AuditEvent.objects.exists()


def test_invalid_release_update_changes_nothing_and_writes_no_event():
    release = f.ReleaseFactory(target_date=f.day(10))
    with pytest.raises(ValidationError):
        release_update(release=release, by=f.UserFactory(), code_freeze_date=f.day(11))
    assert Release.objects.get(pk=release.pk).code_freeze_date is None
    assert not AuditEvent.objects.exists()


def test_release_update_rolls_back_when_the_audit_write_fails(monkeypatch):
    release = f.ReleaseFactory(target_date=f.day(10))

    def broken_audit(**kwargs):
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr("releases.records.audit_record", broken_audit)
    with pytest.raises(RuntimeError):
        release_update(release=release, by=f.UserFactory(), target_date=f.day(20))
    assert Release.objects.get(pk=release.pk).target_date == f.day(10)


def test_release_create_rejects_unknown_fields_before_writing():
    with pytest.raises(TypeError):
        release_create(
            application=f.ApplicationFactory(),
            version="1.0",
            target_date=f.day(1),
            by=None,
            freeze_override_reason="sneaky",
        )
    assert not Release.objects.exists()
    assert not AuditEvent.objects.exists()


# --- admin ---------------------------------------------------------------------------------------


def _release_form(release: Release | None = None, **changes) -> dict:
    data = {
        "application": release.application_id if release else "",
        "train": (release.train_id or "") if release else "",
        "version": release.version if release else "",
        "summary": release.summary if release else "",
        "status": release.status if release else "planned",
        "target_date": release.target_date.isoformat() if release else "",
        "code_freeze_date": "",
        "actual_date": "",
        "owner": "",
        "freeze_override_by": "",
        "freeze_override_reason": "",
        "source": "",
        "external_id": "",
        "upstream_links-TOTAL_FORMS": "0",
        "upstream_links-INITIAL_FORMS": "0",
        "upstream_links-MIN_NUM_FORMS": "0",
        "upstream_links-MAX_NUM_FORMS": "1000",
    }
    return data | changes


def test_admin_add_change_and_delete_of_a_release_are_audited(superuser_client, superuser):
    application = f.ApplicationFactory()

    response = superuser_client.post(
        reverse("admin:releases_release_add"),
        _release_form(application=application.pk, version="9.0.0", target_date=f.day(40).isoformat()),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get(application=application, version="9.0.0")
    created = AuditEvent.objects.get(action="release.create")
    assert (created.actor, created.object_id, created.before) == (superuser, str(release.pk), None)
    assert created.after["version"] == "9.0.0"

    response = superuser_client.post(
        reverse("admin:releases_release_change", args=[release.pk]),
        _release_form(release, summary="Scope agreed", target_date=f.day(41).isoformat()),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    updated = AuditEvent.objects.get(action="release.update")
    assert (updated.before["summary"], updated.after["summary"]) == ("", "Scope agreed")
    assert (updated.before["target_date"], updated.after["target_date"]) == (
        f.day(40).isoformat(),
        f.day(41).isoformat(),
    )

    response = superuser_client.post(
        reverse("admin:releases_release_delete", args=[release.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Release.objects.filter(pk=release.pk).exists()
    deleted = AuditEvent.objects.get(action="release.delete")
    assert (deleted.actor, deleted.object_id, deleted.after) == (superuser, str(release.pk), None)
    assert deleted.before["summary"] == "Scope agreed"
    assert deleted.before["repr"] == f"{application.key} 9.0.0"

    assert audit_verify().checked == 3


def test_admin_bulk_delete_audits_each_release(superuser_client):
    releases = f.ReleaseFactory.create_batch(3)
    response = superuser_client.post(
        reverse("admin:releases_release_changelist"),
        {"action": "delete_selected", "_selected_action": [r.pk for r in releases[:2]], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(Release.objects.all()) == [releases[2]]
    deleted_ids = set(AuditEvent.objects.filter(action="release.delete").values_list("object_id", flat=True))
    assert deleted_ids == {str(releases[0].pk), str(releases[1].pk)}


def test_an_invalid_admin_save_writes_no_event(superuser_client):
    release = f.ReleaseFactory(target_date=f.day(10))
    response = superuser_client.post(
        reverse("admin:releases_release_change", args=[release.pk]),
        _release_form(release, code_freeze_date=(f.day(10) + timedelta(days=1)).isoformat()),
    )
    assert response.status_code == 200  # the form again, with the error
    assert Release.objects.get(pk=release.pk).code_freeze_date is None
    assert not AuditEvent.objects.exists()


def test_the_database_refuses_to_change_an_audit_event():
    event = record(1)[0]
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="test.forged")
    assert audit_verify().ok


def test_the_database_refuses_to_change_a_sign_off():
    signoff = f.SignOffFactory()
    with pytest.raises(IntegrityError, match="never changed"), transaction.atomic():
        SignOff.objects.filter(pk=signoff.pk).update(decision="reject", comment="changed my mind")


def test_both_databases_refuse_to_delete_audit_events_and_sign_offs():
    event, signoff = record(1)[0], f.SignOffFactory()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(IntegrityError, match="never changed"), transaction.atomic():
        SignOff.objects.filter(pk=signoff.pk).delete()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM releases_auditevent")
    assert audit_verify().ok


def test_release_create_queues_its_forecast_after_the_commit(monkeypatch, django_capture_on_commit_callbacks):
    from releases import tasks

    queued = []
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: queued.append(True))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        release_create(application=f.ApplicationFactory(), version="3.2.0", target_date=f.day(30), by=None)
    assert queued == [], "nothing is sent before the commit"
    for callback in callbacks:
        callback()
    assert queued == [True]
