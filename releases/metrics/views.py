"""/metrics/: the four DORA measures for a portfolio, an application or everything, over a period,
each with the universe it rests on and the previous period beside it; a weekly chart with its table,
and CSV of the chart and of the deployments behind the figures."""

from datetime import timedelta
from itertools import chain

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from releases.csv_export import csv_response, labelled
from releases.metrics import charts, delivery, value_stream
from releases.metrics import scope as scope_measure
from releases.metrics.dora import Period, Scope, dora, incidents, share, span, unlinked_incidents, weekly
from releases.metrics.period import portal_midnight, portal_today
from releases.metrics.rollups import outcomes, rolled
from releases.models import Application, Deployment, Environment, Portfolio, WorkItem

PERMISSION = "releases.view_deployment"
EPICS_SHOWN = 15
PERIODS = [(30, "Last 30 days"), (90, "Last 90 days"), (180, "Last 180 days"), (365, "Last 365 days")]
DEFAULT_DAYS = 90


class MetricsForm(forms.Form):
    portfolio = forms.ModelChoiceField(
        queryset=Portfolio.objects.order_by("name"), required=False, empty_label="All portfolios"
    )
    application = forms.ModelChoiceField(
        queryset=Application.objects.order_by("key"), required=False, empty_label="All applications"
    )
    days = forms.TypedChoiceField(
        label="Period", choices=PERIODS, coerce=int, required=False, empty_value=DEFAULT_DAYS
    )

    def __init__(self, data=None, **kwargs):
        # The select shows the period the figures are for, also when the query names no period.
        if data is not None and not data.get("days"):
            data = data.copy()
            data["days"] = str(DEFAULT_DAYS)
        super().__init__(data, initial={"days": DEFAULT_DAYS}, **kwargs)

    def scope(self) -> Scope:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("application"):
            return Scope(application_id=data["application"].pk)
        if data.get("portfolio"):
            return Scope(
                portfolio_ids=tuple(
                    Portfolio.objects.subtree(data["portfolio"].pk).values_list("pk", flat=True)
                )
            )
        return Scope()

    def period(self) -> Period:
        """Whole days of the portal's time zone, today included: the days the roll-up stores."""
        days = (self.cleaned_data.get("days") if self.is_valid() else None) or DEFAULT_DAYS
        end = portal_midnight(portal_today() + timedelta(days=1))
        return Period(end - timedelta(days=days), end)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_dashboard(request):
    form = MetricsForm(request.GET or None)
    scope, period, state = form.scope(), form.period(), rolled()
    found = outcomes(scope, period, state)
    before = dora(scope, period.previous(), outcomes(scope, period.previous(), state))
    now = dora(scope, period, found)
    weeks = weekly(scope, period, found)
    chart = charts.stacked_bars(
        [
            charts.Bar(
                f"{week['week']:%d %b}",
                (week["successes"], week["failures"]),
                f"Week of {week['week']:%d %b %Y}: {week['successes']} successful, {week['failures']} failed",
            )
            for week in weeks
        ],
        title="Production deployments per week",
        description=f"{now.successes} successful and {now.failures} failed production deployments, by week.",
        classes=("bar-success", "bar-failure"),
        chart_id="weekly",
    )
    releases_now, releases_before = (
        delivery.release_delivery(scope, period),
        delivery.release_delivery(scope, period.previous()),
    )
    wait_now, wait_before = (
        delivery.booking_wait(scope, period),
        delivery.booking_wait(scope, period.previous()),
    )
    epics = value_stream.epic_flows(scope, period)
    context = {
        "epics": epics[:EPICS_SHOWN],
        "epic_count": len(epics),
        "initiatives": value_stream.initiative_flows(epics),
        "releases": _delivery_words(releases_now),
        "releases_before": _delivery_words(releases_before),
        "slip_chart": charts.stacked_bars(
            [
                charts.Bar(label, (count,), f"{label}: {count} releases")
                for label, count in releases_now.slips
            ],
            title="Releases shipped, by days after their target",
            description=", ".join(f"{label}: {count}" for label, count in releases_now.slips),
            classes=("bar-neutral",),
            chart_id="slips",
        ),
        "bugs": [row | {"mean_words": span(row["mean"])} for row in delivery.bug_fix_times(scope, period)],
        "gates": delivery.gate_throughput(scope, period),
        "environments": [
            row
            | {"share_words": share(round(row["booked_hours"]), round(row["capacity"] * period.days * 24))}
            for row in delivery.environment_utilisation(period)
        ],
        "wait": wait_now | {"mean_words": span(wait_now["mean_wait"])},
        "wait_before": wait_before | {"mean_words": span(wait_before["mean_wait"])},
        "form": form,
        "ignored": [form[name].label for name in form.errors],
        "now": now,
        "before": before,
        "weeks": weeks,
        "unlinked_incidents": unlinked_incidents(scope, period),
        "chart": chart,
        "query": request.GET.urlencode(),
        "portal_time_zone": settings.TIME_ZONE,
        "rolled_through": state.through,
        **_scope_context(scope, period),
    }
    return render(request, "releases/metrics.html", context)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_deployments_export(request):
    """The production deployments behind the figures, judged as the figures judge them (?failures=1:
    the failures only)."""
    form = MetricsForm(request.GET or None)
    found = outcomes(form.scope(), form.period())
    stored, live = found.stored, found.live
    if request.GET.get("failures") == "1":
        stored, live = stored.filter(failure=True), [row for row in live if row.failure]
    columns = ["deployed_at", "application__key", "version", "environment__name", "status"]
    columns += ["rollback", "incident", "hotfixed", "failure", "lead_hours", "restore_hours", "release_id"]
    rows = stored.order_by("deployed_at").values_list(*columns).iterator(chunk_size=2000)
    header = ["Deployed at", "Application", "Version", "Environment", "Status", "Rollback", "Incident"]
    header += [
        "Replaced by a hotfix",
        "Failure",
        "Lead time (hours)",
        "Time to restore (hours)",
        "Release id",
    ]
    rows = labelled(chain(rows, _live_rows(live)), 4, Deployment.Status.choices)
    return csv_response("production-deployments.csv", header, rows)


