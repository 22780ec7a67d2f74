"""Reusable reads. Imported by the models, so this module imports no model."""

from datetime import date, timedelta

from django.db import models

# A release that shipped or was cancelled is closed: it forecasts nothing and holds nothing open.
CLOSED_STATUSES = ("released", "cancelled")


class ReleaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=CLOSED_STATUSES)

    def closed(self):
        return self.filter(status__in=CLOSED_STATUSES)

    def for_list(self):
        return self.select_related("application", "application__portfolio", "train", "owner")


class BookingQuerySet(models.QuerySet):
    def approved(self):
        return self.filter(status="approved")

    def live(self):
        """Requested or approved: what holds, or may soon hold, an environment."""
        return self.filter(status__in=["requested", "approved"])

    def overlapping(self, starts_at, ends_at):
        """Bookings that share an instant with [starts_at, ends_at): one ending at 10:00 and one
        starting at 10:00 do not."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)


def week_summary(*, week_start: date, today: date) -> dict:
    """Headline numbers for the home page: three COUNT queries, whatever the data size."""
    from releases.models import Booking, Gate, Release

    return {
        "shipping_this_week": Release.objects.open()
        .filter(target_date__gte=week_start, target_date__lt=week_start + timedelta(days=7))
        .count(),
        "overdue_gates": Gate.objects.filter(status__in=["pending", "failed"], due_date__lt=today)
        .exclude(release__status__in=CLOSED_STATUSES)
        .count(),
        "waiting_bookings": Booking.objects.filter(status="requested").count(),
    }
