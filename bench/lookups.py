"""The `any_of` lookup against `__in`, on the reads a sync page makes, for a few list sizes; one JSON object.

    .venv/bin/python bench/lookups.py [--rows 100000] [--sizes 10,100,1000,5000] [--pairs 101]
    .venv/bin/python bench/lookups.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_lookups

A fresh instance (temporary folder; with --database-url the PostgreSQL database is dropped and
created) holding --rows work items of one source, each in one fix release, then ANALYZE. Two reads,
shaped like releases.facts.services.upserts' own, each with a list of --sizes values drawn at random
from what is stored:
- text ids: the work items of the source with these external ids (the partial unique index);
- integer ids: the fix-release rows of these work items.
Each read is evaluated (compiled, sent, fetched) with `__in` (a placeholder per value) and with
`any_of` (one parameter), in --pairs interleaved pairs; per size and read: each lookup's median in
ms and in/any_of per pair (its median and quartiles; above 1, any_of is faster). any_of earns its
place when it is faster at the sync's page size (1,000 values) for both reads.
"""

import argparse
import json
import random
from datetime import UTC, date, datetime

from common import add_instance_options, bench_instance, paired_ratio

PAGE = 1000  # values a sync page asks about, as integrations.sync.jira.STORE_BATCH
SOURCE = "bench:lookups"
RELEASES = 200


def main() -> None:
    options = parse_args()
    with bench_instance(options, "flightdeck-bench-lookups-"):
        result = run(options)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_instance_options(parser, reuse=False)  # always a fresh instance
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sizes", default="10,100,1000,5000", help="list sizes, comma separated")
    parser.add_argument("--pairs", type=int, default=101, help="interleaved pairs per size and read")
    return parser.parse_args()


def run(options: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "--noinput", verbosity=0)
    item_pks = stored_items(options.rows)
    sizes = [int(size) for size in options.sizes.split(",")]
    chooser = random.Random(1)
    figures = {}
    for size in sizes:
        picked = chooser.sample(range(len(item_pks)), min(size, len(item_pks)))
        external_ids = [_external_id(n) for n in picked]
        pks = [item_pks[n] for n in picked]
        figures[str(size)] = {
            "text_ids": compare(_items_by_external_id, external_ids, pairs=options.pairs),
            "integer_ids": compare(_fix_releases_of, pks, pairs=options.pairs),
        }
    at_page = figures.get(str(PAGE))
    return {
        "database": connection.vendor,
        "rows": options.rows,
        "pairs": options.pairs,
        "sizes": figures,
        "ratio": "in_over_any_of: a pair's __in time over its any_of time; above 1, any_of is faster",
        "any_of_earns_its_place": None
        if at_page is None
        else all(read["in_over_any_of_median"] > 1 for read in at_page.values()),
    }


def compare(read, values: list, *, pairs: int) -> dict:
    """`read(lookup, values)` with __in against any_of; both must find the same rows."""
    assert sorted(read("in", values)) == sorted(read("any_of", values)), "the lookups disagree"
    figures = paired_ratio(
        ("in", lambda: read("in", values)), ("any_of", lambda: read("any_of", values)), pairs=pairs
    )
    return {name.replace("ratio_", "in_over_any_of_"): value for name, value in figures.items()}


def _items_by_external_id(lookup: str, external_ids: list[str]) -> list:
    from releases.models import WorkItem

    found = WorkItem.objects.filter(source=SOURCE, **{f"external_id__{lookup}": external_ids})
    return list(found.exclude(external_id="").order_by().values_list("pk", "external_id"))


def _fix_releases_of(lookup: str, pks: list[int]) -> list:
    from releases.models import WorkItem

    through = WorkItem.fix_releases.through
    return list(through.objects.filter(**{f"workitem_id__{lookup}": pks}).values_list("pk", "release_id"))


def _item_row(n: int, app_pk: int, created: datetime) -> tuple:
    """A work item row in the order of WORK_ITEM_COLUMNS."""
    key, title = f"APP{n % 4}-{n}", f"Item {n}"
    return (
        SOURCE,
        _external_id(n),
        app_pk,
        key,
        title,
        "story",
        "todo",
        "To Do",
        "Medium",
        created,
        None,
        created,
        False,
    )


def _external_id(n: int) -> str:
    return str(100_000 + n)


def stored_items(rows: int) -> list[int]:
    """`rows` work items in four applications, each in one of RELEASES fix releases; their pks in
    order, then the planner's statistics (PostgreSQL)."""
    from django.db import connection, transaction

    from releases.facts.services.upserts import WORK_ITEM_COLUMNS, FixThrough, _insert_rows
    from releases.models import Application, Portfolio, Release, WorkItem

    portfolio = Portfolio.objects.create(name="Bench lookups", slug="bench-lookups")
    apps = [Application.objects.create(portfolio=portfolio, name=f"App {n}", key=f"APP{n}") for n in range(4)]
    releases = Release.objects.bulk_create(
        Release(application=apps[n % 4], version=f"1.{n}", target_date=date(2030, 1, 1))
        for n in range(RELEASES)
    )
    created = datetime(2030, 1, 1, tzinfo=UTC)
    pks = []
    with transaction.atomic():
        for start in range(0, rows, 5000):
            page = [_item_row(n, apps[n % 4].pk, created) for n in range(start, min(rows, start + 5000))]
            found = dict(_insert_rows(WorkItem, WORK_ITEM_COLUMNS, page, returning=("external_id", "pk")))
            pks += [found[row[1]] for row in page]
        fixes = [(pk, releases[n % RELEASES].pk) for n, pk in enumerate(pks)]
        for start in range(0, len(fixes), 5000):
            _insert_rows(FixThrough, ("workitem", "release"), fixes[start : start + 5000])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return pks


if __name__ == "__main__":
    main()