def _live_rows(live):
    """Today's deployments (not rolled up yet), in the export's columns."""
    keys = Application.objects.filter(pk__in={row.application_id for row in live})
    keys = dict(keys.values_list("pk", "key"))
    environments = Environment.objects.filter(pk__in={row.environment_id for row in live})
    environments = dict(environments.values_list("pk", "name"))
    for row in sorted(live, key=lambda row: row.deployed_at):
        yield (
            row.deployed_at,
            keys[row.application_id],
            row.version,
            environments[row.environment_id],
            row.status,
            row.rollback,
            row.incident,
            row.hotfixed,
            row.failure,
            row.lead_hours,
            row.restore_hours,
            row.release_id,
        )


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_incidents_export(request):
    """The incidents opened in the period, one row per release each names (none: not counted)."""
    form = MetricsForm(request.GET or None)
    rows = (
        incidents(form.scope(), form.period())
        .order_by("created_at", "key")
        .values_list(
            "created_at",
            "key",
            "title",
            "application__key",
            "status_category",
            "resolved_at",
            "fix_releases__application__key",
            "fix_releases__version",
        )
    )
    header = ["Opened at", "Key", "Title", "Application", "Status", "Resolved at"]
    header += ["Release application", "Release version"]
    rows = labelled(rows.iterator(chunk_size=2000), 4, WorkItem.StatusCategory.choices)
    return csv_response("incidents.csv", header, rows)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_weekly_export(request):
    form = MetricsForm(request.GET or None)
    rows = ((w["week"], w["successes"], w["failures"]) for w in weekly(form.scope(), form.period()))
    return csv_response("deployments-per-week.csv", ["Week of", "Successful", "Failed"], rows)


def _delivery_words(result: delivery.Delivery) -> dict:
    return {
        "result": result,
        "on_time_share": share(result.on_time, result.shipped),
        "cycle_words": span(result.mean_cycle),
    }


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_slips_export(request):
    form = MetricsForm(request.GET or None)
    result = delivery.release_delivery(form.scope(), form.period())
    return csv_response("release-slips.csv", ["Shipped", "Releases"], iter(result.slips))


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_epics_export(request):
    form = MetricsForm(request.GET or None)
    rows = (
        (
            e.name,
            e.title,
            e.application,
            e.initiative,
            e.items,
            e.shipped,
            e.first_work,
            e.last_shipped,
            e.days_to_production,
        )
        for e in value_stream.epic_flows(form.scope(), form.period())
    )
    header = [
        "Epic",
        "Title",
        "Application",
        "Initiative",
        "Items",
        "Shipped in the period",
        "First work",
        "Last shipped",
        "Days from first work to production",
    ]
    return csv_response("value-stream-epics.csv", header, rows)


# --- planned vs delivered scope (templates/releases/metrics_scope.html) ------------------------------

SCOPE_FIGURES = [
    ("in_at_freeze", "In at code freeze"),
    ("added_after", "Added after"),
    ("removed_after", "Removed after"),
    ("shipped", "Shipped"),
]


def _scope_context(scope, period) -> dict:
    """The section's figures, this period and the one before (four queries), and its chart."""
    now, before = (
        scope_measure.scope_totals(scope, period),
        scope_measure.scope_totals(scope, period.previous()),
    )
    rows = [
        {"key": key, "label": label, "now": getattr(now, key), "before": getattr(before, key)}
        for key, label in SCOPE_FIGURES
    ]
    bars = []
    for row in rows:
        bars.append(charts.Bar(row["label"], (row["now"], 0), f"{row['label']}: {row['now']} items"))
        bars.append(
            charts.Bar("before", (0, row["before"]), f"{row['label']}, the period before: {row['before']}")
        )
    chart = charts.stacked_bars(
        bars,
        title="Planned vs delivered scope",
        description="; ".join(f"{row['label']}: {row['now']} (before: {row['before']})" for row in rows),
        classes=("bar-neutral", "bar-previous"),
        chart_id="scope-chart",
    )
    return {"scope_now": now, "scope_before": before, "scope_rows": rows, "scope_chart": chart}


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def metrics_scope_export(request):
    """Per release measured: its planned vs delivered scope."""
    form = MetricsForm(request.GET or None)
    rows = (
        (
            release["pk"],
            release["application__key"],
            release["version"],
            release["code_freeze_date"],
            release["actual_date"],
            *(release[key] for key, _ in SCOPE_FIGURES),
        )
        for release in scope_measure.scope_by_release(form.scope(), form.period())
    )
    header = [
        "Release id",
        "Application",
        "Version",
        "Code freeze",
        "Shipped on",
        *(label for _, label in SCOPE_FIGURES),
    ]
    return csv_response("release-scope.csv", header, rows)
