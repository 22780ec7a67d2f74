"""Refresh the stored forecasts of every open release.

The facts are read in a fixed number of queries whatever the data size, releases.planning.forecast computes
them in one pass over the dependency graph, and only the rows whose forecast changed are written
(one bulk UPDATE). Run after writes that move dates (through forecast_refresh_task, after commit), by
beat every few minutes, and after the demo seed.
"""

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from releases.freezes import applies, frozen_days, horizon_from
from releases.metrics.sql import UtcDay
from releases.models import (
    Build,
    FreezeWindow,
    Gate,
    Portfolio,
    Release,
    ReleaseDependency,
    SignOff,
    TestRun,
    WorkItem,
)
from releases.notifications.services.slips import slips_claim
from releases.planning.forecast import (
    BuildFact,
    Forecast,
    ForecastState,
    GateFact,
    Hold,
    ReleaseFacts,
    Upstream,
    critical_path,
    forecast_all,
)
from releases.planning.odds import HISTORY_DAYS, Odds, Throughput, simulate
from releases.planning.risk import risk
from releases.querysets import portfolio_lineage

THROUGHPUT_DAYS = 28  # recent throughput: work items done per day over the last four weeks
ODDS_STORED = ["forecast_p50", "forecast_p85", "forecast_p95", "forecast_on_time", "forecast_odds_note"]
RISK_STORED = ["forecast_risk", "forecast_risk_reasons"]
NO_ODDS = dict.fromkeys(ODDS_STORED) | {
    "forecast_odds_note": "",
    "forecast_risk": 0,
    "forecast_risk_reasons": [],
}
STORED = [
    "forecast_date",
    "forecast_slip_days",
    "at_risk",
    "forecast_state",
    "forecast_blocked_reason",
    "forecast_waiting_for",
    "forecast_critical_path",
    *ODDS_STORED,
    *RISK_STORED,
]
BLOCKED_REASON_LENGTH = 300
ODDS_NOTE_LENGTH = 200
# The columns of an open release that load_facts reads.
FACT_COLUMNS = [
    "id",
    "target_date",
    "status",
    "actual_date",
    "application_id",
    "application__key",
    "version",
    "application__portfolio_id",
    "freeze_override_by_id",
]


def forecast_refresh(*, today: date | None = None, notify: bool = True) -> int:
    """Recompute every open release's forecast; returns how many rows changed. A forecast that moved
    past its target (or later still) alerts its owner once per change (slips_claim); with
    notify=False (the demo seed) the slips are recorded as alerted without sending anything."""
    today = today or timezone.localdate()
    forecast_baseline_keep(today=today)
    columns = (*FACT_COLUMNS, *STORED, "slip_alerted_date")
    rows = {row["id"]: row for row in Release.objects.open().values(*columns)}
    facts = load_facts(rows, today=today)
    forecasts = forecast_all(facts.values(), today=today)
    odds = simulate(facts, forecasts, throughput_history(today), today=today)
    changed = _store_changed(rows, facts, forecasts, odds) + _settle_closed()
    slips_claim(rows, forecasts, notify=notify)
    return changed


def forecast_baseline_keep(*, today: date) -> int:
    """Once a day, before the day's first refresh, keep each open release's forecast date as the
    baseline that "slipped since yesterday" compares with: one UPDATE, rows already kept today skip."""
    stale = Release.objects.open().filter(
        Q(forecast_baseline_on__isnull=True) | Q(forecast_baseline_on__lt=today)
    )
    return stale.update(forecast_baseline_date=F("forecast_date"), forecast_baseline_on=today)


def _settle_closed() -> int:
    """Released and cancelled releases forecast nothing: their date is what happened. Only rows closed
    since their last refresh are touched."""
    stale = Release.objects.closed().filter(
        Q(forecast_updated_at__isnull=True) | Q(forecast_updated_at__lt=F("updated_at"))
    )
    settled = {
        rid: {
            "forecast_date": actual,
            "forecast_slip_days": (actual - target).days if actual else 0,
            "at_risk": False,
            "forecast_state": ForecastState.SHIPPED if status == "released" else ForecastState.CANCELLED,
            "forecast_blocked_reason": "",
            "forecast_waiting_for": [],
            "forecast_critical_path": [],
            **NO_ODDS,
        }
        for rid, target, actual, status in stale.values_list(
            "id", "target_date", "actual_date", "status"
        ).iterator()
    }
    _write(settled)
    return len(settled)


