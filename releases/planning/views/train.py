"""The release train page: a server-rendered SVG timeline of the train's releases and the same releases
as a table. Three queries of its own whatever the train's size: the train, its releases, and the
dependencies into them (with the releases of other trains that hold them)."""

from datetime import timedelta

from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from releases.models import ReleaseDependency, ReleaseTrain
from releases.planning.gantt import GanttLink, GanttRelease, gantt_layout

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
def train_detail(request, pk: int):
    train = get_object_or_404(ReleaseTrain.objects.select_related("portfolio"), pk=pk)
    releases = [_gantt_release(row) for row in train.releases.values(*RELEASE_FIELDS.values())]
    path_ids = {rid for release in releases for rid in release.critical_path}
    links, ghosts = _links_and_holders(train, path_ids, {r.id for r in releases})
    layout = gantt_layout(
        [*releases, *ghosts], links, window=(train.starts_on, train.ends_on), today=timezone.localdate()
    )
    context = {
        "train": train,
        "last_day": train.ends_on - timedelta(days=1),
        "layout": layout,
        "release_list_url": f"{reverse('releases:list')}?train={train.pk}",
    }
    return render(request, "releases/train_detail.html", context)


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
