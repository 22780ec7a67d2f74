"""The tamper-evident audit trail: one hash chain per instance.

Every audited write calls audit_record() inside its own transaction. The chain head row is locked
for the rest of that transaction, so concurrent writers append one after the other and the chain
never forks (AuditEvent.prev_hash is also unique in the database).
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from releases.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def snapshot(obj: models.Model) -> dict:
    """The stored state of a row as JSON-safe data (foreign keys as ids)."""
    data = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    for name in data:
        if name.endswith("_encrypted"):  # secrets never enter the trail, only whether one is set
            data[name] = "(set)" if data[name] else ""
    return json_safe(data)


def json_safe(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    actor_id,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    before,
    after,
    created_at,
) -> str:
    content = [seq, actor_id, actor_label, action, object_type, object_id, object_repr, before, after]
    return _digest(prev_hash, content, created_at.isoformat())


# Built once: json.dumps() with options makes a new encoder per call, a third of verifying a long chain.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(prev_hash: str, content: list, created_iso: str) -> str:
    return hashlib.sha256((prev_hash + _CANONICAL.encode([*content, created_iso])).encode()).hexdigest()


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    With `obj`, the object type/id/repr come from it and `after` defaults to its snapshot.
    `actor` is a user, or None for the system (syncs, beat).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must run inside the transaction of the change it records")
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
    event = _new_event(
        head,
        actor,
        action=action,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )
    event.save(force_insert=True)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])
    return event


def audit_record_many(*, actor, entries: list[dict]) -> list[AuditEvent]:
    """audit_record() for many changes of one transaction (each entry holds its keyword arguments but
    the actor), chained in order: one lock of the head, one insert, one update, whatever their number."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many() must run inside the transaction of the changes it records")
    if not entries:
        return []
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
    events = []
    for entry in entries:
        events.append(_new_event(head, actor, **entry))
        head.seq, head.hash = events[-1].seq, events[-1].hash
    AuditEvent.objects.bulk_create(events)
    head.save(update_fields=["seq", "hash"])
    return events


def _new_event(
    head: AuditChainHead,
    actor,
    *,
    action: str,
    obj=None,
    object_type="",
    object_id="",
    before=None,
    after=None,
) -> AuditEvent:
    """The event that follows `head`, hashed (not saved)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        after = snapshot(obj) if after is None else after
    event = AuditEvent(
        seq=head.seq + 1,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=str(obj)[:300] if obj is not None else "",
        before=json_safe(before) if before is not None else None,
        after=json_safe(after) if after is not None else None,
        created_at=timezone.now(),
        prev_hash=head.hash,
    )
    event.hash = _hash_of(event)
    return event


def _hash_of(event: AuditEvent) -> str:
    return event_hash(
        prev_hash=event.prev_hash,
        seq=event.seq,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        object_repr=event.object_repr,
        before=event.before,
        after=event.after,
        created_at=event.created_at,
    )


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    bad_seq: int | None = None
    bad_id: int | None = None
    problem: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bad_seq": self.bad_seq,
            "bad_id": self.bad_id,
            "problem": self.problem,
        }


# What an event's hash covers: the arguments of event_hash(), each an AuditEvent field.
HASHED_FIELDS = (
    "seq",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "created_at",
    "prev_hash",
)
_VERIFY_COLUMNS = ("id", *HASHED_FIELDS, "hash")


def audit_verify(*, chunk_size: int = 5000) -> ChainVerification:
    """Walk the whole chain in order; the first row whose links or content do not match is named.

    Rows are read with a plain (server-side on PostgreSQL) cursor rather than the ORM: its per-row
    field converters were most of the time over a million events."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for pk, seq, *content, before, after, created_at, prev_hash, stored_hash in _chain_rows(chunk_size):
        problem = ""
        if seq != expected_seq:
            problem = f"sequence gap: expected #{expected_seq}, found #{seq} (an event was removed)"
        elif prev_hash != expected_prev:
            problem = "previous-hash link broken (an earlier event was removed or rewritten)"
        elif stored_hash != _digest(
            prev_hash, [seq, *content, _json(before), _json(after)], _iso(created_at)
        ):
            problem = "content does not match its hash (the row was changed)"
        if problem:
            return ChainVerification(False, checked, bad_seq=seq, bad_id=pk, problem=problem)
        expected_prev, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (checked, expected_prev):
        return ChainVerification(
            False,
            checked,
            bad_seq=head.seq,
            problem="the chain ends before its recorded head (latest events were removed)",
        )
    return ChainVerification(True, checked)


def _chain_rows(chunk_size: int):
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _VERIFY_COLUMNS)
    with connection.chunked_cursor() as cursor:
        table = quote(AuditEvent._meta.db_table)
        cursor.execute(f"SELECT {columns} FROM {table} ORDER BY {quote('seq')}")  # noqa: S608 (names only)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


_DECODE = json.JSONDecoder().raw_decode


def _json(value):
    """A JSON column as stored: text from a plain cursor (SQLite, and psycopg as Django sets it up).
    Django writes it without surrounding whitespace, so raw_decode (json.loads minus its whitespace
    scans) reads it; any other text is kept as text, cannot match its hash and is named as changed."""
    if not isinstance(value, str):
        return value
    try:
        decoded, end = _DECODE(value)
    except ValueError:  # leading whitespace
        return value
    return decoded if end == len(value) else value


def _iso(created_at) -> str:
    """The stored time as event_hash saw it (aware UTC, isoformat). SQLite stores naive UTC text,
    "2030-01-07 09:00:00[.ffffff]": the same characters with a "T" and the offset. Any other text
    comes out different and fails as changed content, never as a pass."""
    if isinstance(created_at, str):
        return created_at.replace(" ", "T", 1) + "+00:00"
    return created_at.astimezone(UTC).isoformat()
