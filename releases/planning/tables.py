"""The release list as a django-tables2 table: its columns, headers and sort orders. RequestConfig sorts
and paginates it; templates/releases/release_list.html writes the cells of each page's rows directly
(django-tables2's per-cell rendering costs more than the rest of the page at 50 rows)."""

import django_tables2 as tables
from django.db.models import F

from releases.models import Release


class ReleaseTable(tables.Table):
    application = tables.Column(
        accessor="application__key", verbose_name="Application", order_by=("application__key", "pk")
    )
    version = tables.Column(verbose_name="Version", order_by=("application__key", "version", "pk"))
    status = tables.Column(verbose_name="Status", order_by=("status", "target_date", "pk"))
    target_date = tables.Column(verbose_name="Target", order_by=("target_date", "pk"))
    forecast_date = tables.Column(verbose_name="Forecast", order_by=("forecast_date", "pk"))
    forecast_slip_days = tables.Column(
        verbose_name="Slip", order_by=("forecast_slip_days", "target_date", "pk")
    )
    # The odds of shipping by the target (releases.planning.odds), with the P85 day beside them.
    forecast_on_time = tables.Column(
        verbose_name="Odds", order_by=("forecast_on_time", "forecast_p85", "target_date", "pk")
    )
    # The risk score (releases.planning.risk); sorted descending, the riskiest first.
    forecast_risk = tables.Column(verbose_name="Risk", order_by=("forecast_risk", "target_date", "pk"))
    # The delivery state; sorted descending, blocked releases come first, then those at risk.
    at_risk = tables.Column(verbose_name="State", order_by=("at_risk", "forecast_state", "target_date", "pk"))
    owner = tables.Column(verbose_name="Owner", order_by=("owner__last_name", "owner__first_name", "pk"))
    train = tables.Column(verbose_name="Train", order_by=("train__name", "pk"))

    def order_forecast_on_time(self, queryset, is_descending: bool):
        """Releases without odds last both ways (SQLite and PostgreSQL put NULL at opposite ends)."""
        odds = (
            F("forecast_on_time").desc(nulls_last=True)
            if is_descending
            else F("forecast_on_time").asc(nulls_last=True)
        )
        return queryset.order_by(odds, "forecast_p85", "target_date", "pk"), True

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
            "forecast_on_time",
            "forecast_risk",
            "at_risk",
            "owner",
            "train",
        )
        order_by = ("target_date",)
        empty_text = "No release matches these filters."
