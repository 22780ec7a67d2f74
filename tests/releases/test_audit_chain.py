"""The keyed chain, its checkpoints outside the database, and the sign-offs checked against their events.

Each tamper is done as a database owner would (raw SQL, the guard triggers lifted first) and each one
passed the unkeyed, unanchored chain of before: audit_verify must now name the first bad event."""

import hashlib
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from releases.audit import (
    HASHED_FIELDS,
    audit_checkpoint,
    audit_record,
    audit_record_many,
    audit_verify,
    chain_mac,
    checkpoint_path,
    event_hash,
)
from releases.models import AuditChainHead, AuditEvent, SignOff
from tests import factories as f
from tests.releases.test_audit import switch_off_append_only_guard

pytestmark = pytest.mark.django_db

MIGRATION = next((Path(__file__).parents[2] / "releases" / "migrations").glob("*audit_keyed_chain.py"))


def record(n: int, start: int = 1) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(
                actor=None, action="test.event", object_type="test", object_id=str(i), after={"n": i}
            )
            for i in range(start, start + n)
        ]


def unkeyed_hash(event: AuditEvent) -> str:
    """The chain's rule before it was keyed: SHA-256 of the previous hash and the content."""
    content = [event.seq, event.actor_id, event.actor_label, event.action, event.object_type]
    content += [event.object_id, event.object_repr, event.before, event.after]
    content.append(event.created_at.astimezone(UTC).isoformat())
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((event.prev_hash + canonical).encode()).hexdigest()


def rewrite_from(seq: int, *, after: dict, rehash) -> None:
    """Change event `seq`'s content and recompute its hash and every later one (and the head) with
    `rehash(event)`, as someone who can write the database would."""
    switch_off_append_only_guard()
    switch_off_append_only_guard("releases_auditchainhead")
    events = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    events[0].after = after
    with connection.cursor() as cursor:
        for event in events:  # new hashes first out of the way of the unique constraints
            cursor.execute(
                "UPDATE releases_auditevent SET hash = %s WHERE id = %s", [f"{event.pk:064x}", event.pk]
            )
        for event in events:
            event.prev_hash = prev
            event.hash = rehash(event)
            prev = event.hash
            cursor.execute(
                "UPDATE releases_auditevent SET after = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(event.after), event.prev_hash, event.hash, event.pk],
            )
        cursor.execute("UPDATE releases_auditchainhead SET hash = %s WHERE id = 1", [prev])


def delete_newest(count: int) -> None:
    switch_off_append_only_guard()
    switch_off_append_only_guard("releases_auditchainhead")
    head = AuditChainHead.objects.get()
    keep = head.seq - count
    new_head = AuditEvent.objects.get(seq=keep)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM releases_auditevent WHERE seq > %s", [keep])
        cursor.execute(
            "UPDATE releases_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [keep, new_head.hash]
        )


# --- (a) a rewritten event whose later hashes are recomputed --------------------------------------


def test_a_rewrite_with_recomputed_hashes_is_named_without_the_key():
    events = record(5)
    rewrite_from(3, after={"n": 300}, rehash=unkeyed_hash)
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id, result.checked) == (False, 3, events[2].pk, 2)
    assert "keyed hash" in result.problem


def test_a_rewrite_with_a_guessed_key_is_named():
    events = record(4)
    guess = chain_mac("not the instance's key")
    rewrite_from(2, after={"n": 200}, rehash=lambda e: event_hash(**_fields(e), mac=guess))
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, 2, events[1].pk)


def test_a_rewrite_with_the_key_is_named_by_the_checkpoint_after_it():
    """Someone with the key and the database recomputes a valid chain; the checkpoint written before
    (outside the database) still holds the old hash of #4, the first checkpointed event at or after
    the rewrite."""
    events = record(4)
    assert audit_checkpoint().seq == 4
    record(2, start=5)
    rewrite_from(2, after={"n": 200}, rehash=lambda e: event_hash(**_fields(e)))
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, 4, events[3].pk)
    assert "checkpoint" in result.problem and "rewritten" in result.problem


def _fields(event: AuditEvent) -> dict:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


# --- (b) the newest events deleted and the head moved back ----------------------------------------


def test_deleting_the_newest_events_and_rewinding_the_head_is_named_by_the_checkpoint():
    record(6)
    audit_checkpoint()
    delete_newest(2)
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id, result.checked) == (False, 5, None, 4)
    assert "checkpoint" in result.problem and "#6" in result.problem and "removed" in result.problem


