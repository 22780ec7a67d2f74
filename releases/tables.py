"""The release list as a django-tables2 table. Every value comes from the row and its select_related
joins (Release.objects.for_list()), so a page of 50 rows is one query."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from releases.models import Release


def status_badge(release: Release) -> str:
    return format_html(
        '<span class="badge status-{}">{}</span>', release.status, release.get_status_display()
    )


class ReleaseTable(tables.Table):
    application = tables.Column(
        accessor="application__key", verbose_name="Application", order_by=("application__key", "pk")
    )
    version = tables.Column(verbose_name="Version", order_by=("application__key", "version", "pk"))
    status = tables.Column(verbose_name="Status", order_by=("status", "target_date", "pk"))
    target_date = tables.DateColumn(verbose_name="Target", format="Y-m-d", order_by=("target_date", "pk"))
    forecast_date = tables.DateColumn(
        verbose_name="Forecast", format="Y-m-d", order_by=("forecast_date", "pk"), default="—"
    )
    forecast_slip_days = tables.Column(
        verbose_name="Slip",
        order_by=("forecast_slip_days", "target_date", "pk"),
        attrs={"td": {"class": "num"}},
    )
    at_risk = tables.Column(verbose_name="Risk", order_by=("at_risk", "target_date", "pk"))
    owner = tables.Column(
        verbose_name="Owner", order_by=("owner__last_name", "owner__first_name", "pk"), default="—"
    )
    train = tables.Column(verbose_name="Train", order_by=("train__name", "pk"), default="—")

    class Meta:
        model = Release
        fields = ()
        sequence = (
            "application",
            "version",
            "status",
            "target_date",
            "forecast_date",
            "forecast_slip_days",
            "at_risk",
            "owner",
            "train",
        )
        order_by = ("target_date",)
        empty_text = "No release matches these filters."
        attrs = {"class": "release-table"}

    def render_application(self, record: Release):
        return format_html('<abbr title="{}">{}</abbr>', record.application.name, record.application.key)

    def render_version(self, record: Release):
        return format_html(
            '<a href="{}">{}</a>', reverse("releases:detail", args=[record.pk]), record.version
        )

    def render_status(self, record: Release):
        return status_badge(record)

    def render_forecast_slip_days(self, value: int):
        if value > 0:
            return format_html('<span class="slip slip-late">+{}&nbsp;d</span>', value)
        if value < 0:
            return format_html('<span class="slip slip-early">{}&nbsp;d</span>', value)
        return mark_safe('<span class="slip">0</span>')

    def render_at_risk(self, value: bool):
        return mark_safe('<span class="badge badge-alert">At risk</span>') if value else ""

    def render_owner(self, record: Release):
        return record.owner.get_full_name() or record.owner.get_username()

    def render_train(self, record: Release):
        return format_html(
            '<a href="{}">{}</a>', reverse("releases:train", args=[record.train_id]), record.train
        )
