"""The audit trail as a django-tables2 table: headers and sort orders (the template writes the cells)."""

import django_tables2 as tables

from releases.models import AuditEvent


class AuditEventTable(tables.Table):
    seq = tables.Column(verbose_name="#", order_by=("seq",))
    created_at = tables.Column(verbose_name="When", order_by=("seq",))
    actor = tables.Column(verbose_name="Who", orderable=False)
    event = tables.Column(verbose_name="What happened", accessor="action", orderable=False)
    changes = tables.Column(verbose_name="Changes", accessor="pk", orderable=False)

    class Meta:
        model = AuditEvent
        fields = ("seq", "created_at", "actor", "event", "changes")
        order_by = ("-seq",)
        empty_text = "No audit event matches these filters."
