"""GitHub pull requests and releases, synced against the sandbox over real HTTP on loopback.

Pull requests: `state=all&sort=updated&direction=desc`, `Link` pages down to the `updated_at`
watermark (less an overlap), the first page conditional on its ETag. Releases: a published release
whose tag names a Flightdeck release marks it released, audited, once. Rate limits end the attempt
for the task to retry, and the retry converges."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import DataError, IntegrityError, transaction
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from integrations.http import RateLimited
from integrations.models import Connection, SyncCursor, SyncRun
from integrations.runner import connection_sync
from integrations.sandbox.github import GithubDataset, GithubRoutes, SecondaryLimit
from integrations.sandbox.server import Fault, SandboxServer
from integrations.tasks import sync_run_queue
from portal import roles
from releases.audit import audit_verify
from releases.facts.services.code_host import PullRequestFact, pull_requests_upsert
from releases.models import AuditEvent, PullRequest, Release
from tests import factories as f
from tests.integrations.helpers import sync

pytestmark = pytest.mark.django_db

REPO = "acme/payments"
LATER = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # after every generated pull request


@pytest.fixture
def github(serve):
    def start(*, pulls: int = 250) -> SandboxServer:
        return serve(GithubRoutes(GithubDataset(repos={REPO: 0}, pulls={REPO: pulls})))

    return start


@pytest.fixture
def pay():
    """The application and its release 4.2 (milestone and tag "v4.2"); there is no release 4.3."""
    application = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(application=application, version="4.2", status=Release.Status.IN_PROGRESS)
    return application


def github_connection(server, application) -> Connection:
    connection = f.ConnectionFactory(
        kind=Connection.Kind.GITHUB,
        base_url=server.url,
        credentials={"token": server.routes.dataset.token},
        scope={"repos": [REPO]},
    )
    f.ApplicationMappingFactory(connection=connection, application=application, external_key=REPO)
    return connection


def stored(connection) -> dict:
    return {
        p.number: (p.state, p.title, p.release.version if p.release else None)
        for p in PullRequest.objects.filter(source=connection.source_key).select_related("release")
    }


def sandbox(server, *, releases=("4.2",)) -> dict:
    """What the sandbox holds, as stored() should read it: milestone "v4.2" names release 4.2."""
    dataset = server.routes.dataset
    state = {}
    for number in range(1, dataset.pulls[REPO] + 1):
        fields = dataset.pull_fields(REPO, number)
        version = fields["milestone"].removeprefix("v") or None
        state[number] = (fields["state"], fields["title"], version if version in releases else None)
    return state


def pull_pages(server) -> list[str]:
    return [r.query.get("page", "1") for r in server.requests if r.path.endswith("/pulls")]


def writes(queries) -> list[str]:
    """Rows written to the domain's tables, but the audit trail (a sync run records its own events)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith(("INSERT", "UPDATE"))
        and "releases_" in q["sql"]
        and "releases_audit" not in q["sql"]
    ]


# --- pull requests ----------------------------------------------------------------------------------


def test_first_sync_follows_link_pages_and_stores_every_pull_request_in_bulk(github, pay):
    server = github(pulls=250)
    connection = github_connection(server, pay)
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)

    assert stored(connection) == sandbox(server)
    assert pull_pages(server) == ["1", "2", "3"]
    first = server.requests_to("/pulls")[0].query
    assert (first["state"], first["sort"], first["direction"]) == ("all", "updated", "desc")
    merged = PullRequest.objects.get(number=2)  # generated: merged 30 minutes after it was opened
    assert (merged.state, merged.author, merged.base_ref, merged.head_ref) == (
        "merged",
        "dev2",
        "main",
        "feature/2",
    )
    assert merged.merged_at == merged.closed_at == merged.created_at + timedelta(minutes=30)
    assert merged.url == f"https://github.example/{REPO}/pull/2"
    closed = PullRequest.objects.get(number=7)  # every seventh one is closed unmerged
    assert (closed.state, closed.merged_at is None, closed.closed_at is not None) == ("closed", True, True)
    assert PullRequest.objects.get(number=3).closed_at is None  # open
    # Bulk: a read and an insert a page (SQLite splits it at its 999 parameters), never one a row.
    assert len([q for q in queries if "releases_pullrequest" in q["sql"]]) <= 3 * 3
    assert (run.items_fetched, run.items_created, run.requests) == (250, 250, len(server.requests))
    cursor = SyncCursor.objects.get(connection=connection, stream=f"pulls:{REPO}")
    newest = max(PullRequest.objects.values_list("updated_at", flat=True))
    assert datetime.fromisoformat(cursor.watermark) == newest
    assert cursor.etag.startswith('W/"')


