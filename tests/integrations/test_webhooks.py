"""Webhooks: signatures checked over the raw body with each connection's secret (GitHub, Jira,
Jenkins), redeliveries dropped, a sync queued after the commit, 202 at once; every refusal stores
and queues nothing."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import tasks, webhooks
from integrations.models import Connection, SyncRun, WebhookDelivery
from portal.celery import app as celery_app
from tests import factories as f
from tests.integrations.payloads import PAYLOADS, load_json
from tests.integrations.test_connections import _connection_form

pytestmark = pytest.mark.django_db

VECTORS = load_json("github", "webhook_signature_vectors.json")
PUSH_BODY = (PAYLOADS / "github" / VECTORS[2]["payload_file"]).read_bytes()
PUSH_SIGNATURE = VECTORS[2]["X-Hub-Signature-256"]


@pytest.fixture
def queued(monkeypatch):
    """The connections whose sync task was enqueued (after the commit), in order."""
    calls = []
    monkeypatch.setattr(
        tasks.connection_sync_task, "delay", lambda **kwargs: calls.append(kwargs["connection_id"])
    )
    return calls


@pytest.fixture
def client():
    """Tools sign their deliveries; they have no session and no CSRF token."""
    return Client(enforce_csrf_checks=True)


PUSH_SECRET = VECTORS[2]["secret"]


def tool_connection(kind=Connection.Kind.GITHUB, hook_secret=PUSH_SECRET, **fields) -> Connection:
    connection = f.ConnectionFactory(kind=kind, **fields)
    connection.webhook_secret = hook_secret
    connection.save()
    return connection


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_github(client, connection, body: bytes, signature: str, delivery="d-1", event="push"):
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": delivery, "X-GitHub-Event": event}
    return client.post(f"/webhooks/github/{connection.pk}", body, "application/json", headers=headers)


def run_on_commit(capture, call):
    with capture(execute=True):
        return call()


@pytest.mark.parametrize("vector", VECTORS[:2], ids=[v["name"] for v in VECTORS[:2]])
def test_known_signature_vectors_are_accepted(client, queued, django_capture_on_commit_callbacks, vector):
    github = tool_connection(hook_secret=vector["secret"])
    response = run_on_commit(
        django_capture_on_commit_callbacks,
        lambda: post_github(client, github, vector["payload"].encode(), vector["X-Hub-Signature-256"]),
    )
    assert response.status_code == 202
    assert response.json() == {"detail": "Accepted: a sync is queued."}
    assert queued == [github.pk]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.connection, delivery.delivery_id, delivery.event) == (github, "d-1", "push")
    run = SyncRun.objects.get()
    assert (run.connection, run.status) == (github, SyncRun.Status.QUEUED)


def test_the_signed_push_body_is_verified_over_its_exact_bytes(
    client, queued, django_capture_on_commit_callbacks
):
    github = tool_connection(hook_secret=VECTORS[2]["secret"])
    assert b"\t" in PUSH_BODY  # tabs and newlines: re-serialising the JSON would change the signature
    reserialised = json.dumps(json.loads(PUSH_BODY)).encode()
    assert post_github(client, github, reserialised, PUSH_SIGNATURE).status_code == 401
    tampered = PUSH_BODY.replace(b'"after": "5d1e0b3c', b'"after": "5d1e0b3d', 1)
    assert tampered != PUSH_BODY
    assert post_github(client, github, tampered, PUSH_SIGNATURE).status_code == 401
    assert not WebhookDelivery.objects.exists()
    response = run_on_commit(
        django_capture_on_commit_callbacks, lambda: post_github(client, github, PUSH_BODY, PUSH_SIGNATURE)
    )
    assert response.status_code == 202
    assert queued == [github.pk]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": sign("another connection's secret", PUSH_BODY)},
        # The legacy SHA-1 header, right for this body and secret, is not enough.
        {"X-Hub-Signature": VECTORS[2]["X-Hub-Signature"]},
    ],
    ids=["none", "empty", "wrong-secret", "sha1-only"],
)
def test_a_bad_signature_is_401_and_stores_nothing(client, queued, headers):
    github = tool_connection()
    response = client.post(
        f"/webhooks/github/{github.pk}",
        PUSH_BODY,
        "application/json",
        headers={"X-GitHub-Delivery": "d-1", **headers},
    )
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    assert not SyncRun.objects.exists()


def test_a_redelivery_is_dropped_per_connection(client, queued, django_capture_on_commit_callbacks):
    github, other = tool_connection(), tool_connection()

    def deliver(connection, delivery):
        return run_on_commit(
            django_capture_on_commit_callbacks,
            lambda: post_github(client, connection, PUSH_BODY, PUSH_SIGNATURE, delivery=delivery),
        )

    assert deliver(github, "guid-1").status_code == 202
    again = deliver(github, "guid-1")
    assert again.status_code == 200
    assert again.json() == {"detail": "Duplicate delivery: already accepted, ignored."}
    assert deliver(other, "guid-1").status_code == 202  # ids are the tool's, unique per connection
    assert deliver(github, "guid-2").status_code == 202
    assert WebhookDelivery.objects.count() == 3
    # guid-2 finds github's first run still queued: one sync per connection at a time.
    assert queued == [github.pk, other.pk]
    SyncRun.objects.update(status=SyncRun.Status.SUCCEEDED, started_at=f.moment(0), finished_at=f.moment(1))
    assert deliver(github, "guid-3").status_code == 202
    assert queued == [github.pk, other.pk, github.pk]


def test_a_missing_delivery_id_is_400(client, queued):
    github = tool_connection()
    response = post_github(client, github, PUSH_BODY, PUSH_SIGNATURE, delivery="")
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_unknown_disabled_wrong_kind_or_secretless_connections_are_refused(client, queued):
    jira = tool_connection(kind=Connection.Kind.JIRA_CLOUD)
    disabled = tool_connection(enabled=False)
    secretless = tool_connection(hook_secret="")
    for target, status in ((999999, 404), (jira.pk, 404), (disabled.pk, 404), (secretless.pk, 401)):
        response = client.post(
            f"/webhooks/github/{target}",
            PUSH_BODY,
            "application/json",
            headers={"X-Hub-Signature-256": PUSH_SIGNATURE, "X-GitHub-Delivery": "d"},
        )
        assert response.status_code == status, target
    assert not WebhookDelivery.objects.exists()
    assert not SyncRun.objects.exists()


def test_jira_signs_with_x_hub_signature(client, queued, django_capture_on_commit_callbacks):
    jira_dc = tool_connection(kind=Connection.Kind.JIRA_DC, hook_secret="jira-secret")
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "PAY-1"}}).encode()

    def deliver(headers):
        return run_on_commit(
            django_capture_on_commit_callbacks,
            lambda: client.post(f"/webhooks/jira/{jira_dc.pk}", body, "application/json", headers=headers),
        )

    assert deliver({"X-Hub-Signature": sign("wrong", body)}).status_code == 401
    assert deliver({"X-Hub-Signature-256": sign("jira-secret", body)}).status_code == 401  # GitHub's name
    signed = {"X-Hub-Signature": sign("jira-secret", body), "X-Atlassian-Webhook-Identifier": "71"}
    assert deliver(signed).status_code == 202
    assert deliver(signed).status_code == 200  # Jira's retry keeps the identifier
    without_id = {"X-Hub-Signature": sign("jira-secret", body)}
    assert deliver(without_id).status_code == 202  # then the body's hash is the id
    assert deliver(without_id).status_code == 200
    assert WebhookDelivery.objects.count() == 2
    assert queued == [jira_dc.pk]


def test_jenkins_sends_the_secret_as_a_token_header(client, queued, django_capture_on_commit_callbacks):
    jenkins = tool_connection(kind=Connection.Kind.JENKINS, hook_secret="jenkins-secret")
    body = json.dumps({"name": "payments-ci", "build": {"number": 41, "phase": "COMPLETED"}}).encode()

    def deliver(token):
        return run_on_commit(
            django_capture_on_commit_callbacks,
            lambda: client.post(
                f"/webhooks/jenkins/{jenkins.pk}",
                body,
                "application/json",
                headers={"X-Flightdeck-Token": token},
            ),
        )

    assert deliver("jenkins-secre").status_code == 401
    assert deliver("").status_code == 401
    assert deliver("jenkins-secret").status_code == 202
    assert deliver("jenkins-secret").status_code == 200  # the same notification again
    assert queued == [jenkins.pk]


def test_only_post_and_bodies_over_the_limit_are_413(client, queued, monkeypatch):
    github = tool_connection()
    assert client.get(f"/webhooks/github/{github.pk}").status_code == 405
    monkeypatch.setattr(webhooks, "MAX_BODY_BYTES", len(PUSH_BODY) - 1)
    response = post_github(client, github, PUSH_BODY, PUSH_SIGNATURE)
    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists()


def _delivery_queries(client, delivery: str) -> int:
    github = tool_connection()
    with CaptureQueriesContext(db) as queries:
        assert post_github(client, github, PUSH_BODY, PUSH_SIGNATURE, delivery=delivery).status_code == 202
    return len(queries)


def test_an_accepted_delivery_costs_the_same_few_queries_however_many_came_before(client, queued):
    _delivery_queries(client, "warm-up")  # the very first audit event creates the chain's head
    first = _delivery_queries(client, "first")
    for n in range(30):
        _delivery_queries(client, f"earlier-{n}")
    assert _delivery_queries(client, "later") == first
    # the connection, the delivery, the queued run and its audit event (with savepoints); no request
    # to the tool happens in the webhook
    assert first <= 13


def test_the_secret_is_stored_encrypted_set_in_the_admin_and_never_shown(superuser_client):
    github = tool_connection(hook_secret="s3cret-hook")
    stored = Connection.objects.values_list("webhook_secret_encrypted", flat=True).get(pk=github.pk)
    assert stored and "s3cret-hook" not in stored
    url = reverse("admin:integrations_connection_change", args=[github.pk])
    assert "s3cret-hook" not in superuser_client.get(url).content.decode()
    response = superuser_client.post(url, _connection_form(github, webhook_secret="rotated-hook"))
    assert response.status_code == 302, response.content.decode()[:2000]
    github.refresh_from_db()
    assert github.webhook_secret == "rotated-hook"
    assert superuser_client.post(url, _connection_form(github)).status_code == 302  # blank keeps it
    github.refresh_from_db()
    assert github.webhook_secret == "rotated-hook"


def test_a_secret_saved_under_another_key_is_503_and_stores_nothing(client, queued, monkeypatch):
    github = tool_connection()
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
    response = post_github(client, github, PUSH_BODY, PUSH_SIGNATURE)
    assert response.status_code == 503
    assert "cannot read this connection's webhook secret" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    assert not queued


def test_deliveries_too_old_to_be_redelivered_are_forgotten_nightly():
    github = tool_connection()
    now = timezone.now()
    for days, delivery_id in ((31, "old"), (29, "recent")):
        f.WebhookDeliveryFactory(
            connection=github, delivery_id=delivery_id, received_at=now - timedelta(days=days)
        )
    assert tasks.webhook_deliveries_prune_task.run() == {"deleted": 1}
    assert list(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == ["recent"]
    beat = celery_app.conf.beat_schedule["webhook-deliveries-prune-nightly"]
    assert beat["task"] == tasks.webhook_deliveries_prune_task.name
