"""The tamper-evident audit trail: one keyed hash chain per instance, anchored outside the database.

Every audited write calls audit_record() inside its own transaction. The chain head row is locked
for the rest of that transaction, so concurrent writers append one after the other and the chain
never forks (AuditEvent.prev_hash is also unique in the database).

An event's hash is HMAC-SHA256, keyed with settings.AUDIT_CHAIN_KEY (which the database does not hold),
over the previous hash and the event's content: someone who can write the database but does not have
the key cannot rewrite an event and recompute the hashes after it. Signed checkpoints (seq, hash, time)
appended to a file outside the database (settings.AUDIT_CHECKPOINT_FILE) catch the one who has both:
the chain cannot be rewound or rewritten below a checkpoint without audit_verify naming it. Sign-off
rows are checked against the snapshot their `signoff.create` event holds. See docs/domain.md.
"""

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from releases.models import AuditChainHead, AuditEvent, SignOff

GENESIS_HASH = "0" * 64
SIGNOFF_ACTION = "signoff.create"


def snapshot(obj: models.Model) -> dict:
    """The stored state of a row as JSON-safe data (foreign keys as ids)."""
    data = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    for name in data:
        if name.endswith("_encrypted"):  # secrets never enter the trail, only whether one is set
            data[name] = "(set)" if data[name] else ""
    return json_safe(data)


def json_safe(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# --- the keyed hash -------------------------------------------------------------------------------


def chain_mac(key: str | bytes | None = None):
    """The HMAC-SHA256 of the chain's key, ready to .copy() per event (settings.AUDIT_CHAIN_KEY unless
    `key` is given)."""
    key = settings.AUDIT_CHAIN_KEY if key is None else key
    return hmac.new(key.encode() if isinstance(key, str) else key, digestmod=hashlib.sha256)


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
    release_id: int | None = None,
    portfolio_id: int | None = None,
    mac=None,
) -> str:
    content = [seq, actor_id, actor_label, action, object_type, object_id, object_repr, before, after]
    content += [release_id, portfolio_id]
    return _digest(mac or chain_mac(), prev_hash, content, created_at.astimezone(UTC).isoformat())


# Built once: json.dumps() with options makes a new encoder per call, a third of verifying a long chain.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(mac, prev_hash: str, content: list, created_iso: str) -> str:
    digest = mac.copy()
    digest.update((prev_hash + _CANONICAL.encode([*content, created_iso])).encode())
    return digest.hexdigest()


# --- writing --------------------------------------------------------------------------------------


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
    entry = {"action": action, "obj": obj, "object_type": object_type, "object_id": object_id}
    entry |= {"before": before, "after": after}
    head = _locked_head()
    (event,) = _chain(head, actor, [entry], last_at=None)
    event.save(force_insert=True)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])
    return event


