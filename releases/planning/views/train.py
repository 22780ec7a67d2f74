"""The release trains: their index (each with its window, releases and those at risk, per portfolio),
and a train's page: a server-rendered SVG timeline of its releases, with the freezes that hold its
portfolio, and the same releases as a table. The page reads five queries of its own whatever the
train's size: the train, its releases, the dependencies into them (with the releases of other trains
that hold them), the portfolio tree and the freeze windows."""

from datetime import datetime, time, timedelta

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from releases.freezes import applies, frozen_days
from releases.models import FreezeWindow, Portfolio, ReleaseDependency, ReleaseTrain
from releases.planning.forms import TrainFilterForm
from releases.planning.gantt import GanttLink, GanttRelease, gantt_layout
from releases.querysets import CLOSED_STATUSES, portfolio_lineage

TRAINS_PER_PAGE = 50
MARGIN = timedelta(days=31)  # freezes are read this far either side of the window (the axis pads it)
RELEASE_FIELDS = {
    "id": "id",
    "version": "version",
    "status": "status",
    "target": "target_date",
    "start": "code_freeze_date",
    "forecast": "forecast_date",
    "actual": "actual_date",
    "at_risk": "at_risk",
    "state": "forecast_state",
    "blocked_reason": "forecast_blocked_reason",
    "slip_days": "forecast_slip_days",
    "waiting_for": "forecast_waiting_for",
    "critical_path": "forecast_critical_path",
    "key": "application__key",
    "train_id": "train_id",
    "train_name": "train__name",
}


@require_GET
def train_list(request):
    """Every train, the current and coming ones first (?when=past: those over), with the number of its
    releases and of those at risk; ?portfolio= narrows it to a portfolio and its programmes. Two
    queries: the trains with their counts, and the portfolios for the filter."""
    form = TrainFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    today = timezone.localdate()
    trains = ReleaseTrain.objects.select_related("portfolio").annotate(
        release_count=Count("releases"),
        at_risk_count=Count(
            "releases", filter=Q(releases__at_risk=True) & ~Q(releases__status__in=CLOSED_STATUSES)
        ),
    )
    if data.get("when") == "past":
        trains = trains.filter(ends_on__lte=today).order_by("-ends_on", "name")
    else:
        trains = trains.filter(ends_on__gt=today).order_by("starts_on", "name")
    if data.get("portfolio"):
        trains = trains.filter(portfolio__in=Portfolio.objects.subtree(data["portfolio"].pk))
    page = Paginator(trains, TRAINS_PER_PAGE).get_page(request.GET.get("page"))
    for train in page:  # the window's last day: ends_on is the day after it
        train.last_day = train.ends_on - timedelta(days=1)
    context = {
        "form": form,
        "page": page,
        "today": today,
        "ignored": [form[name].label for name in form.errors],
        "may_plan_trains": request.user.has_perm("releases.add_releasetrain"),
    }
    return render(request, "releases/train_list.html", context)


@require_GET
def train_detail(request, pk: int):
    train = get_object_or_404(ReleaseTrain.objects.select_related("portfolio"), pk=pk)
    releases = [_gantt_release(row) for row in train.releases.values(*RELEASE_FIELDS.values())]
    path_ids = {rid for release in releases for rid in release.critical_path}
    links, ghosts = _links_and_holders(train, path_ids, {r.id for r in releases})
    layout = gantt_layout(
        [*releases, *ghosts],
        links,
        window=(train.starts_on, train.ends_on),
        today=timezone.localdate(),
        freezes=_freezes(train),
    )
    context = {
        "train": train,
        "last_day": train.ends_on - timedelta(days=1),
        "layout": layout,
        "release_list_url": f"{reverse('releases:list')}?train={train.pk}",
        "may_edit": request.user.has_perm("releases.change_releasetrain"),
    }
    return render(request, "releases/train_detail.html", context)


def _freezes(train) -> list[tuple]:
    """The freeze windows that hold the train's portfolio (global ones, its own and its ancestors'),
    as days from a month before its window to a month after: two queries."""
    start = timezone.make_aware(datetime.combine(train.starts_on - MARGIN, time()))
    end = timezone.make_aware(datetime.combine(train.ends_on + MARGIN, time()))
    lineage = portfolio_lineage(train.portfolio_id, Portfolio.objects.parents())
    windows = FreezeWindow.objects.exclude(scope=FreezeWindow.Scope.ENVIRONMENT).may_overlap(start, end)
    return sorted(
        (first, after, window.reason)
        for window in windows
        if applies(window, portfolio_ids=lineage)
        for first, after in frozen_days(window, start=start, end=end)
    )


def _links_and_holders(train, path_ids: set[int], train_ids: set[int]):
    """The dependencies into the train's releases and along their critical paths, in one query, with the
    upstream releases of other trains (ghost rows): those a train release depends on directly, and
    those further up a critical path."""
    upstream_fields = [f"upstream__{name}" for name in RELEASE_FIELDS.values()]
    rows = ReleaseDependency.objects.filter(Q(downstream__train=train) | Q(downstream_id__in=path_ids))
    links, ghosts = [], {}
    for row in rows.values("downstream_id", "kind", *upstream_fields):
        upstream = {name.removeprefix("upstream__"): value for name, value in row.items()}
        up_id, down_id = upstream["id"], row["downstream_id"]
        if down_id not in train_ids and up_id not in path_ids:
            continue  # another upstream of a release further up a critical path
        links.append(GanttLink(downstream=down_id, upstream=up_id, kind=row["kind"]))
        if up_id not in train_ids:
            ghosts[up_id] = _gantt_release(upstream, ghost=True)
    return links, list(ghosts.values())


def _gantt_release(row: dict, *, ghost: bool = False) -> GanttRelease:
    values = {name: row[column] for name, column in RELEASE_FIELDS.items() if name not in ("key", "version")}
    values |= {
        "label": f"{row['application__key']} {row['version']}",
        "waiting_for": tuple(values["waiting_for"] or ()),
        "critical_path": tuple(values["critical_path"] or ()),
        "train_name": values["train_name"] or "",
        "url": reverse("releases:detail", args=[row["id"]]),
    }
    return GanttRelease(**values, ghost=ghost)
