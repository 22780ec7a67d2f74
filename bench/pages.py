"""Page timings and query counts of a demo seed against the targets of DESIGN.md, as one JSON object.

    .venv/bin/python bench/pages.py [--scale enterprise] [--var-dir /tmp/fd-pages] [--requests 30]
    .venv/bin/python bench/pages.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_pages

The instance is built once: migrate, then `seed_demo --scale <--scale>` (which does nothing when the
instance already holds a demo seed, whatever its scale: the scale reported is the one it holds).
--var-dir keeps the instance for the next run (SQLite); without it a temporary folder is used and
removed. With --database-url the PostgreSQL database is dropped and created first, unless --reuse is
given and it already holds a demo seed of that scale.

Each page is requested --warmup times, then --requests times with Django's test Client in this process
(the whole middleware stack, no network), logged in as the project-office demo user `po` (the admin
changelist as `admin`); one more request counts its queries. The release page shows the open release
with the most dependencies both ways (and gates); a small seed may have none with both, then the best
there is. Also measured: the month view's floor (one raw SQL query for the same cells the page
shows, each day's first four releases and its count, plus a minimal template render), and the month
page over its floor in --ratio-pairs interleaved pairs (page, floor): the median ratio with its
quartiles, since a ratio of two p95s swings with the noise; the forecast of the largest portfolio
(releases.planning.forecast.forecast_all over its facts) and a full forecast_refresh.
"""

import argparse
import json
import math
import statistics
import sys
import time
from datetime import date, timedelta
from functools import partial

from common import (
    add_instance_options,
    bench_instance,
    judged,
    own_queries,
    paired_ratio,
    percentiles,
    postgres_seeded,
)

SCALES = ("small", "medium", "enterprise")
TARGETS = {
    "calendar_month": {"p95_ms": 50, "queries": 3},
    "release_list": {"p95_ms": 100, "queries": 10},
    "release_list_filtered": {"p95_ms": 100, "queries": 10},
    "release_page": {"queries": 15},
}
MONTH_TO_FLOOR_TARGET = 2.5
LIST_TO_ADMIN_TARGET = 1.0
FORECAST_TARGET_MS = 200
# The floor shows what the month view shows (each day's first four releases, the day's count) with the
# least machinery: one raw SQL query and a bare template of the weeks, days and release links.
FLOOR_DAY_CAP = 4
FLOOR_TEMPLATE = (
    "<table>{% for week in weeks %}<tr>{% for day, total, releases in week %}<td>{{ day }} ({{ total }})<ul>"
    "{% for id, key, version, status, at_risk in releases %}<li><a class='status-{{ status }}' "
    "href='/releases/{{ id }}/'>{{ key }} {{ version }}</a>{% if at_risk %} at risk{% endif %}</li>"
    "{% endfor %}</ul></td>{% endfor %}</tr>{% endfor %}</table>"
)


def main() -> None:
    options = parse_args()
    seeded = partial(postgres_seeded, scale=options.scale)
    with bench_instance(options, "flightdeck-bench-pages-", seeded=seeded):
        result = run(options)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    parser.add_argument("--scale", default="enterprise", choices=SCALES, help="of the demo seed")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--ratio-pairs", type=int, default=200, help="(month page, floor) pairs")
    return parser.parse_args()


