"""Reusable reads. Imported by the models, so this module imports no model."""

from datetime import date, datetime, timedelta

from django.db import models


class ReleaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=["released", "cancelled"])

    def for_portfolio(self, portfolio):
        return self.filter(application__portfolio=portfolio)

    def for_list(self):
        return self.select_related("application", "application__portfolio", "train", "owner")


class BookingQuerySet(models.QuerySet):
    def approved(self):
        return self.filter(status="approved")

    def overlapping(self, starts_at: datetime, ends_at: datetime):
        """Half-open intervals: [a, b) and [c, d) overlap when a < d and c < b."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)


def week_summary(*, week_start: date, today: date) -> dict:
    """Headline numbers for the home page: three COUNT queries, whatever the data size."""
    from releases.models import Booking, Gate, Release

    return {
        "shipping_this_week": Release.objects.open()
        .filter(target_date__gte=week_start, target_date__lt=week_start + timedelta(days=7))
        .count(),
        "overdue_gates": Gate.objects.filter(status__in=["pending", "failed"], due_date__lt=today)
        .exclude(release__status__in=["released", "cancelled"])
        .count(),
        "waiting_bookings": Booking.objects.filter(status="requested").count(),
    }
