"""Delivering notices: kept per person, e-mailed as each person chose, after the commit.

Every notification of the domain (gates, slips, bookings) ends here as a list of `Notice`s, one per
person, already summarised (a change that touches many gates is one notice per person, not one per
gate). `deliver` keeps each one (a `Notification` row) and e-mails at once those whose recipient
wants that kind at once (the default); kinds set to the digest wait for `digest_send` (beat, daily),
kinds set to off are kept but not e-mailed. Sending is network I/O: callers run outside a transaction
(Celery tasks queued on commit), and each message goes to one recipient.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from releases.mail import mail_send_each
from releases.models import Delivery, Notification, NotificationKind, NotificationPreference

SUBJECT_PREFIX = "[Flightdeck]"
SUBJECT_LENGTH = Notification._meta.get_field("subject").max_length
Kind = NotificationKind


@dataclass(frozen=True)
class Notice:
    user_id: int
    email: str
    kind: str
    subject: str  # without the prefix
    body: str


def deliver(notices: list[Notice]) -> int:
    """Keep each notice and e-mail those wanted at once; how many e-mails were sent. A fixed number
    of queries whatever the batch holds: the preferences, the insert, the stamp of what was sent."""
    if not notices:
        return 0
    chosen = delivery_by_user_and_kind({n.user_id for n in notices})
    rows = Notification.objects.bulk_create(
        Notification(
            user_id=n.user_id,
            kind=n.kind,
            delivery=chosen.get((n.user_id, n.kind), Delivery.IMMEDIATE),
            subject=n.subject[:SUBJECT_LENGTH],
            body=n.body,
        )
        for n in notices
    )
    now_ = [(row, n) for row, n in zip(rows, notices, strict=True) if row.delivery == Delivery.IMMEDIATE]
    if not now_:
        return 0
    sent = mail_send_each((f"{SUBJECT_PREFIX} {n.subject}", n.body, None, [n.email]) for _, n in now_)
    Notification.objects.filter(pk__in=[row.pk for row, _ in now_]).update(emailed_at=timezone.now())
    return sent


def delivery_by_user_and_kind(user_ids: set[int]) -> dict[tuple[int, str], str]:
    """The stored choices of these people (a kind without a row is Delivery.IMMEDIATE): one query."""
    choices = NotificationPreference.objects.filter(user_id__in=user_ids)
    return {(u, k): d for u, k, d in choices.values_list("user_id", "kind", "delivery")}


def digest_send() -> int:
    """Beat, daily: one e-mail per person with their notices waiting for the digest; how many sent.

    One UPDATE claims the waiting notices by stamping them with this run's time (an overlapping run
    finds nothing left); they are then read back by that stamp. People without an address or no
    longer active get no digest (their notices stay stamped, not re-sent)."""
    stamp = timezone.now()
    waiting = Notification.objects.filter(delivery=Delivery.DIGEST, emailed_at__isnull=True)
    if not waiting.update(emailed_at=stamp):
        return 0
    claimed = Notification.objects.filter(delivery=Delivery.DIGEST, emailed_at=stamp).order_by(
        "created_at", "pk"
    )
    by_user = defaultdict(list)
    for notice in claimed.only("user_id", "subject", "body", "created_at"):
        by_user[notice.user_id].append(notice)
    people = get_user_model().objects.filter(pk__in=by_user, is_active=True).exclude(email="")
    messages = []
    for user_id, email in people.values_list("pk", "email"):
        theirs = by_user[user_id]
        count = f"{len(theirs)} notification" + ("s" if len(theirs) != 1 else "")
        sections = [f"{n.created_at:%Y-%m-%d %H:%M} UTC: {n.subject}\n\n{n.body.strip()}" for n in theirs]
        body = (
            f"Your Flightdeck digest: {count} since the last one.\n\n"
            + "\n\n---\n\n".join(sections)
            + f"\n\nChoose what comes at once, in the digest or not at all: {profile_url()}\n"
        )
        messages.append((f"{SUBJECT_PREFIX} Your daily digest: {count}", body, None, [email]))
    return mail_send_each(messages)


def release_url(pk: int) -> str:
    """The release's page, absolute (the worker has no request to ask)."""
    return settings.FLIGHTDECK_BASE_URL + reverse("releases:detail", args=[pk])


def profile_url() -> str:
    return settings.FLIGHTDECK_BASE_URL + reverse("profile")
