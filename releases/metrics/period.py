"""What a figure covers: the scope (an application, a portfolio and its programmes, or everything) and
the period (from one portal midnight to another)."""

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Q
from django.utils import timezone

from releases.models import Application


@dataclass(frozen=True)
class Scope:
    """Which rows count: one application, a portfolio and its programmes, or everything."""

    application_id: int | None = None
    portfolio_ids: tuple[int, ...] | None = None

    def q(self, application: str) -> Q:
        """The condition on rows whose application is reached through `application` (a lookup path)."""
        if self.application_id is not None:
            return Q(**{f"{application}_id": self.application_id})
        if self.portfolio_ids is not None:
            return Q(**{f"{application}__portfolio_id__in": self.portfolio_ids})
        return Q()

    def filter(self, rows):
        return rows.filter(self.q("application"))

    def application_ids(self):
        """The applications in scope (a list or a subquery), or None for all of them."""
        if self.application_id is not None:
            return [self.application_id]
        if self.portfolio_ids is not None:
            return Application.objects.filter(portfolio_id__in=self.portfolio_ids).values("pk")
        return None


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def days(self) -> int:
        return max((self.end - self.start).days, 1)

    def previous(self) -> "Period":
        return Period(self.start - (self.end - self.start), self.start)


# Days are the portal's (settings.TIME_ZONE), whoever looks: a day's roll-up is the same for everyone.


def portal_zone():
    return timezone.get_default_timezone()


def portal_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=portal_zone())


def portal_day(moment: datetime) -> date:
    return timezone.localtime(moment, portal_zone()).date()


def portal_today() -> date:
    return timezone.localdate(timezone=portal_zone())
