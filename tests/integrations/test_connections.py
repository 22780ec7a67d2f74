"""Connection credentials are encrypted at rest, never shown back, and never written to the audit trail."""

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from integrations.models import Connection
from releases.models import AuditEvent
from tests.factories import ApplicationFactory, ApplicationMappingFactory, ConnectionFactory

pytestmark = pytest.mark.django_db

SECRET = "atl-token-Zq81xPL0"


def test_credentials_round_trip_encrypted():
    connection = ConnectionFactory(credentials={"username": "bot@example.com", "token": SECRET})
    stored = Connection.objects.values_list("credentials_encrypted", flat=True).get(pk=connection.pk)
    assert stored
    assert SECRET not in stored
    assert "bot@example.com" not in stored
    assert Connection.objects.get(pk=connection.pk).credentials == {
        "username": "bot@example.com",
        "token": SECRET,
    }


def test_each_encryption_is_fresh_and_empty_credentials_store_nothing():
    first = ConnectionFactory(credentials={"token": SECRET})
    second = ConnectionFactory(credentials={"token": SECRET})
    assert first.credentials_encrypted != second.credentials_encrypted
    empty = ConnectionFactory(credentials={})
    assert empty.credentials_encrypted == ""
    assert Connection.objects.get(pk=empty.pk).credentials == {}


def _connection_form(connection: Connection, **changes) -> dict:
    data = {
        "name": connection.name,
        "kind": connection.kind,
        "base_url": connection.base_url,
        "scope": '{"projects": ["PAY"]}',
        "schedule_minutes": str(connection.schedule_minutes),
        "request_budget": str(connection.request_budget),
        "enabled": "on",
        "username": "",
        "token": "",
        "mappings-TOTAL_FORMS": "0",
        "mappings-INITIAL_FORMS": "0",
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
    }
    return data | changes


def test_the_admin_form_never_shows_the_stored_token(superuser_client):
    connection = ConnectionFactory(credentials={"username": "bot@example.com", "token": SECRET})
    response = superuser_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="token"' in html
    assert SECRET not in html
    assert connection.credentials_encrypted not in html


def test_saving_with_a_blank_token_keeps_the_stored_credentials(superuser_client):
    connection = ConnectionFactory(credentials={"username": "bot@example.com", "token": SECRET})
    response = superuser_client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        _connection_form(connection, schedule_minutes="30"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.schedule_minutes == 30
    assert connection.credentials == {"username": "bot@example.com", "token": SECRET}


def test_saving_a_new_token_replaces_the_credentials(superuser_client):
    connection = ConnectionFactory(credentials={"username": "bot@example.com", "token": SECRET})
    response = superuser_client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        _connection_form(connection, username="new-bot@example.com", token="rotated-token-1"),
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials == {"username": "new-bot@example.com", "token": "rotated-token-1"}


def test_an_admin_save_is_audited_without_the_ciphertext(superuser_client, superuser):
    connection = ConnectionFactory(credentials={"username": "bot@example.com", "token": SECRET})
    response = superuser_client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        _connection_form(connection, token="rotated-token-2"),
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    event = AuditEvent.objects.get(action="connection.update")
    assert event.actor == superuser
    assert event.object_id == str(connection.pk)
    assert event.before["credentials_encrypted"] == "(set)"
    assert event.after["credentials_encrypted"] == "(set)"
    assert event.after["webhook_secret_encrypted"] == ""
    trail = str(event.before) + str(event.after)
    assert connection.credentials_encrypted not in trail
    assert "rotated-token-2" not in trail
    assert SECRET not in trail


def test_an_admin_add_is_audited_without_the_token(superuser_client):
    response = superuser_client.post(
        reverse("admin:integrations_connection_add"),
        {
            "name": "GitHub",
            "kind": "github",
            "base_url": "https://api.github.com",
            "scope": "{}",
            "schedule_minutes": "15",
            "request_budget": "5000",
            "enabled": "on",
            "username": "",
            "token": "ghp_new_token",
            "mappings-TOTAL_FORMS": "0",
            "mappings-INITIAL_FORMS": "0",
            "mappings-MIN_NUM_FORMS": "0",
            "mappings-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = Connection.objects.get(name="GitHub")
    assert connection.credentials["token"] == "ghp_new_token"
    event = AuditEvent.objects.get(action="connection.create")
    assert event.after["credentials_encrypted"] == "(set)"
    assert "ghp_new_token" not in str(event.after)


def test_mapping_changes_in_the_admin_are_audited(superuser_client, superuser):
    connection = ConnectionFactory(credentials={"token": SECRET})
    kept = ApplicationMappingFactory(connection=connection, external_key="PAY")
    dropped = ApplicationMappingFactory(connection=connection, external_key="OLD")
    added_app = ApplicationFactory(key="WEBAPP")
    form = _connection_form(
        connection,
        **{
            "mappings-TOTAL_FORMS": "3",
            "mappings-INITIAL_FORMS": "2",
            "mappings-0-id": str(kept.pk),
            "mappings-0-connection": str(connection.pk),
            "mappings-0-application": str(kept.application_id),
            "mappings-0-external_key": "PAYMENTS",
            "mappings-1-id": str(dropped.pk),
            "mappings-1-connection": str(connection.pk),
            "mappings-1-application": str(dropped.application_id),
            "mappings-1-external_key": "OLD",
            "mappings-1-DELETE": "on",
            "mappings-2-connection": str(connection.pk),
            "mappings-2-application": str(added_app.pk),
            "mappings-2-external_key": "WEB",
        },
    )
    response = superuser_client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]), form
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="applicationmapping.")}
    assert set(events) == {
        "applicationmapping.update",
        "applicationmapping.delete",
        "applicationmapping.create",
    }
    assert events["applicationmapping.update"].before["external_key"] == "PAY"
    assert events["applicationmapping.update"].after["external_key"] == "PAYMENTS"
    assert events["applicationmapping.delete"].object_id == str(dropped.pk)
    assert events["applicationmapping.create"].after["application_id"] == added_app.pk
    assert all(event.actor == superuser for event in events.values())


@pytest.fixture
def key_changed(monkeypatch):
    """The instance's key after the credentials were saved with the one before."""
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())


def test_credentials_saved_under_another_key_fail_the_sync_readably_not_stuck_running(key_changed):
    from integrations.models import SyncRun
    from integrations.runner import connection_sync, connection_test
    from integrations.tasks import sync_run_queue

    connection = ConnectionFactory(kind=Connection.Kind.JIRA_CLOUD)
    with pytest.MonkeyPatch.context() as undo:
        undo.delenv("FIELD_ENCRYPTION_KEY")
        connection.credentials = {"username": "bot@example.com", "token": SECRET}
        connection.save()
    run = sync_run_queue(connection=connection, by=None)

    assert connection_sync(run_id=run.pk)["status"] == "failed"
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert "cannot be decrypted with this instance's key" in run.error
    assert "enter them again in the connection's admin page" in run.error
    ok, message = connection_test(connection=connection)
    assert not ok and "cannot be decrypted" in message
