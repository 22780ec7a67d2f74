"""Webhooks from the tools: verify, drop redeliveries, queue a sync, answer 202 at once.

Each connection has its own secret (Connection.webhook_secret, encrypted at rest), and the check runs
over the raw request body, before anything is parsed or stored:

- GitHub: `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`; delivery id `X-GitHub-Delivery`.
- Jira: `X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`; delivery id
  `X-Atlassian-Webhook-Identifier` (the same on Jira's retries).
- Jenkins: its notification plugins and pipeline steps cannot compute an HMAC, but can send a header,
  so the secret itself travels in `X-Flightdeck-Token` (compared in constant time; use HTTPS). Jenkins
  has no delivery id: a retried notification repeats its bytes, so the body's SHA-256 stands in.

The webhook carries no data we store: it only says "something changed", and the sync that follows
reads the tool through its API as usual (so a forged or replayed body could at most cause a sync).
"""

import hashlib
import hmac
import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.crypto import Undecryptable
from integrations.models import Connection, ConnectionKind, WebhookDelivery
from integrations.sync.base import SyncAlreadyRunning, sync_run_queue
from releases.errors import DomainError

logger = logging.getLogger(__name__)
KEEP_DELIVERIES = timedelta(days=30)  # GitHub offers redelivery for 3 days; Jira and Jenkins retry for hours
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_DELIVERY_ID = 200


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str


class Refused(DomainError):
    def __init__(self, message: str, status: int):
        super().__init__(message, status=status)


def _hmac_sha256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check_hmac(header: str, secret: str, body: bytes, name: str) -> None:
    if not hmac.compare_digest(header.strip().encode(), _hmac_sha256(secret, body).encode()):
        raise Refused(f"The {name} signature does not match this connection's webhook secret.", 401)


def github_delivery(headers, body: bytes, secret: str) -> Delivery:
    _check_hmac(headers.get("X-Hub-Signature-256", ""), secret, body, "X-Hub-Signature-256")
    return Delivery(headers.get("X-GitHub-Delivery", ""), headers.get("X-GitHub-Event", ""))


def jira_delivery(headers, body: bytes, secret: str) -> Delivery:
    _check_hmac(headers.get("X-Hub-Signature", ""), secret, body, "X-Hub-Signature")
    delivery_id = headers.get("X-Atlassian-Webhook-Identifier") or hashlib.sha256(body).hexdigest()
    return Delivery(delivery_id, "jira")


def jenkins_delivery(headers, body: bytes, secret: str) -> Delivery:
    if not hmac.compare_digest(headers.get("X-Flightdeck-Token", "").encode(), secret.encode()):
        raise Refused("The X-Flightdeck-Token header does not match this connection's webhook secret.", 401)
    return Delivery(hashlib.sha256(body).hexdigest(), "jenkins")


# Which connection kinds each endpoint serves, and how it reads a delivery.
RECEIVERS = {
    "github": ((ConnectionKind.GITHUB,), github_delivery),
    "jira": ((ConnectionKind.JIRA_CLOUD, ConnectionKind.JIRA_DC), jira_delivery),
    "jenkins": ((ConnectionKind.JENKINS,), jenkins_delivery),
}


def _body(request) -> bytes:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        raise Refused(f"The body is larger than the limit of {MAX_BODY_BYTES:,} bytes.", 413)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(f"The body is larger than the limit of {MAX_BODY_BYTES:,} bytes.", 413)
    return body


def _connection(tool: str, connection_id: int) -> Connection:
    kinds, _ = RECEIVERS[tool]
    connection = Connection.objects.filter(pk=connection_id, kind__in=kinds, enabled=True).first()
    if connection is None:
        raise Refused(f"No enabled {tool} connection with id {connection_id}.", 404)
    try:
        secret = connection.webhook_secret
    except Undecryptable:  # our key changed, not the sender's fault: the tool retries later
        logger.error("Webhook for %s refused: its secret cannot be decrypted.", connection)
        message = "Flightdeck cannot read this connection's webhook secret (its key changed)."
        raise Refused(message, 503) from None
    if not secret:
        raise Refused("This connection has no webhook secret: set one before sending webhooks.", 401)
    return connection


def webhook_delivery_accept(*, connection: Connection, delivery: Delivery) -> bool:
    """Record the delivery and queue a sync of the connection; False for a delivery seen before.

    The delivery itself is not audited: it changes no record (the queued run is audited)."""
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                connection=connection, delivery_id=delivery.delivery_id, event=delivery.event[:100]
            )
            # A sync already queued or running reads the tool anyway; the next schedule catches
            # a change it had already passed.
            with suppress(SyncAlreadyRunning):
                sync_run_queue(connection=connection, by=None)
    except IntegrityError:  # the unique (connection, delivery id): a redelivery
        return False
    return True


def webhook_deliveries_prune(*, now=None) -> int:
    """Forget deliveries older than KEEP_DELIVERIES (no tool redelivers that late); how many."""
    cutoff = (now or timezone.now()) - KEEP_DELIVERIES
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted


@csrf_exempt  # signed by the tool, not by a browser session: there is no cookie to ride
@login_not_required
@require_POST
def webhook_receive(request, tool: str, connection_id: int):
    try:
        body = _body(request)
        connection = _connection(tool, connection_id)
        delivery = RECEIVERS[tool][1](request.headers, body, connection.webhook_secret)
        if not delivery.delivery_id or len(delivery.delivery_id) > MAX_DELIVERY_ID:
            raise Refused("The delivery id header is missing or too long.", 400)
    except Refused as refused:
        return JsonResponse({"detail": str(refused)}, status=refused.status)
    accepted = webhook_delivery_accept(connection=connection, delivery=delivery)
    if not accepted:
        return JsonResponse({"detail": "Duplicate delivery: already accepted, ignored."}, status=200)
    return JsonResponse({"detail": "Accepted: a sync is queued."}, status=202)