def test_an_unchanged_resync_is_free_and_writes_nothing(github, pay):
    server = github(pulls=150)
    connection = github_connection(server, pay)
    sync(connection)
    dataset = server.routes.dataset
    used = dataset.rate_used
    server.requests.clear()
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    assert {r.status for r in server.requests} == {304}
    assert dataset.rate_used == used
    assert writes(queries) == []
    assert (run.items_fetched, run.items_created, run.items_updated) == (0, 0, 0)


def test_changed_and_new_pull_requests_are_read_from_the_first_page_only(github, pay):
    server = github(pulls=250)
    dataset = server.routes.dataset
    connection = github_connection(server, pay)
    sync(connection)
    dataset.edit_pull(REPO, 1, at=LATER, title="Fees, second try", state="open", milestone="v4.2")
    new = dataset.open_pull(REPO, at=LATER + timedelta(minutes=1), title="Brand new", milestone="v4.2")
    server.requests.clear()
    run = sync(connection)

    assert pull_pages(server) == ["1"], "the watermark ends the pass on the first page"
    assert stored(connection) == sandbox(server)
    assert stored(connection)[1] == ("open", "Fees, second try", "4.2")
    assert stored(connection)[new] == ("open", "Brand new", "4.2")
    edited = PullRequest.objects.get(number=1)
    assert (edited.merged_at, edited.closed_at) == (None, None)  # reopened
    # The two changes and the newest of the last pass (inside the overlap), nothing older.
    assert (run.items_fetched, run.items_created, run.items_updated, run.items_unchanged) == (3, 1, 1, 1)
    cursor = SyncCursor.objects.get(connection=connection, stream=f"pulls:{REPO}")
    assert datetime.fromisoformat(cursor.watermark) == LATER + timedelta(minutes=1)


def test_a_change_listed_late_inside_the_overlap_is_read_and_a_reconcile_reads_everything(github, pay):
    server = github(pulls=120)
    dataset = server.routes.dataset
    connection = github_connection(server, pay)
    sync(connection)
    watermark = datetime.fromisoformat(
        SyncCursor.objects.get(connection=connection, stream=f"pulls:{REPO}").watermark
    )
    dataset.edit_pull(REPO, 5, at=watermark - timedelta(minutes=1), title="Inside the overlap")
    dataset.edit_pull(REPO, 6, at=watermark - timedelta(hours=1), title="Before the overlap")
    sync(connection)
    assert stored(connection)[5][1] == "Inside the overlap"
    assert stored(connection)[6][1] != "Before the overlap", "older than the watermark: not listed again"

    f.ReleaseFactory(application=pay, version="4.3")  # created after its pull requests were read
    server.requests.clear()
    run = sync(connection, mode="reconcile")
    assert pull_pages(server) == ["1", "2"]
    assert stored(connection) == sandbox(server, releases=("4.2", "4.3"))
    linked = sum(1 for *_, version in sandbox(server, releases=("4.3",)).values() if version)
    assert run.items_updated == linked + 1  # their release, and number 6's title
    assert PullRequest.objects.count() == 120


# --- releases ---------------------------------------------------------------------------------------


