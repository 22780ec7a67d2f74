"""Posting slips and gate decisions to chat tools (Slack- and Teams-compatible incoming webhooks).

`chat_announce` runs in the worker beside the e-mails of the same event and queues one post per
active webhook that wants that kind; `chat_webhook_post` sends one, signed: the header
`X-Flightdeck-Signature: sha256=<hex>` is the HMAC-SHA256 of `<timestamp>.<body>` under
settings.CHAT_WEBHOOK_SIGNING_KEY (derived from SECRET_KEY when unset), with the timestamp in
`X-Flightdeck-Timestamp`. A network error, a 429 or a 5xx raises ChatWebhookRetry, which the task
retries with exponential backoff; another 4xx is the receiver's refusal, logged and dropped.
"""

import hashlib
import hmac
import json
import logging
import time

import httpx
from django.conf import settings
from django.utils.crypto import salted_hmac

from releases.models import ChatWebhook

logger = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0)
TRANSPORT: httpx.BaseTransport | None = None  # tests put a MockTransport here


class ChatWebhookRetry(Exception):
    """The post may succeed later (network, 429, 5xx)."""


def chat_announce(*, kind: str, text: str, link: str) -> int:
    """Queue a post of `text` to every active webhook that wants `kind`; how many were queued."""
    from releases import tasks  # releases.tasks imports the notification services

    hooks = [
        pk
        for pk, kinds in ChatWebhook.objects.filter(is_active=True).values_list("pk", "kinds")
        if not kinds or kind in kinds
    ]
    for pk in hooks:
        tasks.chat_webhook_post_task.delay(webhook_id=pk, text=text, link=link)
    return len(hooks)


def chat_payload(style: str, text: str, link: str) -> dict:
    if style == ChatWebhook.Style.TEAMS:
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": text[:150],
            "text": text,
            "potentialAction": [
                {
                    "@type": "OpenUri",
                    "name": "Open in Flightdeck",
                    "targets": [{"os": "default", "uri": link}],
                }
            ],
        }
    return {"text": f"{slack_escaped(text)}\n<{link}|Open in Flightdeck>"}


def slack_escaped(text: str) -> str:
    """Names from the tools may hold <, > or &: Slack reads those as links and mentions
    (<!channel>), so they are escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def signing_key() -> bytes:
    key = settings.CHAT_WEBHOOK_SIGNING_KEY
    return key.encode() if key else salted_hmac("flightdeck.chat-webhooks", "signing-key").digest()


def signature(body: bytes, timestamp: str) -> str:
    return "sha256=" + hmac.new(signing_key(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def chat_webhook_post(*, webhook_id: int, text: str, link: str) -> dict:
    """Post once; raises ChatWebhookRetry when a later try may succeed."""
    hook = ChatWebhook.objects.filter(pk=webhook_id, is_active=True).first()
    if hook is None:
        return {"sent": False, "reason": "no such active webhook"}
    body = json.dumps(chat_payload(hook.style, text, link)).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Flightdeck-Timestamp": timestamp,
        "X-Flightdeck-Signature": signature(body, timestamp),
    }
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, transport=TRANSPORT) as client:
            response = client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise ChatWebhookRetry(f"{hook.name}: {error}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise ChatWebhookRetry(f"{hook.name}: HTTP {response.status_code}")
    if response.status_code >= 300:
        logger.warning("Chat webhook %s refused the post: HTTP %s", hook.name, response.status_code)
        return {"sent": False, "status": response.status_code}
    return {"sent": True, "status": response.status_code}
