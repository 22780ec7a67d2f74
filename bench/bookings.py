"""Booking timings, the booking board's queries and the booking race, as one JSON object.

    .venv/bin/python bench/bookings.py [--var-dir /tmp/fd-bookings] [--requests 50] [--rounds 20]
    .venv/bin/python bench/bookings.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_bookings

The instance is built once: migrate, then `seed_demo --scale enterprise` (nothing when it already holds
a demo seed). --var-dir keeps it for the next run (SQLite); without it a temporary folder is used. With
--database-url the PostgreSQL database is dropped and created first, unless --reuse is given.

Measured with Django's test Client in this process (the whole middleware stack, no network):
- a booking request: the request form POSTed by the release-manager demo user `rm` (one new slot each
  time, on the environment with the most bookings), and the service call alone; the bookings made here
  are cancelled afterwards;
- the live conflict check the form asks for as the user types;
- the booking board, all environments x 28 days, as the project-office user `po`: p95 and its own
  queries (without the session, user and role-badge queries every signed-in request makes).
The race runs on a fresh instance of its own (tests/releases/booking_race_worker.py; on PostgreSQL a
database named after the run, <name>_race_<pid>, dropped afterwards): --contenders environment admins
want one slot at once, --rounds times, through the service, and then as simultaneous POST /api/bookings
against gunicorn (3 processes x 20 threads, its log in the race's instance folder); the outcomes are
counted per round.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from common import REPO, add_instance_options, bench_instance, judged, own_queries, percentiles

SCALE = "enterprise"
TARGETS = {
    "booking_request": {"p95_ms": 50},
    "booking_check": {"p95_ms": 100},
    "booking_board": {"p95_ms": 100, "queries": 5},
}
CONFIG_VARIABLES = ("FLIGHTDECK_ENV", "SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_KEY", "DEBUG")


def main() -> None:
    options = parse_args()
    # --reuse keeps the database as it is, without looking for a seed first.
    with bench_instance(options, "flightdeck-bench-bookings-", seeded=None):
        result = run(options)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument("--skip-race", action="store_true")
    return parser.parse_args()


def run(options: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from releases.models import Booking, Environment

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", SCALE, stdout=sys.stderr)
    pages = {
        "booking_request": measure_requests(n=options.requests, warmup=options.warmup),
        "booking_request_service": measure_service(n=options.requests),
        "booking_check": measure_check(n=options.requests, warmup=options.warmup),
        "booking_board": measure_board(n=options.requests, warmup=options.warmup),
    }
    pages = {name: _judge(page, TARGETS.get(name)) for name, page in pages.items()}
    result = {
        "database": connection.vendor,
        "scale": SCALE,
        "environments": Environment.objects.count(),
        "bookings": Booking.objects.count(),
        "requests": options.requests,
        "pages": pages,
        "query_counts": "queries_page: without the session, user and role-badge queries of a request",
    }
    if not options.skip_race:
        result["race"] = measure_race(options)
    verdicts = [p["meets_target"] for p in pages.values() if "meets_target" in p]
    if "race" in result:
        verdicts += [result["race"][kind]["exactly_one_per_round"] for kind in ("service", "http")]
    result["meets_all_targets"] = all(verdicts)
    return result


# --- the requests ---------------------------------------------------------------------------------


def _busiest_environment():
    from django.db.models import Count

    from releases.models import Environment

    return (
        Environment.objects.filter(bookable=True).annotate(n=Count("bookings")).order_by("-n", "pk").first()
    )


def _free_slots(environment, n: int):
    """n slots of two hours each, after every booking of the environment and outside every freeze."""
    from django.db.models import Max

    from releases.environments.services.bookings import next_free_slot

    last = environment.bookings.aggregate(end=Max("ends_at"))["end"]
    start = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    slots = []
    while len(slots) < n:
        free = next_free_slot(environment=environment, starts_at=start, ends_at=start + timedelta(hours=2))
        slots.append(free)
        start = free[1]
    return slots


def _client(username: str):
    from django.test import Client

    from portal.models import User

    user = User.objects.get(username=username)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client, user.time_zone


def _form(environment, application, slot, zone: str) -> dict:
    """The form as the user fills it in: local times in their time zone."""
    from zoneinfo import ZoneInfo

    start, end = (moment.astimezone(ZoneInfo(zone)) for moment in slot)
    return {
        "environment": environment.pk,
        "application": application.pk,
        "starts_at": f"{start:%Y-%m-%dT%H:%M}",
        "ends_at": f"{end:%Y-%m-%dT%H:%M}",
        "purpose": "bench",
    }


def measure_requests(*, n: int, warmup: int) -> dict:
    from releases.models import Application

    environment, application = _busiest_environment(), Application.objects.order_by("pk").first()
    client, zone = _client("rm")
    times, statuses = [], Counter()
    for i, slot in enumerate(_free_slots(environment, n + warmup)):
        started = time.perf_counter()
        response = client.post("/environments/bookings/new/", _form(environment, application, slot, zone))
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1
    _cancel_bench_bookings()
    return {"environment": environment.name, "statuses": dict(statuses), **percentiles(times)}


def measure_service(*, n: int) -> dict:
    from portal.models import User
    from releases.environments.services.bookings import booking_request
    from releases.models import Application

    environment, application = _busiest_environment(), Application.objects.order_by("pk").first()
    by = User.objects.get(username="rm")
    times = []
    for slot in _free_slots(environment, n):
        started = time.perf_counter()
        booking_request(
            environment=environment,
            by=by,
            application=application,
            starts_at=slot[0],
            ends_at=slot[1],
            purpose="bench",
        )
        times.append((time.perf_counter() - started) * 1000)
    _cancel_bench_bookings()
    return percentiles(times)


def _cancel_bench_bookings() -> None:
    from releases.models import Booking

    Booking.objects.filter(purpose="bench").update(status="cancelled")


def measure_check(*, n: int, warmup: int) -> dict:
    """The live check of a slot that collides with the environment's busiest day."""
    from releases.models import Application, Booking

    environment, application = _busiest_environment(), Application.objects.order_by("pk").first()
    taken = Booking.objects.approved().filter(environment=environment).order_by("-starts_at").first()
    slot = (taken.starts_at, taken.starts_at + timedelta(hours=4))
    client, zone = _client("rm")
    form = _form(environment, application, slot, zone)
    return measure_page(client, "/environments/bookings/check/", form, n=n, warmup=warmup)


