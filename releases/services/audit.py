"""The tamper-evident audit trail: one hash chain per instance.

Every audited write calls audit_record() inside its own transaction. The chain head row is locked
for the rest of that transaction, so concurrent writers append one after the other and the chain
never forks (AuditEvent.prev_hash is also unique in the database).
"""

import hashlib
import json
from dataclasses import dataclass

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
    content = json.dumps(
        [
            seq,
            actor_id,
            actor_label,
            action,
            object_type,
            object_id,
            object_repr,
            before,
            after,
            created_at.isoformat(),
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


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
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        after = snapshot(obj) if after is None else after
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
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
    event.save(force_insert=True)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])
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


_VERIFY_FIELDS = (
    "id",
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
    "hash",
)


def audit_verify(*, chunk_size: int = 5000) -> ChainVerification:
    """Walk the whole chain in order; the first row whose links or content do not match is named."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    rows = AuditEvent.objects.order_by("seq").values_list(*_VERIFY_FIELDS).iterator(chunk_size=chunk_size)
    for row in rows:
        event = dict(zip(_VERIFY_FIELDS, row, strict=True))
        problem = ""
        if event["seq"] != expected_seq:
            problem = f"sequence gap: expected #{expected_seq}, found #{event['seq']} (an event was removed)"
        elif event["prev_hash"] != expected_prev:
            problem = "previous-hash link broken (an earlier event was removed or rewritten)"
        elif event["hash"] != event_hash(**{k: event[k] for k in _VERIFY_FIELDS if k not in ("id", "hash")}):
            problem = "content does not match its hash (the row was changed)"
        if problem:
            return ChainVerification(
                False, checked, bad_seq=event["seq"], bad_id=event["id"], problem=problem
            )
        expected_prev, expected_seq, checked = event["hash"], expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (checked, expected_prev):
        return ChainVerification(
            False,
            checked,
            bad_seq=head.seq,
            problem="the chain ends before its recorded head (latest events were removed)",
        )
    return ChainVerification(True, checked)
