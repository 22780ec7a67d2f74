"""The reads of the admins' approval queue: the requests waiting for a decision, and for the shown page
what each one collides with. A fixed number of queries whatever the queue's length."""

from django.utils import timezone

from releases.environments.services.bookings import freeze_hits_of, peak
from releases.models import Booking


def waiting_requests():
    """The requests not over yet, soonest first (a composite's component bookings go with it)."""
    return (
        Booking.objects.waiting(timezone.now())
        .select_related("environment", "requester", "application", "release__application")
        .order_by("starts_at", "pk")
    )


def queue_rows(shown: list[Booking]) -> list[dict]:
    """Each shown request with the approved bookings it clashes with and the freezes it falls in."""
    approved, frozen = _approved_near(shown), freeze_hits_of(shown)
    return [{"booking": b, "clash": _clash(b, approved), "frozen": frozen[b.pk]} for b in shown]


def _approved_near(shown: list[Booking]) -> list[Booking]:
    """The approved bookings of the shown requests' environments over their time span: one query."""
    if not shown:
        return []
    return list(
        Booking.objects.approved()
        .filter(environment_id__in={b.environment_id for b in shown})
        .overlapping(min(b.starts_at for b in shown), max(b.ends_at for b in shown))
        .order_by("starts_at")
    )


def _clash(booking: Booking, approved: list[Booking]) -> list[Booking]:
    """The approved bookings that leave the environment itself no room for this request (approving
    checks it all again, components included, under the lock)."""
    overlapping = [
        b
        for b in approved
        if b.environment_id == booking.environment_id
        and b.starts_at < booking.ends_at
        and b.ends_at > booking.starts_at
    ]
    held = peak([(b.starts_at, b.ends_at) for b in overlapping], booking.starts_at, booking.ends_at)
    return overlapping if held >= booking.environment.capacity else []


MAX_SELECTED = 100  # requests approved at once


def selected_requests(ids: list[int]) -> list[Booking]:
    """The selected requests still waiting, soonest first: one query."""
    return list(waiting_requests().filter(pk__in=ids, part_of__isnull=True))


def preview_rows(selected: list[Booking]) -> list[dict]:
    """Each selected request, in the order they would be approved, with what stops its approval:
    approved bookings that leave no room (`clash`), requests selected before it that would take the
    room (`selected_clash`), freezes (`frozen`: an override needs its reason, given one request at a
    time in the queue). A fixed number of queries; approving checks it all again under the lock,
    components included."""
    approved, frozen = _approved_near(selected), freeze_hits_of(selected)
    rows, accepted = [], []
    for booking in sorted(selected, key=lambda b: (b.starts_at, b.pk)):
        clash = _clash(booking, approved)
        ahead = [] if clash else _clash(booking, approved + accepted)
        row = {
            "booking": booking,
            "clash": clash,
            "selected_clash": [b for b in ahead if b in accepted],
            "frozen": frozen[booking.pk],
        }
        row["ok"] = not (row["clash"] or row["selected_clash"] or row["frozen"])
        if row["ok"]:
            accepted.append(booking)
        rows.append(row)
    return rows