def run(options: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection

    seed_started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", options.scale, stdout=sys.stderr)
    seed_seconds = time.perf_counter() - seed_started
    subjects = find_subjects()
    pages = measure_pages(subjects, n=options.requests, warmup=options.warmup)
    floor = measure_floor(subjects["month"], n=options.requests, warmup=options.warmup)
    month_ratio = month_over_floor(subjects["month"], pairs=options.ratio_pairs)
    list_ratio = _ratio(
        pages["release_list"]["p95_ms"], pages["admin_changelist"]["p95_ms"], LIST_TO_ADMIN_TARGET
    )
    forecast = measure_forecast(subjects["largest_portfolio"])
    refresh = measure_refresh()
    verdicts = [p["meets_target"] for p in pages.values() if "meets_target" in p]
    verdicts += [month_ratio["meets_target"], list_ratio["meets_target"], forecast["meets_target"]]
    return {
        "database": connection.vendor,
        "scale": subjects["scale"],
        "releases": subjects["releases"],
        "requests_per_page": options.requests,
        "warmup": options.warmup,
        "setup_seconds": round(seed_seconds, 1),
        "peak_week": subjects["peak_week"],
        "pages": pages,
        "month_floor": floor,
        "month_to_floor": month_ratio,
        "list_to_admin_changelist": list_ratio,
        "forecast_largest_portfolio": forecast,
        "forecast_refresh": refresh,
        "query_counts": "queries_total: every query of the request; queries_page: without the session, "
        "user and role-badge queries every signed-in request makes (the query targets apply to these)",
        "meets_all_targets": all(verdicts),
    }


def find_subjects() -> dict:
    """What to measure, found in the seeded data: the month of the peak week, the largest portfolio and
    train, and the release to show (release_sample)."""
    from django.db.models import Count, Q

    from releases.models import AuditEvent, Portfolio, Release, ReleaseTrain

    seeded = AuditEvent.objects.filter(action="demo.seed").values_list("after", flat=True).first()
    peak_start = date.fromisoformat(seeded["peak_week"]["start"])
    open_releases = Count(
        "applications__releases", filter=~Q(applications__releases__status__in=Release.CLOSED_STATUSES)
    )
    largest = Portfolio.objects.annotate(n=open_releases).order_by("-n", "pk").first()
    train = ReleaseTrain.objects.annotate(n=Count("releases")).order_by("-n", "pk").first()
    return {
        "scale": seeded["scale"],
        "releases": Release.objects.count(),
        "peak_week": seeded["peak_week"],
        "month": peak_start.replace(day=1),
        "largest_portfolio": largest,
        "train": train,
        "release": release_sample(),
    }


def release_sample():
    """The open release with dependencies both ways, most of the fewer side, then the most gates and
    dependents; when none has both (a small seed), the best there is; any release when none is open."""
    from django.db.models import Count
    from django.db.models.functions import Least

    from releases.models import Release

    best = (
        Release.objects.open()
        .annotate(
            ups=Count("upstream_links", distinct=True),
            downs=Count("downstream_links", distinct=True),
            gate_count=Count("gates", distinct=True),
        )
        .order_by(Least("ups", "downs").desc(), "-gate_count", "-downs", "-ups", "pk")
        .first()
    )
    return best or Release.objects.order_by("pk").first()


def measure_pages(subjects: dict, *, n: int, warmup: int) -> dict:
    from django.test import Client
    from django.urls import reverse

    from portal.models import User

    po, admin = Client(raise_request_exception=False), Client(raise_request_exception=False)
    po.force_login(User.objects.get(username="po"))
    admin.force_login(User.objects.get(username="admin"))
    month, portfolio = subjects["month"], subjects["largest_portfolio"]
    urls = {
        "calendar_month": (po, f"{reverse('calendar:month')}?month={month:%Y-%m}"),
        "release_list": (po, reverse("releases:list")),
        "release_list_filtered": (
            po,
            f"{reverse('releases:list')}?portfolio={portfolio.pk}&status=in_progress",
        ),
        "release_page": (po, reverse("releases:detail", args=[subjects["release"].pk])),
        "train_page": (po, reverse("releases:train", args=[subjects["train"].pk])),
        "admin_changelist": (admin, reverse("admin:releases_release_changelist")),
        # As the admin, whose "My queue" has every part; ?more=1 ranks and shows 50 items.
        "home": (admin, reverse("home")),
        "home_more": (admin, f"{reverse('home')}?more=1"),
    }
    pages = {}
    for name, (client, url) in urls.items():
        pages[name] = _judge(measure_page(client, url, n=n, warmup=warmup), TARGETS.get(name))
    pages["train_page"]["releases"] = subjects["train"].releases.count()
    release = subjects["release"]
    pages["release_page"]["release"] = str(release)
    pages["release_page"]["dependencies"] = {
        "upstream": release.upstream_links.count(),
        "downstream": release.downstream_links.count(),
        "gates": release.gates.count(),
    }
    return pages


def measure_page(client, url: str, *, n: int, warmup: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(url)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return {
        "url": url,
        "status": response.status_code,
        "bytes": len(response.content),
        **percentiles(times),
        "queries_total": len(queries),
        "queries_page": own_queries(queries.captured_queries),
    }


def _judge(page: dict, target: dict | None) -> dict:
    """A page meets its target when it answered 200, and its p95 and own query count are within the
    targets it has."""
    return judged(page, target, answered=page["status"] == 200)


def measure_floor(month: date, *, n: int, warmup: int) -> dict:
    """The month view's floor: one raw SQL query for the shown weeks (each day's first releases with the
    day's count, the same cut as the page) and a minimal render of them as a grid."""
    once = floor_once(month)
    for _ in range(warmup):
        once()
    runs = [once() for _ in range(n)]
    return {
        "month": f"{month:%Y-%m}",
        "releases_shown": runs[0][0],
        **percentiles([sql_ms + render_ms for _, sql_ms, render_ms in runs]),
        "sql_p50_ms": round(statistics.median(sql_ms for _, sql_ms, _ in runs), 1),
        "render_p50_ms": round(statistics.median(render_ms for _, _, render_ms in runs), 1),
    }


def floor_once(month: date):
    """A call that reads and renders the floor of the month once: (rows, SQL ms, render ms)."""
    from django.db import connection
    from django.template import Context, Template

    from releases.models import Application, Release
    from releases.planning.calendar import month_period

    period = month_period(month)
    sql = (
        "SELECT target_date, day_total, id, key, version, status, at_risk FROM ("
        " SELECT r.target_date, r.id, a.key, r.version, r.status, r.at_risk,"
        " COUNT(*) OVER (PARTITION BY r.target_date) AS day_total,"
        " ROW_NUMBER() OVER (PARTITION BY r.target_date ORDER BY r.at_risk DESC, a.key, r.version)"
        " AS day_rank"
        f' FROM "{Release._meta.db_table}" r JOIN "{Application._meta.db_table}" a ON a.id = r.application_id'
        " WHERE r.target_date >= %s AND r.target_date < %s"
        ") shown WHERE day_rank <= %s ORDER BY target_date, day_rank"
    )
    template = Template(FLOOR_TEMPLATE)

    def once() -> tuple[int, float, float]:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, [period.start, period.end, FLOOR_DAY_CAP])
            rows = cursor.fetchall()
        fetched = time.perf_counter()
        template.render(Context({"weeks": _floor_weeks(period, rows)}))
        return len(rows), (fetched - started) * 1000, (time.perf_counter() - fetched) * 1000

    return once


def month_over_floor(month: date, *, pairs: int) -> dict:
    """The month page over its floor, pair by pair (each pair one page request and one floor, the
    order flipping): the median ratio with its quartiles and extremes. The target is on the median."""
    from django.test import Client
    from django.urls import reverse

    from portal.models import User

    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username="po"))
    url = f"{reverse('calendar:month')}?month={month:%Y-%m}"
    once = floor_once(month)
    figures = paired_ratio(("page", lambda: client.get(url)), ("floor", once), pairs=pairs)
    median = figures["ratio_median"]
    return {
        "value": median,
        **figures,
        "target": MONTH_TO_FLOOR_TARGET,
        "meets_target": median <= MONTH_TO_FLOOR_TARGET,
    }