def test_a_published_github_release_marks_its_release_released_once_with_an_audit_event(
    github, pay, client_for
):
    server = github(pulls=0)
    dataset = server.routes.dataset
    draft = f.ReleaseFactory(application=pay, version="4.3", status=Release.Status.READY)
    candidate = f.ReleaseFactory(application=pay, version="5.0")
    cancelled = f.ReleaseFactory(application=pay, version="3.9", status=Release.Status.CANCELLED)
    published = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)
    dataset.publish(REPO, "v4.2", at=published)
    dataset.publish(REPO, "v4.3", at=published, draft=True)
    dataset.publish(REPO, "v5.0", at=published, prerelease=True)
    dataset.publish(REPO, "v3.9", at=published)
    dataset.publish(REPO, "v9.9", at=published)  # names no release
    connection = github_connection(server, pay)
    run = sync(connection)

    release = Release.objects.get(application=pay, version="4.2")
    assert (release.status, release.actual_date) == (Release.Status.RELEASED, date(2026, 3, 20))
    events = AuditEvent.objects.filter(object_type="releases.release", object_id=str(release.pk))
    (event,) = events.filter(action="release.sync_update")
    assert (event.actor_id, event.before["status"], event.after["status"]) == (
        None,
        "in_progress",
        "released",
    )
    assert "GitHub release v4.2 of acme/payments" in event.after["evidence"]
    statuses = dict(
        Release.objects.filter(pk__in=[draft.pk, candidate.pk, cancelled.pk]).values_list("version", "status")
    )
    assert statuses == {"4.3": "ready", "5.0": "planned", "3.9": "cancelled"}
    assert (run.items_fetched, run.items_updated, run.items_unchanged) == (5, 1, 4)

    page = client_for(roles.PROJECT_OFFICE).get(f"/releases/{release.pk}/").content.decode()
    timeline = page.split('id="timeline-title"', 1)[1]
    assert "<strong>Changed by a sync</strong>" in timeline
    assert "status: <del>in_progress</del> → <ins>released</ins>" in timeline

    sync(connection)  # unchanged: 304
    dataset.publish(REPO, "v9.10", at=published + timedelta(days=1))  # the list changed, 4.2 did not
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    assert [r.status for r in server.requests_to("/releases")][-1] == 200
    assert writes(queries) == []
    assert (run.items_fetched, run.items_updated, run.items_unchanged) == (6, 0, 6)
    assert AuditEvent.objects.filter(action="release.sync_update").count() == 1
    assert audit_verify().ok, "the evidence rides in the hashed event"


def test_releases_are_paged_by_link(github, pay):
    server = github(pulls=0)
    dataset = server.routes.dataset
    for n in range(1, 131):
        dataset.publish(REPO, f"v0.{n}", at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n))
    dataset.publish(REPO, "v4.2", at=datetime(2025, 9, 1, tzinfo=UTC))
    run = sync(github_connection(server, pay))
    assert [r.query.get("page", "1") for r in server.requests_to("/releases")] == ["1", "2"]
    assert (run.items_fetched, run.items_updated) == (131, 1)
    assert Release.objects.get(version="4.2").actual_date == date(2025, 9, 1)


# --- rate limits ------------------------------------------------------------------------------------


