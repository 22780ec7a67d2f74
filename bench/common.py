"""What the bench scripts share: the instance they run in, and how they sum up timings.

A bench script runs Django in its own process, on an instance of its own: a folder (FLIGHTDECK_VAR_DIR:
SQLite file, secret, broker) kept with --var-dir or else temporary, and optionally a PostgreSQL database
(--database-url) that is dropped and created first, unless --reuse is given and it already holds a seed.

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=True)
    options = parser.parse_args()
    with bench_instance(options, "flightdeck-bench-pages-") as var_dir:
        result = run(options)        # Django is set up here
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The queries every signed-in request spends before the view runs: session, user, role badge (groups).
AUTH_QUERY_MARKS = ('FROM "django_session"', 'FROM "portal_user" WHERE', '"auth_group"')


def add_instance_options(parser: argparse.ArgumentParser, *, var_dir: bool = True, reuse: bool) -> None:
    """--var-dir (unless var_dir=False: always a temporary folder), --database-url, and --reuse."""
    if var_dir:
        parser.add_argument(
            "--var-dir", default="", help="instance folder kept between runs (default: temporary)"
        )
    parser.add_argument(
        "--database-url", default="", help="postgres://... (dropped and created); default SQLite"
    )
    if reuse:
        parser.add_argument("--reuse", action="store_true", help="keep a PostgreSQL database already seeded")


@contextmanager
def bench_instance(
    options: argparse.Namespace, prefix: str, *, seeded: Callable[[str], bool] | None = None
) -> Iterator[str]:
    """The instance folder (options.var_dir, or a temporary one named `prefix...` removed on exit), with
    its environment set and Django set up. The PostgreSQL database of options.database_url is dropped
    and created first, unless options.reuse and `seeded(url)` says it holds what the bench needs
    (seeded=None: --reuse keeps it unchecked). Settings come from portal.settings unless
    DJANGO_SETTINGS_MODULE is already set."""
    var_dir = getattr(options, "var_dir", "")
    with nullcontext(var_dir) if var_dir else tempfile.TemporaryDirectory(prefix=prefix) as folder:
        os.environ.update(FLIGHTDECK_VAR_DIR=str(folder), DATABASE_URL=options.database_url)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        url = options.database_url
        if url and not (getattr(options, "reuse", False) and (seeded is None or seeded(url))):
            from seed import recreate_database  # bench/seed.py, next to this file

            recreate_database(url)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        yield folder


def postgres_seeded(url: str, *, scale: str | None = None) -> bool:
    """Whether the PostgreSQL database holds a demo seed (of `scale`, when given); False when it cannot
    be read (missing, or not migrated)."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as db:
            row = db.execute(
                "SELECT after ->> 'scale' FROM releases_auditevent WHERE action = 'demo.seed'"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row) and (scale is None or row[0] == scale)


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank q-quantile of sorted times, in ms to one decimal."""
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": percentile(ordered, 0.95)}


def own_queries(captured: list[dict]) -> int:
    """How many of a request's queries are the page's own (not the ones every signed-in request makes)."""
    return sum(1 for q in captured if not any(mark in q["sql"] for mark in AUTH_QUERY_MARKS))


def judged(page: dict, target: dict | None, *, answered: bool) -> dict:
    """The page with its target and whether it meets it: it answered as it should (`answered`, the
    script's own test), its p95 and own query count within the target's; unchanged without a target."""
    if not target:
        return page
    meets = answered and page["p95_ms"] <= target.get("p95_ms", math.inf)
    meets = meets and page.get("queries_page", 0) <= target.get("queries", math.inf)
    return page | {"target": target, "meets_target": meets}


def paired_ratio(numerator: tuple[str, Callable], denominator: tuple[str, Callable], *, pairs: int) -> dict:
    """Time two calls in `pairs` interleaved pairs (which goes first flips each pair, so the machine's
    drift and warm caches fall on both alike) and sum up the ratio numerator/denominator of each pair:
    its median, quartiles and extremes, with each call's median in ms. A ratio of two single timings
    swings with the noise; the median of a few hundred pairs, with its spread, is a figure to compare.

        paired_ratio(("page", get_page), ("floor", floor_once), pairs=200)
    """
    (top_name, top), (bottom_name, bottom) = numerator, denominator
    tops, bottoms = [], []
    for n in range(pairs):
        if n % 2:
            bottoms.append(_ms(bottom))
            tops.append(_ms(top))
        else:
            tops.append(_ms(top))
            bottoms.append(_ms(bottom))
    ratios = [a / b for a, b in zip(tops, bottoms, strict=True)]
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if pairs > 1 else ratios * 3
    return {
        "pairs": pairs,
        f"{top_name}_p50_ms": round(statistics.median(tops), 3),
        f"{bottom_name}_p50_ms": round(statistics.median(bottoms), 3),
        "ratio_median": round(median, 2),
        "ratio_q1": round(q1, 2),
        "ratio_q3": round(q3, 2),
        "ratio_iqr": round(q3 - q1, 2),
        "ratio_min": round(min(ratios), 2),
        "ratio_max": round(max(ratios), 2),
    }


def _ms(call: Callable) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000
