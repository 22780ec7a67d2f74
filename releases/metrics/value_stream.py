"""The value stream: did the company's priorities ship? A release's work items roll up to their epic
(the tool's parent link), and an epic to its initiative (the epic's label).

For each epic with work shipped in the period: how many of its items there are, how many shipped in
the period (their fix release released in it), when its first work started (its earliest item
created), when it last shipped, and the days from the first work to production. Initiatives add up
their epics. Three queries: the period's shipped items grouped by epic, those epics' items, and the
epics themselves.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Max, Min

from releases.metrics.period import Period, Scope
from releases.models import Release, WorkItem

NO_INITIATIVE = "(no initiative)"


@dataclass(frozen=True)
class Flow:
    """One epic, or one initiative's epics together."""

    name: str
    title: str
    application: str
    initiative: str
    epics: int
    items: int
    shipped: int
    first_work: datetime | None
    last_shipped: date | None

    @property
    def days_to_production(self) -> int | None:
        if self.first_work is None or self.last_shipped is None:
            return None
        return (self.last_shipped - self.first_work.date()).days


def epic_flows(scope: Scope, period: Period) -> list[Flow]:
    """The epics with items shipped in the period, latest shipped first. The period's shipped items
    name the epics; only those epics' items are then counted whole."""
    first, after = period.start.date(), period.end.date()
    items = WorkItem.objects.exclude(parent_key="").filter(scope.q("application"))
    shipped = (
        items.filter(
            fix_releases__status=Release.Status.RELEASED,
            fix_releases__actual_date__gte=first,
            fix_releases__actual_date__lt=after,
        )
        .values("parent_key")
        .annotate(shipped=Count("pk", distinct=True), last_shipped=Max("fix_releases__actual_date"))
        .order_by()
    )
    shipped = {row["parent_key"]: row for row in shipped}
    whole = (
        items.filter(parent_key__in=list(shipped))
        .values_list("parent_key")
        .annotate(items=Count("pk"), first_work=Min("created_at"))
        .order_by()
    )
    counted = {key: (count, first_work) for key, count, first_work in whole}
    epics = {
        key: (title, labels, application)
        for key, title, labels, application in WorkItem.objects.filter(key__in=list(shipped)).values_list(
            "key", "title", "labels", "application__key"
        )
    }
    flows = []
    for key, row in shipped.items():
        title, labels, application = epics.get(key, (key, "", ""))
        count, first_work = counted[key]
        flows.append(
            Flow(
                key,
                title,
                application,
                labels.split(" ", 1)[0] if labels else NO_INITIATIVE,
                1,
                count,
                row["shipped"],
                first_work,
                row["last_shipped"],
            )
        )
    return sorted(flows, key=lambda flow: (flow.last_shipped, flow.name), reverse=True)


def initiative_flows(epics: list[Flow]) -> list[Flow]:
    """The epics added up by initiative, the most shipped first."""
    by_initiative: dict[str, list[Flow]] = {}
    for epic in epics:
        by_initiative.setdefault(epic.initiative, []).append(epic)
    flows = [
        Flow(
            name,
            name,
            "",
            name,
            len(group),
            sum(e.items for e in group),
            sum(e.shipped for e in group),
            min((e.first_work for e in group if e.first_work), default=None),
            max((e.last_shipped for e in group if e.last_shipped), default=None),
        )
        for name, group in by_initiative.items()
    ]
    return sorted(flows, key=lambda flow: (-flow.shipped, flow.name))
