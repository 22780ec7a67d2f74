"""The release list (filters, sortable table, HTMX partial refresh) and the CSV export of one filter."""

import csv

from django.http import StreamingHttpResponse
from django.views.decorators.http import require_GET

from releases import lists
from releases.models import Release
from releases.planning.filters import ReleaseFilter, When
from releases.planning.forecast import STATE_LABELS, delivery_state
from releases.planning.tables import ReleaseTable

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
    ("Owner", "owner__username"),
    ("Train", "train__name"),
    ("Summary", "summary"),
]
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
    }
    return lists.render_list(request, "releases/release_list.html", "release-table", context)


@require_GET
def release_export(request):
    """Streamed: rows go out as the database cursor yields them, in constant memory."""
    filterset = release_filter(request, Release.objects.all())
    rows = filterset.qs.values_list(*(field for _, field in CSV_COLUMNS)).iterator(chunk_size=2000)
    writer = csv.writer(_Echo())
    status_at, state_at = FIELD_INDEX["status"], FIELD_INDEX["forecast_state"]

    def lines():
        yield writer.writerow([header for header, _ in CSV_COLUMNS])
        for row in rows:
            cells = [_cell(value) for value in row]
            cells[state_at] = STATE_LABELS[delivery_state(row[status_at], row[state_at])]
            yield writer.writerow(cells)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="releases.csv"'
    return response


def release_filter(request, queryset) -> ReleaseFilter:
    data = request.GET.copy()
    # The list opens on what is coming, not on three years of history ("All dates" shows everything).
    data.setdefault("when", When.UPCOMING)
    return ReleaseFilter(data, queryset=queryset)


class _Echo:
    """csv.writer writes to this and gets the line back, so each row can be yielded."""

    def write(self, value: str) -> str:
        return value


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value
