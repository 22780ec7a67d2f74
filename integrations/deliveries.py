"""Webhook deliveries: how each tool signs one, and forgetting those too old to be redelivered.

Each connection has its own secret (Connection.webhook_secret, encrypted at rest), and the check runs
over the raw request body, before anything is parsed or stored:

- GitHub: `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`; delivery id `X-GitHub-Delivery`.
- Jira: `X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`; delivery id
  `X-Atlassian-Webhook-Identifier` (the same on Jira's retries).
- Jenkins: its notification plugins and pipeline steps cannot compute an HMAC, but can send a header,
  so the secret itself travels in `X-Flightdeck-Token` (compared in constant time; use HTTPS). Jenkins
  has no delivery id: a retried notification repeats its bytes, so the body's SHA-256 stands in.
- GitLab: cannot sign either; it sends the webhook's secret token in `X-Gitlab-Token` (compared in
  constant time). Delivery id `Idempotency-Key` (the same on GitLab's retries), else
  `X-Gitlab-Event-UUID`; the event (`X-Gitlab-Event`) names what changed, recorded with the delivery.

Which check a connection's webhooks get is its tool's (integrations.tools.TOOLS).
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from integrations.models import WebhookDelivery
from releases.errors import DomainError

KEEP_DELIVERIES = timedelta(days=30)  # GitHub offers redelivery for 3 days; Jira and Jenkins retry for hours


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


# GitLab's event kinds -> the stream that changed, as the delivery is recorded. Every delivery queues an
# ordinary pass of every stream: a pass of one stream only would be refused while another run is
# queued or running, and the change it announced would wait for the next schedule.
GITLAB_EVENTS = {
    "Merge Request Hook": "merge_requests",
    "Pipeline Hook": "pipelines",
    "Job Hook": "pipelines",
    "Deployment Hook": "deployments",
    "Release Hook": "releases",
}


def gitlab_delivery(headers, body: bytes, secret: str) -> Delivery:
    if not hmac.compare_digest(headers.get("X-Gitlab-Token", "").encode(), secret.encode()):
        raise Refused("The X-Gitlab-Token header does not match this connection's webhook secret.", 401)
    delivery_id = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID", "")
    event = headers.get("X-Gitlab-Event", "")
    return Delivery(delivery_id, GITLAB_EVENTS.get(event) or event or "gitlab")


def webhook_deliveries_prune(*, now=None) -> int:
    """Forget deliveries older than KEEP_DELIVERIES (no tool redelivers that late); how many."""
    cutoff = (now or timezone.now()) - KEEP_DELIVERIES
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted
