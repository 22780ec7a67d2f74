"""Facts from the code host a sync brings: pull requests, and published releases as evidence that a
release shipped.

Like facts.py, the caller (a sync, one page at a time) holds the transaction, rows are keyed by
(source, external_id), a row that matches what is stored is not written, and a page costs a fixed
number of bulk statements. A release marked shipped is the audited exception, as in releases_upsert:
few per sync, each written with its audit event.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from releases.audit import audit_record, snapshot
from releases.facts.services.upserts import UpsertResult, keyed_facts_upsert
from releases.gates.services.policies import gates_sync_for_release
from releases.models import PullRequest, Release
from releases.tasks import forecast_refresh_after_commit

PULL_REQUEST_FIELDS = (
    "application_id",
    "repository",
    "number",
    "title",
    "state",
    "author",
    "base_ref",
    "head_ref",
    "created_at",
    "updated_at",
    "merged_at",
    "closed_at",
    "release_id",
    "url",
)


@dataclass(frozen=True)
class PullRequestFact:
    external_id: str
    application_id: int
    repository: str
    number: int
    title: str
    state: str
    author: str
    base_ref: str
    head_ref: str
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    release_id: int | None  # the release its milestone names
    url: str


def pull_requests_upsert(*, source: str, facts: list[PullRequestFact]) -> UpsertResult:
    """Create, update or leave each pull request: one read, one insert, one update per page. New ones
    go in by one hand-written INSERT a page (a first sync brings tens of thousands; bench/sync.py
    --tool gitlab measures it)."""
    return keyed_facts_upsert(
        PullRequest, source=source, facts=facts, fields=PULL_REQUEST_FIELDS, raw_insert=True
    )


@dataclass(frozen=True)
class ShippedFact:
    """A tool says this release shipped at `shipped_at` (a published GitHub release of its tag)."""

    release_id: int
    shipped_at: datetime
    evidence: str  # in words, for the audit trail: what the tool published


def releases_shipped_apply(*, facts: list[ShippedFact]) -> UpsertResult:
    """Mark each named release released on the day it was published, unless it is released or
    cancelled already (then nothing is written: a re-sync changes nothing). Each change is audited
    as the system, its gates follow the status, and the forecast is refreshed after the commit."""
    result = UpsertResult()
    earliest = {}
    for fact in sorted(facts, key=lambda fact: fact.shipped_at):  # two tags ("v4.2", "4.2"): the first
        earliest.setdefault(fact.release_id, fact)
    for release in Release.objects.open().select_for_update().filter(pk__in=earliest).order_by("pk"):
        fact = earliest[release.pk]
        before = snapshot(release)
        release.status = Release.Status.RELEASED
        release.actual_date = timezone.localdate(fact.shipped_at)
        release.full_clean()
        release.save()
        audit_record(
            actor=None,
            action="release.sync_update",
            obj=release,
            before=before,
            after=snapshot(release) | {"evidence": fact.evidence},
        )
        gates_sync_for_release(release=release, by=None)
        result.updated += 1
        result.release_ids.add(release.pk)
    result.rows_written = result.updated
    result.unchanged = len(facts) - result.updated
    if result.updated:
        forecast_refresh_after_commit()
    return result