def test_without_a_checkpoint_past_them_the_newest_events_can_be_removed_unseen():
    """The control case: what the checkpoints add. Events after the latest checkpoint are not anchored."""
    record(3)
    audit_checkpoint()
    record(3, start=4)
    delete_newest(2)
    assert audit_verify().ok


def test_a_head_rewound_without_touching_the_events_is_named():
    events = record(5)
    audit_checkpoint()
    switch_off_append_only_guard("releases_auditchainhead")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE releases_auditchainhead SET seq = 3, hash = %s WHERE id = 1", [events[2].hash])
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, 4, events[3].pk)
    assert "head" in result.problem and "moved back" in result.problem


def test_the_database_refuses_to_move_the_head_back_or_delete_it():
    record(3)
    with pytest.raises(IntegrityError, match="only moves forward"), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).update(seq=1)
    with pytest.raises(IntegrityError, match="only moves forward"), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).delete()
    assert audit_verify().ok


# --- (c) sign-offs --------------------------------------------------------------------------------


def test_a_changed_sign_off_row_is_named_with_its_event():
    f.SignOffFactory()
    signoff = f.SignOffFactory(comment="")
    event = AuditEvent.objects.get(action="signoff.create", object_id=str(signoff.pk))
    switch_off_append_only_guard("releases_signoff")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE releases_signoff SET decision = 'reject', comment = 'changed my mind' WHERE id = %s",
            [signoff.pk],
        )
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, event.seq, event.pk)
    assert f"sign-off #{signoff.pk}" in result.problem
    assert "comment, decision changed" in result.problem


def test_a_deleted_sign_off_row_is_named_with_its_event():
    signoff = f.SignOffFactory()
    event = AuditEvent.objects.get(action="signoff.create", object_id=str(signoff.pk))
    switch_off_append_only_guard("releases_signoff")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM releases_signoff WHERE id = %s", [signoff.pk])
    result = audit_verify()
    assert (result.ok, result.bad_seq, result.bad_id) == (False, event.seq, event.pk)
    assert "gone" in result.problem


def test_a_sign_off_written_around_the_application_is_named():
    gate, signer = f.GateFactory(), f.UserFactory()
    SignOff.objects.create(
        gate=gate,
        signer=signer,
        signer_name="Mallory",
        decision="approve",
        meaning="I approve.",
        signed_at=timezone.now(),
        state_hash="a" * 64,
    )
    result = audit_verify()
    assert not result.ok
    assert "Mallory" in result.problem and "no signoff.create event" in result.problem


def test_a_sign_off_made_through_the_service_verifies(client_for):
    signoff = f.SignOffFactory()
    result = audit_verify()
    assert (result.ok, result.signoffs) == (True, 1)
    event = AuditEvent.objects.get(action="signoff.create")
    assert (event.release_id, event.portfolio_id) == (
        signoff.gate.release_id,
        signoff.gate.release.application.portfolio_id,
    )


# --- the checkpoint file --------------------------------------------------------------------------


def test_a_checkpoint_is_written_only_when_the_chain_grew(tmp_path):
    assert audit_checkpoint() is None  # an empty chain
    record(2)
    first = audit_checkpoint()
    assert (first.seq, first.hash) == (2, AuditChainHead.objects.get().hash)
    assert audit_checkpoint() is None
    record(1, start=3)
    assert audit_checkpoint().seq == 3
    lines = [json.loads(line) for line in checkpoint_path().read_text().splitlines()]
    assert [line["seq"] for line in lines] == [2, 3]
    assert set(lines[0]) == {"seq", "hash", "at", "mac"}
    assert audit_verify().checkpoints == 2


def test_an_edited_checkpoint_line_is_named():
    record(3)
    audit_checkpoint()
    path = checkpoint_path()
    line = json.loads(path.read_text())
    line["seq"] = 2
    path.write_text(json.dumps(line) + "\n")
    result = audit_verify()
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "line 1" in result.problem and "not signed" in result.problem


def test_a_checkpoint_is_refused_on_a_chain_that_does_not_link_onto_the_last_one():
    events = record(3)
    audit_checkpoint()
    record(2, start=4)
    switch_off_append_only_guard()
    AuditEvent.objects.filter(pk=events[2].pk + 1).update(after={"n": 40})
    with pytest.raises(ValueError, match="#4"):
        audit_checkpoint()
    with pytest.raises(CommandError, match="No checkpoint written"):
        call_command("audit_checkpoint")


