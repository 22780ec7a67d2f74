"""Key rotation of the tool credentials: every stored secret re-encrypted with the newest
FIELD_ENCRYPTION_KEY (integrations/crypto.py), in one transaction with one audit event per connection."""

from django.db import transaction

from integrations.crypto import Undecryptable, encrypted_with_newest, reencrypt
from integrations.models import Connection
from releases.audit import audit_record_many
from releases.errors import DomainError

SECRET_FIELDS = ("credentials_encrypted", "webhook_secret_encrypted")


class CredentialsUnreadable(DomainError):
    """Some stored secrets no configured key reads: rotating would keep them unreadable for good."""


@transaction.atomic
def credentials_rotate(*, by=None, skip_unreadable: bool = False) -> dict:
    """Re-encrypt every connection's credentials and webhook secret with the newest key.

    A secret that no configured key reads refuses the whole rotation (nothing is written), unless
    `skip_unreadable`: then it is left as it is and named in the answer. Returns the counts and names."""
    connections = list(Connection.objects.select_for_update().order_by("pk"))
    changed, entries, unreadable, older = [], [], [], 0
    for connection in connections:
        fields, stale = [], []
        try:
            new_values = {name: reencrypt(getattr(connection, name)) for name in SECRET_FIELDS}
        except Undecryptable:
            unreadable.append(connection.name)
            continue
        for name in SECRET_FIELDS:
            if not getattr(connection, name):
                continue
            if not encrypted_with_newest(getattr(connection, name)):
                stale.append(name)
            setattr(connection, name, new_values[name])
            fields.append(name)
        if not fields:
            continue
        older += bool(stale)
        changed.append(connection)
        entries.append(
            {
                "action": "connection.credentials_rotate",
                "obj": connection,
                "after": {"fields": fields, "under_an_older_key": stale},
            }
        )
    if unreadable and not skip_unreadable:
        raise CredentialsUnreadable(
            f"No configured FIELD_ENCRYPTION_KEY reads the stored secrets of {', '.join(unreadable)}: "
            "add the key they were saved with to FIELD_ENCRYPTION_KEY, or enter them again in the "
            "connection's admin page (or rotate with --skip-unreadable). Nothing was re-encrypted."
        )
    Connection.objects.bulk_update(changed, SECRET_FIELDS)
    audit_record_many(actor=by, entries=entries)
    return {
        "reencrypted": [connection.name for connection in changed],
        "under_an_older_key": older,
        "unreadable": unreadable,
    }