def load_facts(rows: dict[int, dict], *, today: date) -> dict[int, ReleaseFacts]:
    """ReleaseFacts for the open releases in `rows` and for the closed releases they depend on."""
    upstream = defaultdict(list)
    for down, up, kind in ReleaseDependency.objects.filter(downstream_id__in=rows).values_list(
        "downstream_id", "upstream_id", "kind"
    ):
        upstream[down].append(Upstream(up, kind))
    closed_ids = {u.release_id for ups in upstream.values() for u in ups} - rows.keys()
    closed = Release.objects.filter(id__in=closed_ids).values_list(
        "id", "target_date", "status", "actual_date", "application__key", "version"
    )
    facts = {
        rid: ReleaseFacts(rid, target=t, status=s, actual=a, label=f"{key} {version}")
        for rid, t, s, a, key, version in closed
    }

    gates, remaining, per_day = _open_gates(rows), _remaining_items(rows), _throughput(today)
    builds, freezes = _latest_builds(rows), _freeze_days_by_portfolio(today)
    test_failures = _latest_test_failures(rows)
    for rid, row in rows.items():
        facts[rid] = ReleaseFacts(
            rid,
            target=row["target_date"],
            status=row["status"],
            label=f"{row['application__key']} {row['version']}",
            application_id=row["application_id"],
            upstream=tuple(upstream[rid]),
            remaining_items=remaining.get(rid, 0),
            items_per_day=per_day.get(row["application_id"], 0.0),
            gates=tuple(gates[rid]),
            latest_build=builds.get(rid),
            latest_test_failures=test_failures.get(rid, 0),
            freezes=() if row["freeze_override_by_id"] else freezes[row["application__portfolio_id"]],
        )
    return facts


def _open_gates(rows) -> dict[int, list[GateFact]]:
    """Gates pending or failed; a failed one says whether a signer rejected it, in the same query."""
    gates = defaultdict(list)
    rejected = Exists(SignOff.objects.filter(gate=OuterRef("pk"), decision=SignOff.Decision.REJECT))
    unsettled = Gate.objects.unsettled().filter(release_id__in=rows).annotate(rejected=rejected)
    fields = ("release_id", "name", "due_date", "status", "rejected", "evidence_summary")
    for rid, name, due, status, was_rejected, evidence in unsettled.values_list(*fields):
        gates[rid].append(GateFact(name, due, status, was_rejected, evidence))
    return gates


def _latest_builds(rows) -> dict[int, BuildFact]:
    """Each release's latest finished build (a running one changes nothing until it ends): one query."""
    ranked = (
        Build.objects.filter(release_id__in=rows)
        .exclude(result=Build.Result.RUNNING)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("release_id")],
                order_by=[F("started_at").desc(), F("number").desc()],
            )
        )
        .filter(rank=1)
    )
    return {
        rid: BuildFact(job, number, result)
        for rid, job, number, result in ranked.values_list("release_id", "job", "number", "result")
    }


def _latest_test_failures(rows) -> dict[int, int]:
    """Failed and in-error tests of each release's latest test run, where there are any: one query."""
    ranked = TestRun.objects.filter(release_id__in=rows).annotate(
        rank=Window(
            RowNumber(), partition_by=[F("release_id")], order_by=[F("executed_at").desc(), F("pk").desc()]
        )
    )
    latest = ranked.filter(rank=1).values_list("release_id", "failed", "errors")
    return {rid: failed + errors for rid, failed, errors in latest if failed + errors}


def _remaining_items(rows) -> dict[int, int]:
    through = WorkItem.fix_releases.through.objects.filter(
        release_id__in=rows, workitem__descoped=False, workitem__status_category__in=["todo", "in_progress"]
    )
    return dict(through.values("release_id").annotate(n=Count("id")).values_list("release_id", "n"))


def _throughput(today: date) -> dict[int, float]:
    since = timezone.make_aware(datetime.combine(today - timedelta(days=THROUGHPUT_DAYS), time()))
    done = WorkItem.objects.filter(status_category="done", resolved_at__gte=since)
    counts = done.values("application_id").annotate(n=Count("id")).values_list("application_id", "n")
    return {app: n / THROUGHPUT_DAYS for app, n in counts}


