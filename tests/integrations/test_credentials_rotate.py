"""Key rotation of the tool credentials: FIELD_ENCRYPTION_KEY lists keys newest first (MultiFernet), and
`credentials_rotate` re-encrypts every stored secret with the newest, audited, all or nothing."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from integrations.crypto import Undecryptable
from integrations.models import Connection
from releases.models import AuditEvent
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))


@pytest.fixture
def key(monkeypatch):
    def use(value: str) -> None:
        monkeypatch.setenv("FIELD_ENCRYPTION_KEY", value)

    return use


def saved_under_old_key(key, **fields) -> Connection:
    key(OLD)
    connection = ConnectionFactory(**fields)
    connection.webhook_secret = "hook-secret"
    connection.save()
    return connection


def test_a_secret_under_an_older_key_is_read_while_that_key_is_listed(key):
    connection = saved_under_old_key(key, credentials={"username": "bot", "token": "t-1"})
    key(f"{NEW},{OLD}")
    assert Connection.objects.get(pk=connection.pk).credentials == {"username": "bot", "token": "t-1"}
    key(NEW)  # the control case: without the old key it is unreadable
    with pytest.raises(Undecryptable):
        _ = Connection.objects.get(pk=connection.pk).credentials


def test_rotation_re_encrypts_every_secret_with_the_newest_key_and_audits_it(key, capsys):
    first = saved_under_old_key(key, credentials={"username": "bot", "token": "t-1"})
    second = saved_under_old_key(key, credentials={"username": "ci", "token": "t-2"})
    key(f"{NEW},{OLD}")
    call_command("credentials_rotate")
    assert "Re-encrypted the secrets of 2 connection(s)" in capsys.readouterr().out

    key(NEW)  # the old key can go now
    assert Connection.objects.get(pk=first.pk).credentials == {"username": "bot", "token": "t-1"}
    assert Connection.objects.get(pk=second.pk).credentials == {"username": "ci", "token": "t-2"}
    assert Connection.objects.get(pk=second.pk).webhook_secret == "hook-secret"
    events = AuditEvent.objects.filter(action="connection.credentials_rotate").order_by("seq")
    assert [event.object_id for event in events] == [str(first.pk), str(second.pk)]
    assert events[0].after == {
        "fields": ["credentials_encrypted", "webhook_secret_encrypted"],
        "under_an_older_key": ["credentials_encrypted", "webhook_secret_encrypted"],
    }
    assert "t-1" not in str(events[0].after) and events[0].actor is None
    call_command("audit_verify")  # the chain still holds


def test_a_secret_no_key_reads_refuses_the_whole_rotation(key):
    readable = saved_under_old_key(key, name="Readable")
    key(OTHER)
    ConnectionFactory(name="Lost")
    stored = Connection.objects.get(pk=readable.pk).credentials_encrypted
    key(f"{NEW},{OLD}")
    with pytest.raises(CommandError, match="reads the stored secrets of Lost"):
        call_command("credentials_rotate")
    assert Connection.objects.get(pk=readable.pk).credentials_encrypted == stored
    assert not AuditEvent.objects.filter(action="connection.credentials_rotate").exists()


def test_skip_unreadable_rotates_the_rest_and_names_what_it_left(key, capsys):
    readable = saved_under_old_key(key, name="Readable")
    key(OTHER)
    lost = ConnectionFactory(name="Lost")
    lost_stored = lost.credentials_encrypted
    key(f"{NEW},{OLD}")
    call_command("credentials_rotate", "--skip-unreadable")
    assert "Left unreadable" in capsys.readouterr().out
    key(NEW)
    assert Connection.objects.get(pk=readable.pk).credentials
    assert Connection.objects.get(pk=lost.pk).credentials_encrypted == lost_stored


def test_a_connection_without_secrets_is_left_alone(key):
    key(NEW)
    ConnectionFactory(credentials={})
    call_command("credentials_rotate")
    assert not AuditEvent.objects.filter(action="connection.credentials_rotate").exists()
