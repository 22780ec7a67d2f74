"""The audit chain becomes keyed, knows what each event is about, and its guards close on SQLite too.

1. AuditEvent gains `release` and `portfolio` (ids without a database constraint, indexed): what the
   event is about, so the audit page filters a release's or a portfolio's events through one index.
2. The chain is re-hashed with HMAC-SHA256 and settings.AUDIT_CHAIN_KEY, the new columns included.
   This TRUSTS THE CHAIN AS IT STANDS AT UPGRADE TIME: it is first verified with the old unkeyed
   SHA-256 rule (links, hashes, head), and the upgrade refuses to run when it does not verify: a
   re-keyed forgery would verify from then on. The columns are filled from each event's own data
   (its object's type and id, the release/gate/application/portfolio ids of its snapshots) and from
   the rows that still exist.
3. The guards: a DELETE of an audit event or a sign-off is refused on SQLite as it is on PostgreSQL
   (0004 guarded updates only there), and the chain's head row cannot move back nor be deleted.

The hashing rules are frozen copies here: releases.audit may change its rule later, this migration
must keep doing what it did.
"""

import hashlib
import hmac
import json
from datetime import UTC

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GENESIS = "0" * 64
PAGE = 5000
COLUMNS = (
    "id, seq, actor_id, actor_label, action, object_type, object_id, object_repr, before, after, "
    "created_at, prev_hash, hash"
)
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
SCOPES = ("gate", "release", "application", "portfolio")

SQLITE_GUARDS = {
    "releases_auditevent_no_delete": "BEFORE DELETE ON releases_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "releases_signoff_no_delete": "BEFORE DELETE ON releases_signoff "
    "BEGIN SELECT RAISE(ABORT, 'sign-offs are never changed'); END",
    "releases_auditchainhead_forward": "BEFORE UPDATE ON releases_auditchainhead WHEN NEW.seq < OLD.seq "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END",
    "releases_auditchainhead_no_delete": "BEFORE DELETE ON releases_auditchainhead "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END",
}
POSTGRES_GUARDS = {
    "releases_auditchainhead_forward": "BEFORE UPDATE ON releases_auditchainhead FOR EACH ROW "
    "WHEN (NEW.seq < OLD.seq) EXECUTE FUNCTION flightdeck_refuse_change('the audit chain head only moves forward')",
    "releases_auditchainhead_no_delete": "BEFORE DELETE ON releases_auditchainhead FOR EACH ROW "
    "EXECUTE FUNCTION flightdeck_refuse_change('the audit chain head only moves forward')",
}
SQLITE_UPDATE_GUARD = (
    "CREATE TRIGGER releases_auditevent_append_only BEFORE UPDATE ON releases_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
)


def unkeyed_digest(prev_hash: str, content: list, created_iso: str) -> str:
    """0004's rule: SHA-256, no key, no scope columns."""
    return hashlib.sha256((prev_hash + CANONICAL.encode([*content, created_iso])).encode()).hexdigest()


def keyed_digest(mac, prev_hash: str, content: list, created_iso: str) -> str:
    digest = mac.copy()
    digest.update((prev_hash + CANONICAL.encode([*content, created_iso])).encode())
    return digest.hexdigest()


def decoded(value):
    return json.loads(value) if isinstance(value, str) else value


def iso(created_at) -> str:
    if isinstance(created_at, str):
        return created_at.replace(" ", "T", 1) + "+00:00"
    return created_at.astimezone(UTC).isoformat()


def pages(connection):
    """The chain in order, a page at a time (the caller may update rows between pages)."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {COLUMNS} FROM releases_auditevent WHERE seq > %s ORDER BY seq LIMIT {PAGE}",  # noqa: S608
                [last],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][1]


def head_of(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM releases_auditchainhead WHERE id = 1")
        return cursor.fetchone()


def verify_unkeyed(connection) -> None:
    expected_prev, expected_seq = GENESIS, 1
    for rows in pages(connection):
        for pk, seq, *content, before, after, created_at, prev_hash, stored in rows:
            body = [seq, *content, decoded(before), decoded(after)]
            if (
                seq != expected_seq
                or prev_hash != expected_prev
                or stored != unkeyed_digest(prev_hash, body, iso(created_at))
            ):
                raise RuntimeError(
                    f"The audit chain does not verify at event #{seq} (id {pk}) with the rule it was written "
                    "with: the upgrade refuses to re-key a chain it cannot trust (a re-keyed forgery would "
                    "verify from then on). Find out what happened to that event (audit_verify on the "
                    "previous version names it) before upgrading."
                )
            expected_prev, expected_seq = stored, expected_seq + 1
    head = head_of(connection)
    if head is not None and tuple(head) != (expected_seq - 1, expected_prev):
        raise RuntimeError(
            f"The audit chain ends at #{expected_seq - 1} but its head row says #{head[0]}: the upgrade "
            "refuses to re-key a chain it cannot trust."
        )


def scope_maps(apps) -> dict:
    """Each scope's parent: gate -> release, release -> application, application -> portfolio."""
    model = {name: apps.get_model("releases", name) for name in ("Gate", "Release", "Application")}
    return {
        "gate": dict(model["Gate"].objects.values_list("pk", "release_id")),
        "release": dict(model["Release"].objects.values_list("pk", "application_id")),
        "application": dict(model["Application"].objects.values_list("pk", "portfolio_id")),
    }


