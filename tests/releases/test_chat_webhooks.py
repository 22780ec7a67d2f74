"""Outgoing chat webhooks: slips and gate decisions are posted to the active webhooks that want them,
as Slack- or Teams-shaped JSON, HMAC-signed; a 5xx, 429 or network error is retried with backoff, a
4xx is dropped; the admin configures them (validated, audited)."""

import hashlib
import hmac
import json

import httpx
import pytest
from django.contrib.auth.models import Permission

from releases import tasks
from releases.gates.services.notifications import gate_decided_notify
from releases.models import AuditEvent, ChatWebhook
from releases.notifications.services import chat
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings):
    settings.CHAT_WEBHOOK_SIGNING_KEY = "s3cret"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.FLIGHTDECK_BASE_URL = "https://flightdeck.example.com"


@pytest.fixture
def received(monkeypatch):
    """The requests the chat tools got, answered by `received.answers` in turn (then 200)."""

    class Received(list):
        answers: list

    requests = Received()
    requests.answers = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        status = requests.answers.pop(0) if requests.answers else 200
        if status == "down":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status)

    monkeypatch.setattr(chat, "TRANSPORT", httpx.MockTransport(handle))
    return requests


def _decided_gate():
    group = f.GroupFactory(name="Security reviewers")
    group.permissions.add(Permission.objects.get(codename="sign_gate"))
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="4.2.0")
    return f.GateFactory(
        release=release, name="Security review", signer_group=group, status="passed", decided_at=f.moment(1)
    )


def test_a_gate_decision_is_posted_to_each_webhook_that_wants_it_in_its_shape(received):
    slack = f.ChatWebhookFactory(name="slack", style="slack", kinds=["gate_decided"])
    teams = f.ChatWebhookFactory(name="teams", style="teams", kinds=[])
    f.ChatWebhookFactory(name="slips only", kinds=["slip"])
    f.ChatWebhookFactory(name="off", is_active=False)
    gate = _decided_gate()
    gate_decided_notify(gate_id=gate.pk)
    by_url = {str(r.url): json.loads(r.content) for r in received}
    assert sorted(by_url) == sorted([slack.url, teams.url])
    link = f"https://flightdeck.example.com/releases/{gate.release_id}/"
    assert by_url[slack.url] == {
        "text": f"The Security review gate of PAY 4.2.0 is passed.\n<{link}|Open in Flightdeck>"
    }
    card = by_url[teams.url]
    assert (
        card["@type"] == "MessageCard" and card["text"] == "The Security review gate of PAY 4.2.0 is passed."
    )
    assert card["potentialAction"][0]["targets"][0]["uri"] == link


def test_posts_are_signed_with_hmac_sha256(received):
    f.ChatWebhookFactory()
    gate_decided_notify(gate_id=_decided_gate().pk)
    (request,) = received
    timestamp = request.headers["X-Flightdeck-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Flightdeck-Signature"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(received):
    hook = f.ChatWebhookFactory()
    received.answers = [503, "down", 429]
    result = tasks.chat_webhook_post_task.apply(
        kwargs={"webhook_id": hook.pk, "text": "hi", "link": "https://x"}
    )
    assert result.get() == {"sent": True, "status": 200}
    assert len(received) == 4


def test_the_task_retries_with_exponential_backoff():
    task = tasks.chat_webhook_post_task
    assert task.autoretry_for == (chat.ChatWebhookRetry,)
    assert task.retry_backoff == 30 and task.retry_backoff_max == 3600 and task.max_retries == 6


def test_a_refusal_is_not_retried(received):
    hook = f.ChatWebhookFactory()
    received.answers = [404]
    assert chat.chat_webhook_post(webhook_id=hook.pk, text="hi", link="https://x") == {
        "sent": False,
        "status": 404,
    }
    assert len(received) == 1


def test_a_slip_is_posted_too(received, django_capture_on_commit_callbacks):
    from releases.notifications.services.slips import slip_alerts_notify

    f.ChatWebhookFactory(kinds=["slip"])
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="4.2.0", owner=None)
    alert = {
        "release_id": release.pk,
        "release": "PAY 4.2.0",
        "target": "2030-01-10",
        "forecast": "2030-01-15",
        "was": None,
        "because": "waits for LED 4.1 to ship first",
    }
    slip_alerts_notify(alerts=[alert])
    (request,) = received
    text = json.loads(request.content)["text"]
    assert text.startswith(
        "PAY 4.2.0 now forecast 2030-01-15, 5 days after its target: waits for LED 4.1 to ship first."
    )


def test_the_admin_validates_and_audits_a_webhook(superuser_client):
    url = "/admin/releases/chatwebhook/add/"
    bad = {
        "name": "news",
        "url": "http://hooks.example.com/x",
        "style": "slack",
        "kinds": '["spam"]',
        "is_active": "on",
    }
    response = superuser_client.post(url, bad)
    assert response.status_code == 200 and not ChatWebhook.objects.exists()
    good = bad | {"url": "https://hooks.example.com/x", "kinds": '["slip"]'}
    assert superuser_client.post(url, good).status_code == 302
    assert ChatWebhook.objects.get().kinds == ["slip"]
    assert AuditEvent.objects.filter(action="chatwebhook.create").exists()


def test_slack_text_cannot_mention_the_channel(received):
    hook = f.ChatWebhookFactory(style="slack")
    chat.chat_webhook_post(webhook_id=hook.pk, text="PAY <!channel> & co", link="https://x")
    (request,) = received
    assert (
        json.loads(request.content)["text"] == "PAY &lt;!channel&gt; &amp; co\n<https://x|Open in Flightdeck>"
    )