def test_the_commands_write_and_compare_an_exported_copy(tmp_path, capsys):
    record(3)
    call_command("audit_checkpoint")
    assert "Checkpoint #3" in capsys.readouterr().out
    export = tmp_path / "auditor-copy.jsonl"
    export.write_text(checkpoint_path().read_text())
    checkpoint_path().unlink()  # the instance's file lost (or emptied by whoever rewound the chain)
    delete_newest(1)
    call_command("audit_verify")  # nothing to compare with: the removal goes unseen
    with pytest.raises(CommandError, match=r"event #3: the chain ends at #2 but the checkpoint"):
        call_command("audit_verify", "--checkpoints", str(export))


def test_the_beat_task_writes_a_checkpoint():
    from releases.tasks import audit_checkpoint_task

    record(2)
    assert audit_checkpoint_task() == {"written": True, "seq": 2}
    assert audit_checkpoint_task() == {"written": False, "seq": None}


# --- audit_record_many: actor and time per entry --------------------------------------------------


def test_audit_record_many_takes_an_actor_and_a_time_per_entry():
    sofia, system_time = f.UserFactory(username="sofia"), timezone.now() - timedelta(days=30)
    with transaction.atomic():
        events = audit_record_many(
            actor=None,
            entries=[
                {"action": "test.a", "object_type": "test", "at": system_time},
                {
                    "action": "test.b",
                    "object_type": "test",
                    "actor": sofia,
                    "at": system_time + timedelta(days=1),
                },
                {"action": "test.c", "object_type": "test"},
            ],
        )
    assert [(e.actor_label, e.created_at) for e in events[:2]] == [
        ("system", system_time),
        ("sofia", system_time + timedelta(days=1)),
    ]
    assert events[2].created_at > system_time
    assert audit_verify().ok


@pytest.mark.parametrize(
    "times",
    [
        [timedelta(days=-2), timedelta(days=-3)],  # backwards inside the batch
        [timedelta(days=1)],  # in the future
        [timedelta(days=-400)],  # before the chain's last event
    ],
)
def test_audit_record_many_refuses_times_that_go_backwards(times):
    base = timezone.now()
    with transaction.atomic():
        audit_record_many(
            actor=None,
            entries=[{"action": "test.first", "object_type": "test", "at": base - timedelta(days=300)}],
        )
    entries = [{"action": "test.x", "object_type": "test", "at": base + delta} for delta in times]
    with pytest.raises(ValueError), transaction.atomic():
        audit_record_many(actor=None, entries=entries)
    assert AuditEvent.objects.count() == 1


def test_audit_record_many_refuses_a_naive_time():
    with pytest.raises(ValueError, match="time zone"), transaction.atomic():
        audit_record_many(
            actor=None, entries=[{"action": "test.x", "object_type": "test", "at": datetime(2030, 1, 1)}]
        )


# --- the upgrade: re-keying an existing chain -----------------------------------------------------


def _migration():
    spec = importlib.util.spec_from_file_location("audit_keyed_chain", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _to_unkeyed_chain(module):
    from django.apps import apps

    switch_off_append_only_guard()
    module.unkey(apps, connection)


def test_the_upgrade_rekeys_a_chain_that_verifies_with_the_old_rule():
    from django.apps import apps

    module = _migration()
    signoff = f.SignOffFactory()
    record(3)
    _to_unkeyed_chain(module)
    AuditEvent.objects.update(release=None, portfolio=None)
    assert not audit_verify().ok  # the old rule's hashes do not pass the keyed check
    module.rekey(apps, connection, key=settings.AUDIT_CHAIN_KEY)
    assert audit_verify().ok
    event = AuditEvent.objects.get(action="signoff.create")
    assert event.release_id == signoff.gate.release_id  # the scope columns are filled from the event's data


def test_the_upgrade_refuses_a_chain_that_does_not_verify():
    from django.apps import apps

    module = _migration()
    events = record(3)
    _to_unkeyed_chain(module)
    AuditEvent.objects.filter(pk=events[1].pk).update(action="test.forged")
    with pytest.raises(RuntimeError, match="does not verify at event #2"):
        module.rekey(apps, connection, key="k")
