"""Webhooks from the tools: verify, drop redeliveries, queue a sync, answer 202 at once.

/webhooks/<tool>/<connection id> serves the connections of that tool (integrations.tools), and checks
the tool's signature over the raw request body (integrations.deliveries) before anything is parsed or
stored.

The webhook carries no data we store: it only says "something changed", and the sync that follows
reads the tool through its API as usual (so a forged or replayed body could at most cause a sync).
"""

import logging
from contextlib import suppress

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.crypto import Undecryptable
from integrations.deliveries import Delivery, Refused
from integrations.models import Connection, WebhookDelivery
from integrations.sync.base import SyncRefused
from integrations.tasks import sync_run_queue
from integrations.tools import Tool

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_DELIVERY_ID = 200


def _body(request) -> bytes:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        raise Refused(f"The body is larger than the limit of {MAX_BODY_BYTES:,} bytes.", 413)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(f"The body is larger than the limit of {MAX_BODY_BYTES:,} bytes.", 413)
    return body


def _connection(tool: Tool, connection_id: int) -> Connection:
    connection = Connection.objects.filter(pk=connection_id, kind__in=tool.kinds, enabled=True).first()
    if connection is None:
        raise Refused(f"No enabled {tool.name} connection with id {connection_id}.", 404)
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
            with suppress(SyncRefused):
                sync_run_queue(connection=connection, by=None)
    except IntegrityError:  # the unique (connection, delivery id): a redelivery
        return False
    return True


@csrf_exempt  # signed by the tool, not by a browser session: there is no cookie to ride
@login_not_required
@require_POST
def webhook_receive(request, tool: Tool, connection_id: int):
    try:
        body = _body(request)
        connection = _connection(tool, connection_id)
        delivery = tool.webhook(request.headers, body, connection.webhook_secret)
        if not delivery.delivery_id or len(delivery.delivery_id) > MAX_DELIVERY_ID:
            raise Refused("The delivery id header is missing or too long.", 400)
    except Refused as refused:
        return JsonResponse({"detail": str(refused)}, status=refused.status)
    accepted = webhook_delivery_accept(connection=connection, delivery=delivery)
    if not accepted:
        return JsonResponse({"detail": "Duplicate delivery: already accepted, ignored."}, status=200)
    return JsonResponse({"detail": "Accepted: a sync is queued."}, status=202)