def measure_board(*, n: int, warmup: int) -> dict:
    from releases.models import Environment

    page = measure_page(_client("po")[0], "/environments/board/", {}, n=n, warmup=warmup)
    return {"environments": Environment.objects.count(), "days": 28, **page}


def measure_page(client, url: str, data: dict, *, n: int, warmup: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(url, data)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(url, data)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, data)
    return {
        "url": url,
        "status": response.status_code,
        "bytes": len(response.content),
        **percentiles(times),
        "queries_total": len(queries),
        "queries_page": own_queries(queries.captured_queries),
    }


def _judge(page: dict, target: dict | None) -> dict:
    """A page meets its target when it answered 200 (a booking request: every POST redirected), and
    its p95 and own query count are within the targets it has."""
    answered = page.get("status", 200) == 200
    if "statuses" in page:
        answered = answered and set(page["statuses"]) == {302}
    return judged(page, target, answered=answered)


# --- the race ----------------------------------------------------------------------------------------


def measure_race(options: argparse.Namespace) -> dict:
    """A fresh instance (SQLite in a temporary folder, or a PostgreSQL database of this run's own,
    dropped afterwards) for the race."""
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-race-") as var_dir:
        env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
        env |= {"FLIGHTDECK_VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "portal.settings"}
        if not options.database_url:
            return _race(options, env)
        from seed import drop_database, recreate_database

        # Named after this run, so two runs (or a run and the race test) never share one.
        parts = urlsplit(options.database_url)
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"{parts.path}_race_{os.getpid()}"))
        recreate_database(env["DATABASE_URL"])
        try:
            return _race(options, env)
        finally:
            drop_database(env["DATABASE_URL"])


def _race(options: argparse.Namespace, env: dict) -> dict:
    """The service race, then the HTTP race against gunicorn (its log in the instance folder)."""
    from tests.releases.booking_race_worker import http_round, race_server, run_worker

    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    contenders, rounds = str(options.contenders), str(options.rounds)
    tokens = run_worker(env, "prepare", "--contenders", contenders)["tokens"]
    started = time.perf_counter()
    service = run_worker(env, "service", "--rounds", rounds, "--contenders", contenders)
    service["seconds"] = round(time.perf_counter() - started, 1)
    with race_server(env) as base:
        started = time.perf_counter()
        per_round = [
            Counter(r.status_code for r in http_round(base, tokens, 3000 + n)) for n in range(options.rounds)
        ]
        seconds = round(time.perf_counter() - started, 1)
    http = {
        "rounds": options.rounds,
        "per_round_statuses": [dict(c) for c in per_round],
        "totals": dict(sum(per_round, Counter())),
        "exactly_one_per_round": all(c == {201: 1, 409: options.contenders - 1} for c in per_round),
        "seconds": seconds,
    }
    return {
        "database": "postgresql" if "DATABASE_URL" in env else "sqlite",
        "database_name": urlsplit(env["DATABASE_URL"]).path.lstrip("/") if "DATABASE_URL" in env else None,
        "contenders": options.contenders,
        "service": service,
        "http": http,
        "invariant": run_worker(env, "verify"),
    }


if __name__ == "__main__":
    main()
