"""Which source owns a synced release or work item, and handing them over from one source to another.

A source owns the rows that carry its key (`source`); another source that reads the same records
knows them by an alias (SourceAlias, written by the upserts). Handing over swaps the two for every
fact the receiver knows: the receiver's key and id go on the row, the giver's become the alias. Facts
the receiver has not seen stay with the giver. The caller holds the transaction and audits it.
"""

from dataclasses import dataclass

from django.db.models import Count, F

from releases.models import Release, SourceAlias, WorkItem

BATCH = 1000
FACTS = (("release", Release), ("work_item", WorkItem))


@dataclass(frozen=True)
class Handover:
    releases: int
    work_items: int

    @property
    def total(self) -> int:
        return self.releases + self.work_items


def facts_hand_over(*, giver: str, receiver: str) -> Handover:
    """Every release and work item `giver` owns and `receiver` knows by an alias becomes receiver's."""
    moved = {}
    for field, model in FACTS:
        aliases = list(
            SourceAlias.objects.select_for_update()
            .filter(source=receiver, **{f"{field}__source": giver})
            .select_related(field)
            .order_by("pk")
        )
        rows = []
        for alias in aliases:
            row = getattr(alias, field)
            row.source, row.external_id, alias.source, alias.external_id = (
                receiver,
                alias.external_id,
                giver,
                row.external_id,
            )
            rows.append(row)
        model.objects.bulk_update(rows, ["source", "external_id"], batch_size=BATCH)
        SourceAlias.objects.bulk_update(aliases, ["source", "external_id"], batch_size=BATCH)
        moved[field] = len(rows)
    return Handover(releases=moved["release"], work_items=moved["work_item"])


def facts_held(*, sources: list[str]) -> dict[str, dict[str, int]]:
    """For each of `sources`: how many of its aliased facts each owner holds, {owner: count}. One query."""
    held: dict[str, dict[str, int]] = {source: {} for source in sources}
    release, work_item = (
        SourceAlias.objects.filter(source__in=sources, **{f"{field}__isnull": False})
        .values("source", owner=F(f"{field}__source"))
        .annotate(count=Count("pk"))
        .order_by()
        for field, _ in FACTS
    )
    for row in release.union(work_item, all=True):
        owners = held[row["source"]]
        owners[row["owner"]] = owners.get(row["owner"], 0) + row["count"]
    return held
