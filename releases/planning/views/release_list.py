"""The release list (filters, sortable table, HTMX partial refresh) and the CSV export of one filter."""

from datetime import timedelta

from django.utils import timezone
from django.views.decorators.http import require_GET

from releases import lists
from releases.csv_export import csv_response
from releases.models import Release, ReleaseTrain
from releases.planning.filters import ReleaseFilter, When
from releases.planning.forecast import STATE_LABELS, delivery_state
from releases.planning.selectors import saved_views as saved_view_selectors
from releases.planning.services import bulk
from releases.planning.tables import ReleaseTable
from releases.querysets import display_name

# The filters shown as a select, with the label of their empty choice.
SELECTS = {
    "portfolio": "All portfolios",
    "application": "All applications",
    "train": "All trains",
    "gate_state": "Any gate state",
    "state": "Any delivery state",
    "when": "All dates",
}

# (header, field): the export reads plain values, never model instances.
CSV_COLUMNS = [
    ("Application", "application__key"),
    ("Application name", "application__name"),
    ("Portfolio", "application__portfolio__name"),
    ("Version", "version"),
    ("Status", "status"),
    ("Target date", "target_date"),
    ("Code freeze", "code_freeze_date"),
    ("Forecast date", "forecast_date"),
    ("Slip days", "forecast_slip_days"),
    ("At risk", "at_risk"),
    ("State", "forecast_state"),
    ("Blocked by", "forecast_blocked_reason"),
    ("Shipped on", "actual_date"),
    ("Owner", "owner_name"),  # the full name, else the username, as the pages show it
    ("Train", "train__name"),
    ("Summary", "summary"),
]
BULK_TRAINS = 300
FIELD_INDEX = {field: n for n, (_, field) in enumerate(CSV_COLUMNS)}


@require_GET
def release_list(request):
    filterset = release_filter(request, Release.objects.for_list())
    table = lists.paginate_table(request, ReleaseTable(filterset.qs))
    context = {
        "filterset": filterset,
        "selects": lists.filter_selects(filterset, SELECTS),
        "table": table,
        "ignored": lists.ignored_filters(filterset),
        "bulk_statuses": bulk.BULK_STATUSES,
        "bulk_trains": _bulk_trains,  # a callable: read only when the bulk bar is shown
        "saved_views": saved_view_selectors.nav_lazy(request.user, "list"),
    }
    return lists.render_list(request, "releases/release_list.html", "release-table", context)


@require_GET
def release_export(request):
    """Streamed: rows go out as the database cursor yields them, in constant memory."""
    filterset = release_filter(request, Release.objects.annotate(owner_name=display_name("owner")))
    rows = filterset.qs.values_list(*(field for _, field in CSV_COLUMNS)).iterator(chunk_size=2000)
    status_at, state_at = FIELD_INDEX["status"], FIELD_INDEX["forecast_state"]
    status_labels = dict(Release.Status.choices)

    def cells():
        for row in rows:
            row = [_yes_no(value) for value in row]
            row[state_at] = STATE_LABELS[delivery_state(row[status_at], row[state_at])]
            row[status_at] = status_labels.get(row[status_at], row[status_at])
            yield row

    return csv_response("releases.csv", [header for header, _ in CSV_COLUMNS], cells())


def _bulk_trains() -> list[tuple]:
    """The trains a bulk change may put releases on: those not over for a month, soonest first."""
    since = timezone.localdate() - timedelta(days=30)
    trains = ReleaseTrain.objects.filter(ends_on__gte=since).order_by("starts_on", "name")
    return list(trains.values_list("pk", "name", "portfolio__name")[:BULK_TRAINS])


def release_filter(request, queryset) -> ReleaseFilter:
    data = request.GET.copy()
    # The list opens on what is coming, not on three years of history ("All dates" shows everything).
    data.setdefault("when", When.UPCOMING)
    return ReleaseFilter(data, queryset=queryset)


def _yes_no(value):
    return ("yes" if value else "no") if isinstance(value, bool) else value