def as_id(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def scope_of(maps, object_type, object_id, before, after, signoff_gates) -> tuple:
    hint = dict.fromkeys(SCOPES)
    own = object_type.removeprefix("releases.")
    if object_type.startswith("releases.") and own in hint:
        hint[own] = as_id(object_id)
    if object_type == "releases.signoff":
        hint["gate"] = signoff_gates.get(as_id(object_id))
    for name in SCOPES:
        for data in (after, before):
            if hint[name] is None and isinstance(data, dict):
                hint[name] = as_id(data.get(f"{name}_id"))
    for child, parent in (("gate", "release"), ("release", "application"), ("application", "portfolio")):
        if hint[parent] is None and hint[child] is not None:
            hint[parent] = maps[child].get(hint[child])
    return hint["release"], hint["portfolio"]


def rekey(apps, connection, key: str) -> None:
    """Verify the chain with the old rule, then fill the scope columns and re-hash it with `key`."""
    verify_unkeyed(connection)
    maps = scope_maps(apps)
    signoff_gates = dict(apps.get_model("releases", "SignOff").objects.values_list("pk", "gate_id"))
    mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
    prev = GENESIS
    for rows in pages(connection):
        updates = []
        for pk, seq, *content, before, after, created_at, _prev, _stored in rows:
            before, after = decoded(before), decoded(after)
            object_type, object_id = content[3], content[4]
            release_id, portfolio_id = scope_of(maps, object_type, object_id, before, after, signoff_gates)
            body = [seq, *content, before, after, release_id, portfolio_id]
            digest = keyed_digest(mac, prev, body, iso(created_at))
            updates.append((release_id, portfolio_id, prev, digest, pk))
            prev = digest
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE releases_auditevent SET release_id = %s, portfolio_id = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                updates,
            )
    if prev != GENESIS:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE releases_auditchainhead SET hash = %s WHERE id = 1", [prev])


def unkey(apps, connection) -> None:
    """Back to 0004's rule (the scope columns are dropped right after)."""
    prev = GENESIS
    for rows in pages(connection):
        updates = []
        for pk, seq, *content, before, after, created_at, _prev, _stored in rows:
            digest = unkeyed_digest(prev, [seq, *content, decoded(before), decoded(after)], iso(created_at))
            updates.append((prev, digest, pk))
            prev = digest
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE releases_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", updates
            )
    if prev != GENESIS:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE releases_auditchainhead SET hash = %s WHERE id = 1", [prev])


def event_guard(connection, *, on: bool) -> None:
    """The update guard of 0004 on audit events, lifted while this migration rewrites their hashes."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            action = "ENABLE" if on else "DISABLE"
            cursor.execute(
                f"ALTER TABLE releases_auditevent {action} TRIGGER releases_auditevent_append_only"
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                SQLITE_UPDATE_GUARD if on else "DROP TRIGGER IF EXISTS releases_auditevent_append_only"
            )


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    event_guard(connection, on=False)
    rekey(apps, connection, settings.AUDIT_CHAIN_KEY)
    event_guard(connection, on=True)
    guards = {"sqlite": SQLITE_GUARDS, "postgresql": POSTGRES_GUARDS}.get(connection.vendor, {})
    for name, definition in guards.items():
        schema_editor.execute(f"CREATE TRIGGER {name} {definition}")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    guards = {"sqlite": SQLITE_GUARDS, "postgresql": POSTGRES_GUARDS}.get(connection.vendor, {})
    for name in guards:
        if connection.vendor == "postgresql":
            table = "releases_auditchainhead" if "head" in name else name.rsplit("_no_delete")[0]
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
    event_guard(connection, on=False)
    unkey(apps, connection)
    event_guard(connection, on=True)


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0009_workitem_typed_in"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="portfolio",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="releases.portfolio",
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="release",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="releases.release",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["release", "seq"], name="audit_release_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["portfolio", "seq"], name="audit_portfolio_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor", "seq"], name="audit_actor_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action", "seq"], name="audit_action_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["created_at"], name="audit_created_idx"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