def audit_record_many(*, actor, entries: list[dict]) -> list[AuditEvent]:
    """audit_record() for many changes of one transaction, chained in order: one lock of the head, one
    insert, one update, whatever their number.

    Each entry holds audit_record's keyword arguments but the actor, plus optionally its own "actor"
    (a user or None; `actor` otherwise) and "at" (an aware datetime, for history imported or seeded
    after the fact; now otherwise). Times never go backwards along the chain: an "at" before the
    previous event's time (the chain's last event, or the entry before), or in the future, is refused
    with ValueError and nothing is written."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many() must run inside the transaction of the changes it records")
    if not entries:
        return []
    head = _locked_head()
    last_at = None
    if head.seq and any(entry.get("at") is not None for entry in entries):
        last_at = AuditEvent.objects.filter(seq=head.seq).values_list("created_at", flat=True).first()
    events = _chain(head, actor, entries, last_at=last_at)
    AuditEvent.objects.bulk_create(events)
    head.seq, head.hash = events[-1].seq, events[-1].hash
    head.save(update_fields=["seq", "hash"])
    return events


def _locked_head() -> AuditChainHead:
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
    return head


ENTRY_KEYS = {"action", "obj", "object_type", "object_id", "before", "after", "actor", "at"}


def _chain(head: AuditChainHead, actor, entries: list[dict], *, last_at) -> list[AuditEvent]:
    """The events that follow `head`, hashed and scoped (not saved)."""
    now, mac = timezone.now(), chain_mac()
    scopes = _scopes(entries)
    events, seq, prev = [], head.seq, head.hash
    for index, entry in enumerate(entries):
        if unknown := set(entry) - ENTRY_KEYS:
            raise TypeError(f"an audit entry got keys it does not take: {sorted(unknown)}")
        at = entry.get("at")
        if at is None:
            at = now
        elif timezone.is_naive(at):
            raise ValueError(f"audit entry {index + 1}: its time {at} has no time zone")
        elif at > now:
            raise ValueError(f"audit entry {index + 1}: {at.isoformat()} is in the future")
        if last_at is not None and at < last_at:
            raise ValueError(
                f"audit entry {index + 1}: {at.isoformat()} is before the previous event of the chain "
                f"({last_at.isoformat()}); events are appended in time order"
            )
        seq, last_at = seq + 1, at
        event = _new_event(seq, prev, entry.get("actor", actor), at, scopes[index], **_event_fields(entry))
        event.hash = _hash_of(event, mac)
        events.append(event)
        prev = event.hash
    return events


def _event_fields(entry: dict) -> dict:
    return {
        key: entry[key]
        for key in ("action", "obj", "object_type", "object_id", "before", "after")
        if key in entry
    }


def _new_event(
    seq: int,
    prev_hash: str,
    actor,
    at: datetime,
    scope: tuple,
    *,
    action: str,
    obj=None,
    object_type="",
    object_id="",
    before=None,
    after=None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        after = snapshot(obj) if after is None else after
    signed_in = actor is not None and actor.is_authenticated
    return AuditEvent(
        seq=seq,
        actor=actor if signed_in else None,
        actor_label=actor.get_username() if signed_in else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=str(obj)[:300] if obj is not None else "",
        before=json_safe(before) if before is not None else None,
        after=json_safe(after) if after is not None else None,
        created_at=at,
        release_id=scope[0],
        portfolio_id=scope[1],
        prev_hash=prev_hash,
    )


def _hash_of(event: AuditEvent, mac=None) -> str:
    return event_hash(**{name: getattr(event, name) for name in HASHED_FIELDS}, mac=mac)


# --- what an event is about -----------------------------------------------------------------------

_SCOPES = ("gate", "release", "application", "portfolio")  # each one up from the one before
_OWN_SCOPE = {f"releases.{name}": name for name in _SCOPES}


def _scopes(entries: list[dict]) -> list[tuple[int | None, int | None]]:
    """(release id, portfolio id) of each entry: the release and the portfolio the event is about, so
    the audit page finds a release's events (its gates', sign-offs', bookings', test runs' included)
    through one indexed column. Read from the object, its cached relations (select_related) and the
    event's data; what is still missing is read in at most three queries for all the entries."""
    from releases.models import Application, Gate, Release

    hints = [_scope_hint(entry) for entry in entries]
    for scope, model, column, target in (
        ("gate", Gate, "release_id", "release"),
        ("release", Release, "application_id", "application"),
        ("application", Application, "portfolio_id", "portfolio"),
    ):

        def missing(hint, scope=scope, target=target) -> bool:
            known = hint[target] is not None or (target != "release" and hint["portfolio"] is not None)
            return hint[scope] is not None and not known

        wanted = {hint[scope] for hint in hints if missing(hint)}
        if not wanted:
            continue
        found = dict(model.objects.filter(pk__in=wanted).values_list("pk", column))
        for hint in hints:
            if missing(hint):
                hint[target] = found.get(hint[scope])
    return [(hint["release"], hint["portfolio"]) for hint in hints]


