"""The metrics page and Home against the targets of issue 13, as one JSON object.

    .venv/bin/python bench/metrics.py [--scale enterprise] [--var-dir /tmp/fd-metrics] [--requests 30]
    .venv/bin/python bench/metrics.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_metrics

The instance is migrated and seeded (`seed_demo --scale <--scale>`, nothing when it already holds one),
the metrics' roll-up is timed (the whole history, then one day's incremental run), then each page is
asked for as the demo's project office (`po`): /metrics/ over 90 and 365 days for everything and for
the largest portfolio, and Home. p95 of --requests timed requests after a warm-up, and the page's own
queries (without the session, user and role-badge queries every request makes). The metrics pages keep
their sums over stored days per roll-up run (releases.metrics.memo): `first_read_after_a_roll_up`
times --cold requests with those sums dropped first, as the first visitor after each run finds them.
"""

import argparse
import json
import sys
import time
from datetime import timedelta
from functools import partial

from common import add_instance_options, bench_instance, percentiles, postgres_seeded
from pages import _judge, measure_page

TARGETS = {
    "metrics": {"p95_ms": 200},
    "home": {"p95_ms": 150},
    "rollup_full_s": 30,
    "rollup_incremental_s": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    parser.add_argument("--scale", default="enterprise", choices=["small", "medium", "enterprise"])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--cold", type=int, default=10, help="first reads after a roll-up, per metrics page")
    options = parser.parse_args()
    seeded = partial(postgres_seeded, scale=options.scale)
    with bench_instance(options, "flightdeck-bench-metrics-", seeded=seeded):
        result = run(options)
    print(json.dumps(result, indent=2))


def run(options: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from portal.models import User
    from releases.models import Portfolio

    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", options.scale, stdout=sys.stderr)
    setup = time.perf_counter() - started
    rollup = measure_rollup()
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username="po"))
    largest = Portfolio.objects.annotate(n=Count("applications")).order_by("-n", "pk").first()
    urls = {
        "metrics_90_days": ("metrics", "/metrics/?days=90"),
        "metrics_365_days": ("metrics", "/metrics/?days=365"),
        "metrics_portfolio_365_days": ("metrics", f"/metrics/?days=365&portfolio={largest.pk}"),
        "home": ("home", "/"),
    }
    pages = {
        name: _judge(measure_page(client, url, n=options.requests, warmup=options.warmup), TARGETS[target])
        for name, (target, url) in urls.items()
    }
    for name, (target, url) in urls.items():
        if target == "metrics":
            pages[name]["first_read_after_a_roll_up"] = measure_first_reads(client, url, n=options.cold)
    return {
        "database": connection.vendor,
        "scale": options.scale,
        "setup_seconds": round(setup, 1),
        "targets": TARGETS,
        "rollup": rollup,
        "pages": pages,
        "meets_all_targets": all(page.get("meets_target", False) for page in pages.values())
        and rollup["full_seconds"] <= TARGETS["rollup_full_s"]
        and rollup["incremental_seconds"] <= TARGETS["rollup_incremental_s"],
    }


def measure_first_reads(client, url: str, *, n: int) -> dict:
    """The page as first asked for after a roll-up run: the sums kept per run (releases.metrics.memo)
    are dropped before each request, so every stored day is summed again."""
    from django.core.cache import cache

    times = []
    for _ in range(n):
        cache.clear()
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def measure_rollup() -> dict:
    """The whole history judged again (as the nightly roll-up does), then a day's incremental roll-up
    (the days since the last one and the week before, as each beat run does)."""
    from releases.metrics.rollups import metrics_rollup
    from releases.models import MetricsRollup

    started = time.perf_counter()
    full = metrics_rollup(full=True)
    full_seconds = time.perf_counter() - started
    MetricsRollup.objects.update(rolled_through=full.through - timedelta(days=1))  # a day to roll up
    started = time.perf_counter()
    incremental = metrics_rollup()
    return {
        "outcomes": full.outcomes,
        "full_seconds": round(full_seconds, 2),
        "incremental_days": (incremental.through - incremental.since).days + 1,
        "incremental_outcomes": incremental.outcomes,
        "incremental_seconds": round(time.perf_counter() - started, 2),
    }


if __name__ == "__main__":
    main()
