"""Reusable reads, and the rules that are reads: status sets, portfolio ancestry, freeze scope, who
may sign a gate. Each rule that has a Python twin (releases.freezes, the parent walk below,
releases.gates.services.signoffs.sign_blockers) keeps it beside this one. Imported by the models, so this
module imports no model."""

from collections.abc import Collection
from datetime import date, timedelta

from django.contrib.auth.models import Group
from django.db import connections, models
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat, NullIf, Trim

# Status sets: each spelled here once, named on its model (Release.CLOSED_STATUSES, ...).
# A release that shipped or was cancelled is closed: it forecasts nothing and holds nothing open.
CLOSED_STATUSES = ("released", "cancelled")
# Requested or approved: a booking that holds, or may soon hold, an environment.
LIVE_BOOKING_STATUSES = ("requested", "approved")
# A gate not yet passed or waived holds its release (a failed gate may still be waived or re-signed).
UNSETTLED_GATE_STATUSES = ("pending", "failed")
SETTLED_GATE_STATUSES = ("passed", "waived")
DECIDED_GATE_STATUSES = ("passed", "failed", "waived")

SIGN_PERMISSION = "releases.sign_gate"


# --- portfolio ancestry --------------------------------------------------------------------------


def portfolio_lineage(portfolio_id: int | None, parents: dict[int, int | None]) -> list[int]:
    """The portfolio, its parent, its grandparent... up to the top, from a {pk: parent_id} map.
    Validation refuses parent loops, but a database may still hold one: the walk stops where it
    would come round again instead of hanging."""
    chain: list[int] = []
    while portfolio_id is not None and portfolio_id not in chain:
        chain.append(portfolio_id)
        portfolio_id = parents.get(portfolio_id)
    return chain


def portfolio_subtree(portfolio_id: int, parents: dict[int, int | None]) -> list[int]:
    """The portfolio and all its descendants (programmes, their programmes...), loop-safe."""
    children: dict[int | None, list[int]] = {}
    for pk, parent in parents.items():
        children.setdefault(parent, []).append(pk)
    reach, todo = [], [portfolio_id]
    while todo:
        pk = todo.pop()
        if pk not in reach:
            reach.append(pk)
            todo += children.get(pk, [])
    return sorted(reach)


class PortfolioQuerySet(models.QuerySet):
    def parents(self) -> dict[int, int | None]:
        """{pk: parent_id} of every portfolio: one query, for portfolio_lineage and friends."""
        return dict(self.order_by().values_list("pk", "parent_id"))

    def lineage_ids(self, portfolio_id: int | None) -> list[int]:
        """portfolio_lineage read from the database (one query)."""
        return portfolio_lineage(portfolio_id, self.parents()) if portfolio_id is not None else []

    def lineage(self, portfolio_id: int):
        """The portfolio and all its ancestors, as a queryset (one recursive query, usable as a
        subquery). UNION, not UNION ALL: a parent loop ends the recursion."""
        return self.filter(pk__in=self._walk(portfolio_id, up=True))

    def subtree(self, portfolio_id: int):
        """The portfolio and all its descendants, as a queryset (see lineage)."""
        return self.filter(pk__in=self._walk(portfolio_id, up=False))

    def family(self, portfolio_id: int):
        """Its lineage and its subtree: every portfolio whose freezes hold some of its releases or
        those of its programmes."""
        return self.filter(
            Q(pk__in=self._walk(portfolio_id, up=True)) | Q(pk__in=self._walk(portfolio_id, up=False))
        )

    def _walk(self, portfolio_id: int, *, up: bool) -> RawSQL:
        meta = self.model._meta
        quote = connections[self.db].ops.quote_name
        table, pk, parent = (
            quote(meta.db_table),
            quote(meta.pk.column),
            quote(meta.get_field("parent").column),
        )
        follow = f"p.{pk} = walk.id" if up else f"p.{parent} = walk.id"
        nxt = f"p.{parent}" if up else f"p.{pk}"
        sql = (
            f"WITH RECURSIVE walk(id) AS (SELECT {pk} FROM {table} WHERE {pk} = %s "  # noqa: S608 (names from _meta)
            f"UNION SELECT {nxt} FROM {table} p JOIN walk ON {follow} WHERE {nxt} IS NOT NULL) "
            "SELECT id FROM walk"
        )
        return RawSQL(sql, [portfolio_id], output_field=models.BigIntegerField())  # noqa: S611 (one parameter)


# --- releases ------------------------------------------------------------------------------------


def delivery_state_q(state: str) -> Q:
    """releases.planning.forecast.delivery_state as a filter: a closed status wins over the stored
    forecast state, so a release cancelled since the last refresh counts as cancelled already."""
    if state == "shipped":
        return Q(status="released")
    if state == "cancelled":
        return Q(status="cancelled")
    still_open = ~Q(status__in=CLOSED_STATUSES)
    if state == "on_track":
        return still_open & ~Q(forecast_state__in=["at_risk", "blocked"])
    return still_open & Q(forecast_state=state)


class ReleaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=CLOSED_STATUSES)

    def in_delivery_state(self, state: str):
        return self.filter(delivery_state_q(state))

    def closed(self):
        return self.filter(status__in=CLOSED_STATUSES)

    def for_list(self):
        return self.select_related("application", "application__portfolio", "train", "owner")

    def targeting(self, start: date, end: date):
        """Releases whose target falls in [start, end): the calendar's period and Home's week."""
        return self.filter(target_date__gte=start, target_date__lt=end)

    def due_in_week(self, week_start: date):
        """Still to ship and targeted in the ISO week starting `week_start`: Home's "due this week",
        the calendar's week view filtered on the open statuses (week_link says how)."""
        return self.open().targeting(week_start, week_start + timedelta(days=7))


# --- gates ---------------------------------------------------------------------------------------


class GateQuerySet(models.QuerySet):
    def unsettled(self):
        """Pending or failed: not yet passed or waived."""
        return self.filter(status__in=UNSETTLED_GATE_STATUSES)

    def decided(self):
        return self.filter(status__in=DECIDED_GATE_STATUSES)

    def overdue(self, today: date):
        """Pending past their due day, on a release still open: Home's number and the reviewer queue's
        "Overdue only" (a failed gate is not overdue: it is decided, and Home lists it on its own)."""
        return self.filter(status="pending", due_date__lt=today).exclude(release__status__in=CLOSED_STATUSES)

    def signable_by(self, user):
        """The gates `user` may sign now: releases.gates.services.signoffs.sign_blockers as one filter
        (pending, signed by people, in a group of theirs, not their release nor their scope change,
        not signed by them yet). Keep the two together."""
        if not user.has_perm(SIGN_PERMISSION):
            return self.none()
        from releases.models import SignOff

        signed = SignOff.objects.filter(gate=OuterRef("pk"), signer=user)
        return (
            self.filter(status="pending", signer_group__in=Group.objects.filter(user=user).values("pk"))
            .exclude(release__owner=user)
            .exclude(release__scope_changed_by=user)
            .exclude(Exists(signed))
        )


# --- environments --------------------------------------------------------------------------------


class BookingQuerySet(models.QuerySet):
    def approved(self):
        return self.filter(status="approved")

    def live(self):
        """Requested or approved: what holds, or may soon hold, an environment."""
        return self.filter(status__in=LIVE_BOOKING_STATUSES)

    def waiting(self, now):
        """Requests waiting for a decision that are not over yet; a composite's component bookings go
        with it. Home's number and the approval queue (booking_queue.waiting_requests)."""
        return self.filter(status="requested", part_of__isnull=True, ends_at__gt=now)

    def overlapping(self, starts_at, ends_at):
        """Bookings that share an instant with [starts_at, ends_at): one ending at 10:00 and one
        starting at 10:00 do not."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)


class FreezeWindowQuerySet(models.QuerySet):
    def in_scope(self, *, portfolio_ids: Collection[int] = (), environment_ids: Collection[int] = ()):
        """Global windows, and those of these portfolios and environments: releases.freezes.applies
        as a query. Pass a portfolio's whole lineage (Portfolio.objects.lineage or portfolio_lineage):
        a freeze on a portfolio holds its programmes too. Either argument may be a queryset."""
        return self.filter(
            Q(scope="global")
            | Q(scope="portfolio", portfolio_id__in=portfolio_ids)
            | Q(scope="environment", environment_id__in=environment_ids)
        )

    def may_overlap(self, starts_at, ends_at):
        """Windows that may have an occurrence in [starts_at, ends_at): a recurring one always may,
        once it has started."""
        return self.filter(starts_at__lt=ends_at).filter(Q(ends_at__gt=starts_at) | ~Q(rrule=""))


def week_summary(*, week_start: date, today: date, now) -> dict:
    """Headline numbers for the home page: four COUNT queries, whatever the data size. Each number is
    the count of the queryset its linked page lists (tests/portal/test_home_counts.py)."""
    from releases.models import Booking, Gate, Release

    # delivery_state_q("blocked" / "at_risk"), grouped: read off release_open_state_idx alone
    risky = Release.objects.open().filter(forecast_state__in=["blocked", "at_risk"])
    states = {"blocked": 0, "at_risk": 0} | dict(
        risky.order_by().values_list("forecast_state").annotate(n=models.Count("pk"))
    )
    return {
        **states,
        "shipping_this_week": Release.objects.due_in_week(week_start).count(),
        "overdue_gates": Gate.objects.overdue(today).count(),
        "waiting_bookings": Booking.objects.waiting(now).count(),
    }


def display_name(user_path: str) -> Coalesce:
    """User.display_name (the full name, else the username) as SQL, for the user at `user_path`
    ("owner"): exports read it with the row instead of loading each user."""
    full = Trim(Concat(f"{user_path}__first_name", models.Value(" "), f"{user_path}__last_name"))
    return Coalesce(NullIf(full, models.Value("")), f"{user_path}__username")
