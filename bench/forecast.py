"""The ship-date odds against the targets of issue 16, as one JSON object.

    .venv/bin/python bench/forecast.py [--scale enterprise] [--var-dir /tmp/fd-forecast] [--repeat 3]

The instance is migrated and seeded (`seed_demo --scale <--scale>`, nothing when it already holds one).
Then:
- `largest_portfolio`: the Monte Carlo (releases.planning.odds.simulate, 2,000 runs) over the open
  releases of the portfolio with the most of them, its programmes included, and every release they
  wait on, transitively: the best of --repeat runs, the facts already read;
- `full_refresh`: forecast_refresh of the whole instance, as the worker runs it (facts read, the
  deterministic forecast, the odds, the changed rows written), twice: the first after the odds were
  cleared (every row written), the second with nothing changed (no row written);
- `what_if`: the release page's what-if (a 7-day slip) through the view, as the project office, for
  --what-ifs open releases with releases downstream and for the one with the most: p50 and p95.
"""

import argparse
import json
import statistics
import sys
import time
from functools import partial

from common import add_instance_options, bench_instance, percentiles, postgres_seeded

TARGETS = {"largest_portfolio_seconds": 2, "full_refresh_seconds": 30, "what_if": {"p95_ms": 300}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    parser.add_argument("--scale", default="enterprise", choices=["small", "medium", "enterprise"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--what-ifs", type=int, default=40, help="releases whose 7-day slip is previewed")
    options = parser.parse_args()
    seeded = partial(postgres_seeded, scale=options.scale)
    with bench_instance(options, "flightdeck-bench-forecast-", seeded=seeded):
        result = run(options)
    print(json.dumps(result, indent=2))


def run(options: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", options.scale, stdout=sys.stderr)
    portfolio = measure_largest_portfolio(options.repeat)
    refresh = measure_full_refresh()
    preview = measure_what_if(options.what_ifs)
    return {
        "database": connection.vendor,
        "scale": options.scale,
        "targets": TARGETS,
        "largest_portfolio": portfolio,
        "full_refresh": refresh,
        "what_if": preview,
        "meets_all_targets": portfolio["seconds"] <= TARGETS["largest_portfolio_seconds"]
        and refresh["first_seconds"] <= TARGETS["full_refresh_seconds"]
        and refresh["second_changed"] == 0
        and preview["p95_ms"] <= TARGETS["what_if"]["p95_ms"],
    }


def measure_what_if(count: int) -> dict:
    """The what-if page (a 7-day slip) as the project office asks for it, for `count` open releases
    with releases downstream, spread over the ids, and for the one with the most direct dependants."""
    from django.db.models import Count
    from django.test import Client

    from portal.models import User
    from releases.models import Release

    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username="po"))
    upstreams = (
        Release.objects.open()
        .exclude(forecast_state="blocked")
        .annotate(dependants=Count("downstream_links"))
        .filter(dependants__gt=0)
        .order_by("pk")
    )
    ids = list(upstreams.values_list("pk", flat=True))
    sample = ids[:: max(len(ids) // count, 1)][:count]
    busiest = upstreams.order_by("-dependants", "pk").first()
    times, moved = [], []
    for rid in [busiest.pk, *sample]:
        started = time.perf_counter()
        response = client.get(f"/releases/{rid}/what-if/?days=7")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (rid, response.status_code)
        moved.append(max(response.content.count(b"<tr>") - 1, 0))  # the rows below the header
    return {
        "releases": len(times),
        "busiest": {
            "release": str(busiest),
            "direct_dependants": busiest.dependants,
            "ms": round(times[0], 1),
        },
        "downstream_changes_median": statistics.median(moved),
        **percentiles(times),
    }


def measure_largest_portfolio(repeat: int) -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from releases.models import Portfolio, Release, ReleaseDependency
    from releases.planning.forecast import forecast_all
    from releases.planning.odds import RUNS, simulate
    from releases.planning.selectors.what_if import release_closure
    from releases.planning.services.forecasting import FACT_COLUMNS, STORED, load_facts, throughput_history

    today = timezone.localdate()
    open_releases = Release.objects.open()
    sizes = {
        top.pk: open_releases.filter(application__portfolio__in=Portfolio.objects.subtree(top.pk)).count()
        for top in Portfolio.objects.filter(parent=None)
    }
    largest = max(sizes, key=sizes.get)
    ids = set(
        open_releases.filter(application__portfolio__in=Portfolio.objects.subtree(largest)).values_list(
            "pk", flat=True
        )
    )
    ids = release_closure(ids, down=False)  # and every release they wait on
    rows = {row["id"]: row for row in open_releases.filter(pk__in=ids).values(*FACT_COLUMNS, *STORED)}
    facts = load_facts(rows, today=today)
    forecasts = forecast_all(facts.values(), today=today)
    history = throughput_history(today)
    times, odds = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        odds = simulate(facts, forecasts, history, today=today)
        times.append(time.perf_counter() - started)
    drawn = sum(1 for found in odds.values() if found.p50)
    return {
        "portfolio": Portfolio.objects.get(pk=largest).name,
        "open_releases": sizes[largest],
        "releases_simulated": len(odds),
        "with_upstreams_from_elsewhere": len(rows) - sizes[largest],
        "dependencies": ReleaseDependency.objects.filter(downstream_id__in=rows).aggregate(n=Count("pk"))[
            "n"
        ],
        "runs": RUNS,
        # those whose own remaining work is drawn from their application's throughput (the rest
        # are random only through their upstreams, or not at all)
        "with_remaining_work": sum(1 for rid in odds if facts[rid].remaining_items),
        "with_odds": drawn,
        "without_odds": len(odds) - drawn,
        "seconds": round(min(times), 3),
        "all_seconds": [round(t, 3) for t in times],
    }


def measure_full_refresh() -> dict:
    from releases.models import Release
    from releases.planning.services.forecasting import forecast_refresh

    Release.objects.open().update(
        forecast_p50=None, forecast_p85=None, forecast_p95=None, forecast_on_time=None
    )
    started = time.perf_counter()
    first = forecast_refresh(notify=False)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = forecast_refresh(notify=False)
    return {
        "open_releases": Release.objects.open().count(),
        "first_changed": first,
        "first_seconds": round(first_seconds, 2),
        "second_changed": second,
        "second_seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    main()