def _scope_hint(entry: dict) -> dict:
    obj = entry.get("obj")
    hint = dict.fromkeys(_SCOPES)
    kind = entry.get("object_type") or (obj._meta.label_lower if obj is not None else "")
    if own := _OWN_SCOPE.get(kind):
        hint[own] = _as_id(entry.get("object_id") or (obj.pk if obj is not None else None))
    # Relations the caller already read (select_related) answer without a query: up from the object.
    node, steps = obj, 0
    while isinstance(node, models.Model) and steps < len(_SCOPES):
        if scope := _OWN_SCOPE.get(node._meta.label_lower):
            hint[scope] = hint[scope] or node.pk
        node = next((cached for name in _SCOPES if (cached := _cached(node, name)) is not None), None)
        steps += 1
    sources = [obj] if obj is not None else []
    sources += [data for data in (entry.get("after"), entry.get("before")) if isinstance(data, dict)]
    for name in _SCOPES:
        for source in sources:
            if hint[name] is not None:
                break
            value = (
                source.get(f"{name}_id") if isinstance(source, dict) else getattr(source, f"{name}_id", None)
            )
            hint[name] = _as_id(value)
    return hint


def _cached(obj, name: str):
    return obj._state.fields_cache.get(name) if isinstance(obj, models.Model) else None


def _as_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


# --- checkpoints: the anchor outside the database -------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    line: int = 0

    def signed(self, mac) -> str:
        digest = mac.copy()
        digest.update(f"flightdeck-audit-checkpoint|{self.seq}|{self.hash}|{self.at}".encode())
        return digest.hexdigest()

    def as_line(self, mac) -> str:
        data = {"seq": self.seq, "hash": self.hash, "at": self.at, "mac": self.signed(mac)}
        return json.dumps(data, separators=(",", ":")) + "\n"


class CheckpointFileError(ValueError):
    """A checkpoint file line that is malformed or not signed with this instance's key."""

    def __init__(self, line: int, seq: int | None, message: str):
        super().__init__(message)
        self.line, self.seq = line, seq


def checkpoint_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


