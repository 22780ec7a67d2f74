"""Marking the notices of one's own inbox read. A person's reading state, not a governance fact: not
audited. Only the person's own notices are touched; another's is a 404, as if it did not exist."""

from django.db import transaction
from django.utils import timezone

from releases.errors import NotFound
from releases.models import Notification


@transaction.atomic
def notification_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notices read (a notice read already keeps its first time)."""
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("There is no such notification in your inbox.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )
    return notification


@transaction.atomic
def notifications_read_all(*, user) -> int:
    """Mark every unread notice of the user read: one UPDATE; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
