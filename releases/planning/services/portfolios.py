"""Writes on portfolios. A parent loop is refused here (through Portfolio.clean) as in any form."""

from django.db import transaction

from releases import tasks
from releases.audit import audit_record
from releases.models import Portfolio
from releases.records import record_update

EDITABLE_FIELDS = frozenset({"name", "slug", "parent"})


@transaction.atomic
def portfolio_create(*, name: str, slug: str, by, parent: Portfolio | None = None) -> Portfolio:
    portfolio = Portfolio(name=name, slug=slug, parent=parent)
    portfolio.full_clean()
    portfolio.save()
    audit_record(actor=by, action="portfolio.create", obj=portfolio)
    if parent is not None:
        _follow_new_parent(portfolio, by)
    return portfolio


@transaction.atomic
def portfolio_update(*, portfolio: Portfolio, by, **changes) -> Portfolio:
    """Change the given fields, audited; a no-op change writes nothing. A new parent that would make
    a loop (the portfolio inside itself or one of its programmes) is refused with a ValidationError
    on `parent`. The rows involved are locked, so two people cannot close a loop at the same time."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"portfolio_update() got fields it does not change: {sorted(unknown)}")
    parent = changes.get("parent")
    locked = {portfolio.pk} | ({parent.pk} if parent is not None else set())
    list(Portfolio.objects.select_for_update().filter(pk__in=locked).order_by("pk"))
    portfolio = Portfolio.objects.get(pk=portfolio.pk)
    before = record_update(obj=portfolio, by=by, changes=changes)
    if before is not None and before["parent_id"] != portfolio.parent_id:
        _follow_new_parent(portfolio, by)
    return portfolio


def portfolio_set_parent(*, portfolio: Portfolio, parent: Portfolio | None, by) -> Portfolio:
    return portfolio_update(portfolio=portfolio, by=by, parent=parent)


def _follow_new_parent(portfolio: Portfolio, by) -> None:
    """Another parent brings other freezes (the forecast) and another inherited gate policy (the open
    releases of the portfolio and its programmes follow it), after the commit."""
    reach = list(Portfolio.objects.subtree(portfolio.pk).values_list("pk", flat=True))
    by_id = by.pk if by is not None and by.is_authenticated else None
    transaction.on_commit(lambda: tasks.gate_policy_propagate_task.delay(portfolio_ids=reach, by_id=by_id))
    tasks.forecast_refresh_after_commit()
