"""The release list (filters, sortable table, HTMX partial refresh) and the CSV export of one filter."""

import csv

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_tables2 import RequestConfig

from releases import params
from releases.models import Release
from releases.planning.filters import ReleaseFilter, When
from releases.planning.tables import ReleaseTable

PER_PAGE, MAX_PER_PAGE = 50, 500
# The filters shown as a select, with the label of their empty choice.
SELECTS = {
    "portfolio": "All portfolios",
    "application": "All applications",
    "train": "All trains",
    "gate_state": "Any gate state",
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
    ("Shipped on", "actual_date"),
    ("Owner", "owner__username"),
    ("Train", "train__name"),
    ("Summary", "summary"),
]


@require_GET
def release_list(request):
    filterset = release_filter(request, Release.objects.for_list())
    table = ReleaseTable(filterset.qs)
    per_page = params.integer(request.GET.get("per_page"), name="per_page", minimum=1, maximum=MAX_PER_PAGE)
    RequestConfig(request, paginate={"per_page": per_page or PER_PAGE}).configure(table)
    template = "releases/release_list.html"
    if request.htmx and request.htmx.target == "release-table":
        template += "#release-table"
    context = {
        "filterset": filterset,
        "selects": filter_selects(filterset),
        "table": table,
        "ignored": ignored_filters(filterset),
    }
    return render(request, template, context)


@require_GET
def release_export(request):
    """Streamed: rows go out as the database cursor yields them, in constant memory."""
    filterset = release_filter(request, Release.objects.all())
    rows = filterset.qs.values_list(*(field for _, field in CSV_COLUMNS)).iterator(chunk_size=2000)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([header for header, _ in CSV_COLUMNS])
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="releases.csv"'
    return response


def release_filter(request, queryset) -> ReleaseFilter:
    data = request.GET.copy()
    # The list opens on what is coming, not on three years of history ("All dates" shows everything).
    data.setdefault("when", When.UPCOMING)
    filterset = ReleaseFilter(data, queryset=queryset)
    # Six statuses read better as checkboxes than as a multi-select box.
    for name, everything in SELECTS.items():
        filterset.form.fields[name].empty_label = everything
    return filterset


def filter_selects(filterset: ReleaseFilter) -> list[tuple]:
    """(bound field, its choices) for the template to write: the options of each select come from one
    query, read once (a template loop would also COUNT them)."""
    form = filterset.form
    return [(form[name], list(iter(form.fields[name].choices))) for name in SELECTS]


def ignored_filters(filterset: ReleaseFilter) -> list[str]:
    """The filter values dropped as unknown or malformed, as "Label “value”" for the notice."""
    if not filterset.is_bound:
        return []
    ignored = []
    for name in filterset.errors:
        field = filterset.form.fields.get(name)
        label = field.label if field is not None else name
        ignored.append(f"{label} “{', '.join(filterset.data.getlist(name))}”")
    return ignored


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
