"""The audit trail for auditors: every event, filtered, in words with its changes, and the filtered set
as a streamed CSV. Only those who may read the trail (releases.view_auditevent: Auditor, Governance
officer, Admin). An export is itself recorded in the trail, with its filters."""

import json

from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.views.decorators.http import require_GET

from releases import lists
from releases.audit import audit_record
from releases.csv_export import csv_response
from releases.gates.audit_words import event_changes
from releases.gates.filters import AuditEventFilter
from releases.gates.selectors.audit_trail import audit_events, audit_rows
from releases.gates.tables import AuditEventTable
from releases.models import AuditEvent
from releases.querysets import display_name

PERMISSION = "releases.view_auditevent"
TEMPLATE = "releases/audit_trail.html"
SELECTS = {"actor": "Anyone", "portfolio": "All portfolios"}
CSV_COLUMNS = [
    ("Seq", "seq"),
    ("Time (UTC)", "created_at"),
    ("Actor", "actor_label"),
    ("Actor name", "actor_name"),
    ("Action", "action"),
    ("Object type", "object_type"),
    ("Object id", "object_id"),
    ("Object", "object_repr"),
    ("Release id", "release_id"),
    ("Portfolio id", "portfolio_id"),
    ("Changes", "changes"),
    ("Before", "before"),
    ("After", "after"),
    ("Previous hash", "prev_hash"),
    ("Hash", "hash"),
]


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def audit_event_list(request):
    filterset = AuditEventFilter(request.GET or None, queryset=audit_events())
    table = lists.paginate_table(request, AuditEventTable(filterset.qs))
    context = {
        "filterset": filterset,
        "selects": lists.filter_selects(filterset, SELECTS),
        "table": table,
        "rows": audit_rows(row.record for row in table.page.object_list),
        "ignored": lists.ignored_filters(filterset),
    }
    return lists.render_list(request, TEMPLATE, "audit-table", context)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def audit_event_export(request):
    """The filtered events, oldest first, streamed in constant memory."""
    filterset = AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.all())
    audit_export_record(by=request.user, query=request.GET.urlencode())
    names = [f for _, f in CSV_COLUMNS if f != "changes"]
    rows = (
        filterset.qs.order_by("seq")
        .annotate(actor_name=display_name("actor"))  # the full name, else the username
        .values_list(*names)
        .iterator(chunk_size=2000)
    )

    def cells():
        for values in rows:
            row = dict(zip(names, values, strict=True))
            before, after = _decoded(row["before"]), _decoded(row["after"])
            row["changes"] = "; ".join(f"{c.field}: {c.old} → {c.new}" for c in event_changes(before, after))
            row["before"] = (
                json.dumps(before, ensure_ascii=False, sort_keys=True) if before is not None else ""
            )
            row["after"] = json.dumps(after, ensure_ascii=False, sort_keys=True) if after is not None else ""
            yield [row[field] for _, field in CSV_COLUMNS]

    return csv_response("audit-trail.csv", [header for header, _ in CSV_COLUMNS], cells())


@transaction.atomic
def audit_export_record(*, by, query: str) -> None:
    """Who took a copy of the trail, and of what: recorded before the first row is sent."""
    audit_record(actor=by, action="audit.export", object_type="audit", after={"filters": query[:2000]})


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else value
