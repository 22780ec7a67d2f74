"""The one recipe of a list page: filter set, then a table or a paginator, then the page or its partial.

    filterset = GateQueueFilter(request.GET, queryset=...)
    page = lists.paginate(request, filterset.qs)               # or lists.paginate_table(request, table)
    context = {"page": page, "selects": lists.filter_selects(filterset, SELECTS), ...}
    return lists.render_list(request, TEMPLATE, "gate-queue", context)

A filter value that names nothing is dropped rather than emptying the list (`ignored_filters` words
it for a notice). `?per_page=` is bounded and anything else is refused with a 400 that names it;
`?page=` past the end shows the last page and a malformed one the first. The list's part of the
template is a named partial whose name is its DOM id, and its pager is templates/partials/pager.html.
"""

from django.core.paginator import Page, Paginator
from django.shortcuts import render
from django_tables2 import RequestConfig, Table

from releases import params

PER_PAGE, MAX_PER_PAGE = 50, 500


def per_page(request) -> int:
    """?per_page= from 1 to MAX_PER_PAGE; PER_PAGE when it is missing."""
    number = params.integer(request.GET.get("per_page"), name="per_page", minimum=1, maximum=MAX_PER_PAGE)
    return number or PER_PAGE


def paginate(request, rows) -> Page:
    """The page of `rows` that ?page= asks for."""
    return Paginator(rows, per_page(request)).get_page(request.GET.get("page"))


def paginate_table(request, table: Table) -> Table:
    """The table sorted by ?sort= and cut to the page ?page= asks for (django-tables2 reads both)."""
    RequestConfig(request, paginate={"per_page": per_page(request)}).configure(table)
    return table


def filter_selects(filterset, empty_labels: dict[str, str | None]) -> list[tuple]:
    """(bound field, its choices) of each filter the template writes as a select, in the order of
    `empty_labels`, which also names each one's empty choice (None keeps the field's own). The options
    are read here, once: a template looping over the field would also COUNT them."""
    form = filterset.form
    for name, label in empty_labels.items():
        if label is not None:
            form.fields[name].empty_label = label
    return [(form[name], list(iter(form.fields[name].choices))) for name in empty_labels]


def ignored_filters(filterset) -> list[str]:
    """The filter values dropped as unknown or malformed, as "Label “value”" for the notice."""
    if not filterset.is_bound:
        return []
    ignored = []
    for name in filterset.errors:
        field = filterset.form.fields.get(name)
        label = field.label if field is not None else name
        ignored.append(f"{label} “{', '.join(filterset.data.getlist(name))}”")
    return ignored


def render_list(request, template: str, partial: str, context: dict):
    """The whole page, or only the list's named partial when HTMX targets it by its DOM id."""
    if request.htmx and request.htmx.target == partial:
        template = f"{template}#{partial}"
    return render(request, template, context)
