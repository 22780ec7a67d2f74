"""E-mail about bookings: requested, approved, rejected, cancelled, shortened.

Run by the worker (releases.tasks.booking_notify_task), enqueued after the commit of the decision, so a
rolled-back change sends nothing. The requester and the environment's admins (its owner group, or
everyone whose role decides bookings when it has none) are told, one message each.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from releases.models import Booking
from releases.notifications.services.delivery import Kind, Notice, deliver

EVENT_WORDS = {
    "requested": "waits for approval",
    "approved": "is approved",
    "rejected": "is rejected",
    "cancelled": "is cancelled",
    "shortened": "now ends earlier",
}


def booking_notify(*, booking_id: int, event: str) -> int:
    """Tell the requester and the environment's admins what happened; returns the messages sent."""
    booking = (
        Booking.objects.select_related("environment", "requester", "decided_by", "application", "release")
        .filter(pk=booking_id)
        .first()
    )
    if booking is None or event not in EVENT_WORDS:
        return 0
    subject = f"{booking.environment.name} booking #{booking.pk} {EVENT_WORDS[event]}"
    body = _body(booking, event)
    return deliver([Notice(uid, email, Kind.BOOKING, subject, body) for uid, email in _recipients(booking)])


def _recipients(booking: Booking) -> list[tuple[int, str]]:
    """(user id, e-mail) of the requester, then the admins."""
    admins = get_user_model().objects.filter(is_active=True).exclude(email="")
    if booking.environment.owner_group_id:
        admins = admins.filter(groups=booking.environment.owner_group_id)
    else:
        # Whoever may decide bookings (the environment admin role, and admins), by permission: the
        # domain does not know the role names, which portal defines.
        admins = admins.filter(
            groups__permissions__content_type__app_label="releases",
            groups__permissions__codename="decide_booking",
        )
    people = list(admins.order_by("pk").values_list("pk", "email").distinct())
    requester = booking.requester
    if requester.is_active and requester.email and requester.pk not in {pk for pk, _ in people}:
        people.insert(0, (requester.pk, requester.email))
    return people


def _body(booking: Booking, event: str) -> str:
    what = booking.release or booking.application
    lines = [
        f"{booking.environment.name}, {booking.starts_at:%Y-%m-%d %H:%M} "
        f"to {booking.ends_at:%Y-%m-%d %H:%M} UTC",
        f"For {what}: {booking.purpose}",
        f"Requested by {booking.requester.get_full_name() or booking.requester.get_username()}",
    ]
    if booking.decided_by and event in {"approved", "rejected"}:
        decider = booking.decided_by.get_full_name() or booking.decided_by.get_username()
        lines.append(f"{event.capitalize()} by {decider}" + (f": {booking.reason}" if booking.reason else ""))
    url = settings.FLIGHTDECK_BASE_URL + reverse("environments:detail", args=[booking.environment_id])
    lines.append(f"\nOpen the environment: {url}")
    return "\n".join(lines) + "\n"