def _floor_weeks(period, rows) -> list[list[tuple]]:
    by_day: dict[str, tuple[int, list]] = {}
    for day, total, *release in rows:
        by_day.setdefault(str(day), (total, []))[1].append(release)
    days = [period.start + timedelta(days=offset) for offset in range((period.end - period.start).days)]
    cells = [(day, *by_day.get(str(day), (0, []))) for day in days]
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def measure_forecast(portfolio, runs: int = 20) -> dict:
    """forecast_all over the largest portfolio's open releases (the facts loaded once, not timed in)."""
    from django.utils import timezone

    from releases.models import Release
    from releases.planning.forecast import forecast_all
    from releases.planning.services.forecasting import FACT_COLUMNS, load_facts

    today = timezone.localdate()
    rows = {
        row["id"]: row
        for row in Release.objects.open().filter(application__portfolio=portfolio).values(*FACT_COLUMNS)
    }
    started = time.perf_counter()
    facts = load_facts(rows, today=today)
    load_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        forecast_all(facts.values(), today=today)
        times.append((time.perf_counter() - started) * 1000)
    timing = percentiles(times)
    return {
        "portfolio": portfolio.name,
        "open_releases": len(rows),
        "facts": len(facts),
        "load_facts_ms": round(load_ms, 1),
        "runs": runs,
        "forecast_all_ms": timing | {"max_ms": round(max(times), 1)},
        "target_p95_ms": FORECAST_TARGET_MS,
        "meets_target": timing["p95_ms"] <= FORECAST_TARGET_MS,
    }


def measure_refresh() -> dict:
    """A full forecast_refresh over every open release, twice: the second finds nothing to write."""
    from releases.planning.services.forecasting import forecast_refresh

    runs = []
    for _ in range(2):
        started = time.perf_counter()
        changed = forecast_refresh()
        runs.append({"seconds": round(time.perf_counter() - started, 2), "rows_changed": changed})
    return {"first": runs[0], "second": runs[1]}


def _ratio(value: float, base: float, target: float) -> dict:
    ratio = value / base if base else math.inf
    return {"value": round(ratio, 2), "target": target, "meets_target": ratio <= target}


if __name__ == "__main__":
    main()