def checkpoints_read(path: Path | None = None, mac=None) -> list[Checkpoint]:
    """The checkpoints of the file, in order; CheckpointFileError names the first line that is not a
    checkpoint signed with this instance's key, or that goes back on an earlier one."""
    path, mac = path or checkpoint_path(), mac or chain_mac()
    if not path.exists():
        return []
    marks: list[Checkpoint] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                mark = Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]), number)
                signature = str(data["mac"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointFileError(
                    number, None, f"checkpoint line {number} is not a checkpoint"
                ) from exc
            if not hmac.compare_digest(signature, mark.signed(mac)):
                raise CheckpointFileError(
                    number,
                    mark.seq,
                    f"checkpoint line {number} (#{mark.seq}) is not signed with this instance's audit key: "
                    "the file was edited, or the key changed",
                )
            if marks and mark.seq < marks[-1].seq:
                raise CheckpointFileError(
                    number,
                    mark.seq,
                    f"checkpoint line {number} goes back to #{mark.seq} after #{marks[-1].seq}",
                )
            if marks and mark.seq == marks[-1].seq and mark.hash != marks[-1].hash:
                raise CheckpointFileError(
                    number,
                    mark.seq,
                    f"checkpoint line {number} gives #{mark.seq} another hash than line {marks[-1].line}",
                )
            marks.append(mark)
    return marks


def audit_checkpoint(*, path: Path | None = None) -> Checkpoint | None:
    """Append a signed checkpoint of the chain's head to the checkpoint file, once the events since the
    last checkpoint link onto it; None when the chain has not grown since (nothing is written).

    Refuses (CheckpointFileError, or ValueError naming the event) when the file or the new events do
    not verify: a checkpoint never blesses a chain that was already bent."""
    path, mac = path or checkpoint_path(), chain_mac()
    marks = checkpoints_read(path, mac)
    last = marks[-1] if marks else Checkpoint(0, GENESIS_HASH, "")
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is None or head[0] <= last.seq:
        if head is not None and head[0] < last.seq:
            raise ValueError(f"the chain's head (#{head[0]}) is behind the last checkpoint (#{last.seq})")
        return None
    result = _walk(mac, start_seq=last.seq, start_hash=last.hash, until=head[0])
    if not result.ok:
        raise ValueError(
            f"the chain does not verify from the last checkpoint: #{result.bad_seq} {result.problem}"
        )
    if (result.checked, result.problem) != head:  # on success _walk hands back the last hash
        raise ValueError(f"the chain ends at #{result.checked}, not at its head #{head[0]}")
    mark = Checkpoint(head[0], head[1], timezone.now().astimezone(UTC).isoformat(timespec="seconds"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write with O_APPEND: a line is never interleaved with another writer's.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, mark.as_line(mac).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return mark


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    bad_seq: int | None = None
    bad_id: int | None = None
    problem: str = ""
    checkpoints: int = 0
    signoffs: int = 0

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
    "release_id",
    "portfolio_id",
    "created_at",
    "prev_hash",
)
_VERIFY_COLUMNS = ("id", *HASHED_FIELDS, "hash")


def audit_verify(*, chunk_size: int = 5000, checkpoints: Path | None = None) -> ChainVerification:
    """Walk the whole chain in order with the key, compare it with the checkpoint file (or the copy
    `checkpoints` names), then every sign-off with its event; the first thing that does not match is
    named: its event's seq and id and the problem in words.

    Rows are read with a plain (server-side on PostgreSQL) cursor rather than the ORM: its per-row
    field converters were most of the time over a million events."""
    mac = chain_mac()
    try:
        marks = checkpoints_read(checkpoints, mac)
    except CheckpointFileError as error:
        return ChainVerification(False, 0, bad_seq=error.seq, problem=str(error))
    signoff_events: dict[str, tuple] = {}
    result = _walk(mac, chunk_size=chunk_size, marks=marks, signoff_events=signoff_events)
    if not result.ok:
        return result
    checked, last_hash = result.checked, result.problem  # _walk hands the last hash back in `problem`
    anchored = [mark for mark in marks if mark.seq <= checked]
    if marks and marks[-1].seq > checked:
        top = marks[-1]
        return _broken(
            checked,
            checked + 1,
            None,
            f"the chain ends at #{checked} but the checkpoint of {top.at} recorded #{top.seq}: "
            "the newest events were removed and the head moved back",
        )
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is None and checked:
        return _broken(checked, checked, None, "the chain's head row is missing")
    if head is not None and head != (checked, last_hash):
        if head[0] < checked:
            problem = (
                f"the head row says the chain ends at #{head[0]} but it runs to #{checked}: "
                "the head was moved back"
            )
            first_after = AuditEvent.objects.filter(seq=head[0] + 1).values_list("pk", flat=True).first()
            return _broken(checked, head[0] + 1, first_after, problem)
        if head[0] == checked:
            return _broken(checked, checked, None, "the head row's hash is not the last event's")
        return _broken(
            checked,
            checked + 1,
            None,
            f"the chain ends at #{checked} before its recorded head #{head[0]} "
            "(the latest events were removed)",
        )
    problem = _signoff_problem(signoff_events)
    if problem is not None:
        return _broken(checked, *problem)
    return ChainVerification(True, checked, checkpoints=len(anchored), signoffs=result.signoffs)


def _broken(checked: int, seq, pk, problem: str) -> ChainVerification:
    return ChainVerification(False, checked, bad_seq=seq, bad_id=pk, problem=problem)


def _walk(
    mac,
    *,
    chunk_size: int = 5000,
    start_seq: int = 0,
    start_hash: str = GENESIS_HASH,
    until: int | None = None,
    marks: Iterable[Checkpoint] = (),
    signoff_events: dict | None = None,
) -> ChainVerification:
    """Check the links and keyed hashes of the events after `start_seq` (whose hash is `start_hash`)
    up to `until`. On success `problem` carries the last hash and `signoffs` the sign-off events seen."""
    marked = {mark.seq: mark for mark in marks}
    expected_prev, expected_seq, checked = start_hash, start_seq + 1, start_seq
    signoffs = 0
    for row in _chain_rows(chunk_size, after_seq=start_seq, until=until):
        pk, seq, actor_id, actor_label, action, object_type, object_id, object_repr = row[:8]
        before, after, release_id, portfolio_id, created_at, prev_hash, stored_hash = row[8:]
        problem = ""
        if seq != expected_seq:
            problem = f"sequence gap: expected #{expected_seq}, found #{seq} (an event was removed)"
        elif prev_hash != expected_prev:
            problem = "previous-hash link broken (an earlier event was removed or rewritten)"
        else:
            before, after = _json(before), _json(after)
            content = [seq, actor_id, actor_label, action, object_type, object_id, object_repr, before, after]
            content += [release_id, portfolio_id]
            if stored_hash != _digest(mac, prev_hash, content, _iso(created_at)):
                problem = "content does not match its keyed hash (the row was changed)"
            elif seq in marked and marked[seq].hash != stored_hash:
                problem = (
                    f"its hash is not the one the checkpoint of {marked[seq].at} recorded: this event or "
                    "an earlier one was rewritten and the later hashes recomputed"
                )
        if problem:
            return ChainVerification(False, checked, bad_seq=seq, bad_id=pk, problem=problem)
        if action == SIGNOFF_ACTION and signoff_events is not None:
            signoff_events[object_id] = (seq, pk, after)
            signoffs += 1
        expected_prev, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    return ChainVerification(True, checked, problem=expected_prev, signoffs=signoffs)


def _signoff_problem(events: dict[str, tuple]) -> tuple | None:
    """The first sign-off, in chain order, whose row no longer matches the snapshot its `signoff.create`
    event holds or whose row is gone, as (seq, event id, problem); else the first sign-off row that no
    event records, as (None, None, problem). Fields added to SignOff after an event was written are
    not in its snapshot, so they are not compared."""
    problems, orphans = [], []
    for row in SignOff.objects.order_by("pk").iterator(chunk_size=2000):
        found = events.pop(str(row.pk), None)
        if found is None:
            orphans.append(
                f"sign-off #{row.pk} ({row.signer_name}, gate {row.gate_id}) has no signoff.create event "
                "in the chain: it was written around the application"
            )
            continue
        seq, event_pk, recorded = found
        if not isinstance(recorded, dict):
            problems.append(
                (seq, event_pk, f"the signoff.create event of sign-off #{row.pk} holds no snapshot")
            )
            continue
        current = snapshot(row)
        changed = sorted(name for name, value in recorded.items() if current.get(name, _MISSING) != value)
        if changed:
            problems.append(
                (
                    seq,
                    event_pk,
                    f"sign-off #{row.pk} no longer matches its signoff.create event: "
                    f"{', '.join(changed)} changed",
                )
            )
    for object_id, (seq, event_pk, _recorded) in events.items():
        problems.append((seq, event_pk, f"sign-off #{object_id}, recorded by this event, is gone (deleted)"))
    if problems:
        return min(problems)
    if orphans:
        return None, None, orphans[0]
    return None


_MISSING = object()


def _chain_rows(chunk_size: int, *, after_seq: int = 0, until: int | None = None):
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _VERIFY_COLUMNS)
    where, params = f"{quote('seq')} > %s", [after_seq]
    if until is not None:
        where, params = f"{where} AND {quote('seq')} <= %s", [after_seq, until]
    with connection.chunked_cursor() as cursor:
        table = quote(AuditEvent._meta.db_table)
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {quote('seq')}", params)  # noqa: S608 (names only)
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