def test_a_spent_primary_limit_mid_pulls_raises_for_a_retry_that_converges(github, pay):
    server = github(pulls=250)
    dataset = server.routes.dataset
    dataset.rate_limit, dataset.rate_reset_in = 2, 900  # the deployments page and the first pulls page
    connection = github_connection(server, pay)
    run = sync_run_queue(connection=connection, by=None)
    with pytest.raises(RateLimited) as limited:
        connection_sync(run_id=run.pk)
    assert 895 <= limited.value.retry_after <= 900  # until x-ratelimit-reset
    assert [r.status for r in server.requests] == [200, 200, 403], "nothing more inside the window"
    assert PullRequest.objects.count() == 100  # the first page is stored
    assert SyncCursor.objects.get(connection=connection, stream=f"pulls:{REPO}").watermark == ""
    run.refresh_from_db()
    assert (run.status, run.error.startswith("Waiting to retry")) == (SyncRun.Status.RUNNING, True)

    dataset.rate_limit = 5000
    connection_sync(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(connection) == sandbox(server)
    assert PullRequest.objects.count() == 250


def test_a_secondary_limit_403_waits_its_retry_after(github, pay):
    server = github(pulls=5)
    server.routes.dataset.secondary_limits.append(SecondaryLimit("/releases", retry_after=45))
    run = sync_run_queue(connection=github_connection(server, pay), by=None)
    with pytest.raises(RateLimited) as limited:
        connection_sync(run_id=run.pk)
    assert limited.value.retry_after == 45
    assert server.requests[-1].path.endswith("/releases") and server.requests[-1].status == 403
    assert PullRequest.objects.count() == 5


def test_a_429_on_pulls_waits_its_retry_after(github, pay):
    server = github(pulls=5)
    server.faults.append(Fault("429", path="/pulls", retry_after=30))
    run = sync_run_queue(connection=github_connection(server, pay), by=None)
    with pytest.raises(RateLimited) as limited:
        connection_sync(run_id=run.pk)
    assert limited.value.retry_after == 30
    assert len(server.requests_to("/pulls")) == 1


# --- the service and the invariants -----------------------------------------------------------------


def _fact(application, number=1, **fields) -> PullRequestFact:
    opened = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    values = {
        "external_id": f"{REPO}#{number}",
        "application_id": application.pk,
        "repository": REPO,
        "number": number,
        "title": "Fees",
        "state": "open",
        "author": "dev",
        "base_ref": "main",
        "head_ref": "feature/fees",
        "created_at": opened,
        "updated_at": opened,
        "merged_at": None,
        "closed_at": None,
        "release_id": None,
        "url": "",
    }
    return PullRequestFact(**(values | fields))


def test_an_id_longer_than_its_column_is_refused_never_cut_short(pay):
    """A nested GitLab group can make `group/sub/project!iid` longer than the 128 characters stored:
    PostgreSQL refuses it; it must never keep the first 128 (the next sync would not find it)."""
    fact = _fact(pay, 1, external_id=f"{'group/' * 25}project!1")
    assert len(fact.external_id) > 128
    try:
        with transaction.atomic():
            pull_requests_upsert(source="gitlab#1", facts=[fact])
    except DataError:
        assert not PullRequest.objects.exists()
    else:  # SQLite does not enforce the length: it keeps the id whole
        assert PullRequest.objects.get().external_id == fact.external_id


def test_upsert_writes_only_what_changed(pay):
    facts = [_fact(pay, n) for n in range(1, 4)]
    with transaction.atomic():
        assert pull_requests_upsert(source="github#1", facts=facts).created == 3
        again = pull_requests_upsert(source="github#1", facts=facts)
    assert (again.created, again.updated, again.unchanged, again.rows_written) == (0, 0, 3, 0)
    release = Release.objects.get(version="4.2")
    changed = [facts[0], _fact(pay, 2, title="Fees v2", release_id=release.pk), facts[2]]
    with transaction.atomic():
        result = pull_requests_upsert(source="github#1", facts=changed)
    assert (result.updated, result.unchanged, result.release_ids) == (1, 2, {release.pk})
    assert PullRequest.objects.get(number=2).release == release


@pytest.mark.parametrize(
    "fields",
    [
        {"state": "merged"},  # merged without a merge time
        {"state": "open", "merged_at": datetime(2026, 2, 2, tzinfo=UTC)},
        {"state": "open", "closed_at": datetime(2026, 2, 2, tzinfo=UTC)},
        {"state": "closed"},  # closed without a time
        {"state": "draft"},
        {"updated_at": datetime(2026, 1, 1, tzinfo=UTC)},  # before it was created
    ],
)
def test_the_database_refuses_an_impossible_pull_request(pay, fields):
    values = vars(_fact(pay)) | fields
    with pytest.raises(IntegrityError), transaction.atomic():
        PullRequest.objects.create(source="github#1", **values)
