"""The REST API's list endpoints on a demo seed: p50/p95 and query count of a page of each, as JSON.

    .venv/bin/python bench/api.py [--scale enterprise] [--var-dir /tmp/fd-api] [--requests 30]
    .venv/bin/python bench/api.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_api

The instance is built as bench/pages.py builds it (migrate, then `seed_demo --scale <--scale>`). Each
list (/api/v1/<resource>/, the default page of 50) is requested --warmup times, then --requests times
with Django's test Client in this process (the whole middleware stack, no network), with a personal API
token of the demo's `admin` (who may read every resource); one more request counts its queries. Target
(issue 14): p95 <= 100 ms and <= 10 queries per page.
"""

import argparse
import json
import sys
import time
from functools import partial

from common import add_instance_options, bench_instance, judged, percentiles, postgres_seeded

SCALES = ("small", "medium", "enterprise")
TARGET = {"p95_ms": 100, "queries": 10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    parser.add_argument("--scale", default="enterprise", choices=SCALES, help="of the demo seed")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    options = parser.parse_args()
    with bench_instance(
        options, "flightdeck-bench-api-", seeded=partial(postgres_seeded, scale=options.scale)
    ):
        result = run(options)
    print(json.dumps(result, indent=2))


def run(options: argparse.Namespace) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.api.urls import LIST_RESOURCES
    from portal.api_tokens import api_token_create

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", options.scale, stdout=sys.stderr)
    _, secret = api_token_create(user=get_user_model().objects.get(username="admin"), name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    lists = {}
    for resource in LIST_RESOURCES:
        url = f"/api/v1/{resource}/"
        for _ in range(options.warmup):
            client.get(url)
        times = []
        for _ in range(options.requests):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        page = {
            "status": response.status_code,
            "rows": response.json().get("count") if response.status_code == 200 else None,
            **percentiles(times),
            "queries_page": len(captured),
        }
        lists[resource] = judged(page, TARGET, answered=response.status_code == 200)
    return {
        "database": connection.vendor,
        "scale": options.scale,
        "requests_per_list": options.requests,
        "lists": lists,
        "meets_all_targets": all(page["meets_target"] for page in lists.values()),
    }


if __name__ == "__main__":
    main()
