"""The reads of the inbox: a fixed number of queries whatever the inbox holds."""

from releases.models import Notification


def unread_count(*, user) -> int:
    """One COUNT over the partial index of unread notices."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def inbox_rows(*, user, unread_only: bool = False):
    """The user's notices, newest first (a queryset: the page's paginator cuts it)."""
    rows = Notification.objects.filter(user=user).only(
        "kind", "subject", "body", "created_at", "read_at", "delivery", "emailed_at"
    )
    return rows.filter(read_at__isnull=True) if unread_only else rows