def throughput_history(today: date, applications: Collection[int] | None = None) -> dict[int, Throughput]:
    """Per application (those given, or all): the work items done on each of the last HISTORY_DAYS
    days (UTC days, the oldest first), and the days since its first work item was created. Two
    grouped queries."""
    first_day = today - timedelta(days=HISTORY_DAYS)
    since = timezone.make_aware(datetime.combine(first_day, time()), UTC)
    until = timezone.make_aware(datetime.combine(today, time()), UTC)
    items = (
        WorkItem.objects.all()
        if applications is None
        else WorkItem.objects.filter(application_id__in=applications)
    )
    done = (
        items.filter(status_category="done", resolved_at__gte=since, resolved_at__lt=until)
        .values_list("application_id", UtcDay("resolved_at"))
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = defaultdict(lambda: [0] * HISTORY_DAYS)
    for application_id, day, n in done:
        counts[application_id][(_as_date(day) - first_day).days] += n
    started = items.values_list("application_id").annotate(first=Min("created_at")).order_by()
    return {
        application_id: Throughput(tuple(counts[application_id]), (today - first.date()).days)
        for application_id, first in started
        if first is not None
    }


def _as_date(day) -> date:
    """SQLite answers a date() as text."""
    return date.fromisoformat(day) if isinstance(day, str) else day


def _freeze_days_by_portfolio(today: date) -> defaultdict[int, tuple]:
    """Day windows [first day, day after) that hold releases, per portfolio: global freezes, the
    portfolio's own and its ancestors'. A day is frozen when any part of it is."""
    parents = Portfolio.objects.parents()
    horizon = horizon_from(today)
    windows = [
        (freeze, frozen_days(freeze, start=None, end=horizon))
        for freeze in FreezeWindow.objects.exclude(scope=FreezeWindow.Scope.ENVIRONMENT)
    ]

    def days_of(lineage: list[int]) -> tuple:
        return tuple(
            sorted(
                (first, after, freeze.reason)
                for freeze, days in windows
                if applies(freeze, portfolio_ids=lineage)
                for first, after in days
            )
        )

    by_portfolio = defaultdict(lambda: days_of([]))
    for portfolio_id in parents:
        by_portfolio[portfolio_id] = days_of(portfolio_lineage(portfolio_id, parents))
    return by_portfolio


def stored_forecast(
    forecast: Forecast, forecasts: dict[int, Forecast], odds: Odds, facts: ReleaseFacts
) -> dict:
    scored = risk(facts, forecast, odds)
    return {
        "forecast_date": forecast.ship_date,
        "forecast_slip_days": forecast.slip_days,
        "at_risk": forecast.at_risk,
        "forecast_state": forecast.state.value,
        "forecast_blocked_reason": _shortened(forecast.blocked_reason, BLOCKED_REASON_LENGTH),
        "forecast_waiting_for": [stored_hold(h) for h in forecast.waiting_for],
        "forecast_critical_path": critical_path(forecasts, forecast.release_id),
        "forecast_p50": odds.p50,
        "forecast_p85": odds.p85,
        "forecast_p95": odds.p95,
        "forecast_on_time": odds.on_time,
        "forecast_odds_note": _shortened(odds.note, ODDS_NOTE_LENGTH),
        "forecast_risk": scored.score,
        "forecast_risk_reasons": [
            {"points": reason.points, "text": reason.text} for reason in scored.reasons
        ],
    }


def stored_hold(hold: Hold) -> dict:
    """One "waiting for" line as stored: what it is, named (`name`), and in words (`text`), so every
    page and the API show the same line without resolving ids."""
    return {
        "kind": hold.kind,
        "until": hold.until.isoformat() if hold.until else None,
        "detail": hold.detail,
        "release_id": hold.release_id,
        "name": hold.name,
        "cause": hold.cause,
        "text": hold.text,
    }


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _store_changed(
    rows: dict[int, dict], facts, forecasts: dict[int, Forecast], odds: dict[int, Odds]
) -> int:
    changed = {}
    for rid, row in rows.items():
        values = stored_forecast(forecasts[rid], forecasts, odds.get(rid, Odds()), facts[rid])
        if any(row[name] != value for name, value in values.items()):
            changed[rid] = values
    _write(changed)
    return len(changed)


def _write(values_by_id: dict[int, dict]) -> None:
    """One UPDATE statement run for many rows (executemany). bulk_update's CASE per field takes
    seconds for thousands of rows; this takes milliseconds. Each field prepares its own value."""
    if not values_by_id:
        return
    names = [*STORED, "forecast_updated_at"]
    fields = [Release._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = quote(Release._meta.db_table), quote(Release._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608 (names from the model)
    now = timezone.now()
    params = [
        [f.get_db_prep_value(values.get(f.name, now), connection, prepared=False) for f in fields] + [rid]
        for rid, values in values_by_id.items()
    ]
    with transaction.atomic(), connection.cursor() as cursor:  # one commit, not one per row
        cursor.executemany(sql, params)
