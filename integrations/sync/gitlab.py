"""GitLab → Flightdeck, per mapped project (`group/project`), four streams with a cursor each:

- `merge_requests:{project}`: merge requests become pull requests (the same rows GitHub's pull
  requests are, keyed `group/project!iid`); the milestone's title names the release.
- `pipelines:{project}`: pipelines become builds (job: the project, number: the pipeline id), timed by
  their jobs (the first start to the last end); a finished pipeline whose ref names a release gets
  its JUnit test report (`/pipelines/:id/test_report`) as a test run of that release.
- `deployments:{project}`: deployments become deployments (what runs where); an environment is matched
  by name or through the scope's `environments` map, the version is the deployed ref.
- `releases:{project}`: a GitLab release dated in the past whose tag names a release of the application
  marks it released on that day, once (read whole every pass: they are few).

The first three are incremental by an `updated_at` watermark: a pass asks for what was updated after
the watermark less a small overlap, least recently updated first, so every page stored moves the
watermark with it (in the same transaction) and a pass cut short resumes after its last page. A
pipeline or deployment still running is read again when it finishes, since that updates it.

Incremental passes do not see deletions. A reconcile lists each project's merge requests (storing any a
pass missed) and deployments whole, by what never changes (creation, id), asks for each stored one the
listing missed by itself, and deletes those GitLab answers 404 for; a reconcile that would delete most
of a stream's rows is refused (a token that lost access lists nothing). Builds are never deleted, as
for Jenkins: GitLab expires old pipelines, and a release's build history outlives them.
"""

from datetime import datetime, timedelta
from functools import partial

from integrations.clients.gitlab import GitlabClient, project_path
from integrations.http import SyncError
from integrations.models import ApplicationMapping, Connection
from integrations.parse.gitlab import (
    GitlabDeployment,
    GitlabMergeRequest,
    GitlabPipeline,
    GitlabRelease,
    build_timing,
)
from integrations.sync.base import RunContext, cursor_get, upsert_page
from integrations.sync.github import environments_by_name, releases_by_version, shipped_releases_store
from releases.facts.services.code_host import PullRequestFact, pull_requests_upsert
from releases.facts.services.upserts import (
    BuildFact,
    DeploymentFact,
    TestRunFact,
    UpsertResult,
    builds_upsert,
    deployments_delete,
    deployments_upsert,
    keyed_facts_delete,
    testruns_upsert,
)
from releases.models import Deployment, PullRequest

RECONCILE = "reconcile"
# Read again what was updated this long before the watermark: GitLab's `updated_after` compares whole
# times, and a change in the same second as the last page may not have been listed yet.
OVERLAP = timedelta(minutes=2)
MAX_DELETED_SHARE = 0.5
# Merge requests stored a transaction: fewer, larger statements (a page is at most 100); a sync cut
# short reads at most this many again.
STORE_BATCH = 1000


def gitlab_sync(*, context: RunContext, client: GitlabClient, mode: str = "incremental") -> None:
    """Every stream of every mapped project; a reconcile also sweeps deletions."""
    passes = (_sync_merge_requests, _sync_pipelines, _sync_deployments, _sync_releases)
    for project, application_id in _mappings(context.connection).items():
        for sync_pass in passes:
            sync_pass(context, client, project, application_id)
        if mode == RECONCILE:
            _reconcile(context, client, project, application_id)


def gitlab_connection_test(*, connection: Connection, client: GitlabClient) -> str:
    readable = []
    for project in _mappings(connection):
        data = client.project(project)
        readable.append(f"{data.get('path_with_namespace') or project} (id {data['id']})")
    return f"Connected to {connection.base_url}; readable: {', '.join(readable)}."


def _watermarked(context: RunContext, stream: str, listing):
    """The pages `listing(updated_after=...)` reads from the stream's watermark less the overlap, each with
    the cursor to store it with: the newest update read so far."""
    watermark = cursor_get(context.connection, stream).watermark
    newest = datetime.fromisoformat(watermark) if watermark else None
    for items, meta in listing(updated_after=(newest - OVERLAP).isoformat() if newest else ""):
        newest = max([item.updated_at for item in items] + ([newest] if newest else []), default=None)
        yield items, meta, {"watermark": newest.isoformat() if newest else ""}


# --- merge requests -------------------------------------------------------------------------------


def _sync_merge_requests(context: RunContext, client: GitlabClient, project: str, application_id: int):
    """Pages of 100 (GitLab's most), stored about STORE_BATCH a transaction, each with the watermark."""
    stream = f"merge_requests:{project}"
    batch, pages = [], 0
    for merge_requests, meta, cursor in _watermarked(
        context, stream, partial(client.merge_requests, project)
    ):
        batch, pages = batch + merge_requests, pages + 1
        if len(batch) < STORE_BATCH and meta.next_url:
            continue
        _store_merge_requests(context, stream, project, application_id, batch, cursor, pages)
        batch, pages = [], 0


def _store_merge_requests(
    context: RunContext, stream: str, project: str, application_id: int, merge_requests, cursor, pages
) -> None:
    facts = _merge_request_facts(project, application_id, merge_requests)
    upsert_page(
        context=context,
        stream=stream,
        cursor=cursor,
        fetched=len(merge_requests),
        pages=pages,
        store=lambda: pull_requests_upsert(source=context.connection.source_key, facts=facts),
    )


def _merge_request_facts(
    project: str, application_id: int, merge_requests: list[GitlabMergeRequest]
) -> list[PullRequestFact]:
    releases = releases_by_version(application_id, {m.milestone for m in merge_requests if m.milestone})
    return [
        PullRequestFact(
            external_id=f"{project}!{m.iid}",
            application_id=application_id,
            repository=project[:200],
            number=m.iid,
            title=m.title[:500],
            state=m.state,
            author=m.author[:100],
            base_ref=m.target_branch[:255],
            head_ref=m.source_branch[:255],
            created_at=m.created_at,
            updated_at=max(m.updated_at, m.created_at),
            merged_at=m.merged_at,
            closed_at=m.closed_at,
            release_id=releases.get(m.milestone),
            url=m.url[:500] if m.url.startswith(("https://", "http://")) else "",
        )
        for m in merge_requests
    ]


# --- pipelines ------------------------------------------------------------------------------------


def _sync_pipelines(context: RunContext, client: GitlabClient, project: str, application_id: int):
    stream = f"pipelines:{project}"
    for pipelines, _, cursor in _watermarked(context, stream, partial(client.pipelines, project)):
        _store_pipelines(context, client, stream, project, application_id, pipelines, cursor)


def _store_pipelines(
    context: RunContext,
    client: GitlabClient,
    stream: str,
    project: str,
    application_id: int,
    pipelines: list[GitlabPipeline],
    cursor: dict,
) -> None:
    """The page's pipelines as builds, and the test reports of the finished ones made for a release
    (their jobs and reports fetched before the transaction: no network inside it)."""
    source = context.connection.source_key
    releases = releases_by_version(application_id, {p.ref for p in pipelines if p.ref})
    facts, reports = [], []
    for pipeline in pipelines:
        started_at, duration_ms = build_timing(pipeline, client.jobs(project, pipeline.id))
        fact = BuildFact(
            application_id=application_id,
            job=project[:200],
            number=pipeline.id,
            result=pipeline.status,
            started_at=started_at,
            duration_ms=duration_ms,
            commit=pipeline.sha[:64],
            url=pipeline.url[:500] if pipeline.url.startswith(("https://", "http://")) else "",
            release_id=releases.get(pipeline.ref),
        )
        facts.append(fact)
        if fact.release_id and not pipeline.running:
            report = client.test_report(project, pipeline.id)
            if report is not None:
                reports.append(
                    TestRunFact(
                        build_external_id=fact.external_id,
                        name=project[:200],
                        passed=report.passed,
                        failed=report.failed,
                        skipped=report.skipped,
                        errors=report.errors,
                        duration_ms=report.duration_ms,
                        executed_at=started_at + timedelta(milliseconds=duration_ms),
                    )
                )

    def store():
        result = builds_upsert(source=source, facts=facts)
        result += testruns_upsert(source=source, facts=reports)
        return result

    upsert_page(context=context, stream=stream, cursor=cursor, fetched=len(pipelines), store=store)


# --- deployments ----------------------------------------------------------------------------------


def _sync_deployments(context: RunContext, client: GitlabClient, project: str, application_id: int):
    stream = f"deployments:{project}"
    for deployments, _, cursor in _watermarked(context, stream, partial(client.deployments, project)):
        facts = _deployment_facts(context.connection, project, application_id, deployments)
        upsert_page(
            context=context,
            stream=stream,
            cursor=cursor,
            fetched=len(deployments),
            store=lambda facts=facts: deployments_upsert(source=context.connection.source_key, facts=facts),
        )


def _deployment_facts(
    connection: Connection, project: str, application_id: int, deployments: list[GitlabDeployment]
) -> list[DeploymentFact]:
    environments = environments_by_name(connection, {d.environment for d in deployments})
    versions = {d.id: (d.ref if d.ref and d.ref != d.sha else d.sha[:12])[:64] for d in deployments}
    releases = releases_by_version(application_id, set(versions.values()) - {""})
    return [
        DeploymentFact(
            external_id=f"{project}#{d.id}",
            application_id=application_id,
            environment_id=environments[d.environment],
            version=versions[d.id],
            release_id=releases.get(versions[d.id]),
            deployed_at=d.finished_at or d.updated_at,
            status=d.status,
        )
        for d in deployments
        if d.environment in environments
    ]


# --- releases -------------------------------------------------------------------------------------


def _sync_releases(context: RunContext, client: GitlabClient, project: str, application_id: int):
    stream = f"releases:{project}"
    for releases, _ in client.releases(project):
        _store_releases(context, stream, project, application_id, releases)


def _store_releases(
    context: RunContext, stream: str, project: str, application_id: int, releases: list[GitlabRelease]
) -> None:
    """Releases dated in the past whose tag names one of the application's releases; the others
    (upcoming, unknown tags) store nothing and count as unchanged."""
    shipped = [
        (r.tag, r.released_at, f"GitLab release {r.tag} of {project}, released {r.released_at.isoformat()}")
        for r in releases
        if r.shipped
    ]
    shipped_releases_store(context, stream, application_id, shipped, fetched=len(releases), cursor={})


# --- reconcile ------------------------------------------------------------------------------------


def _reconcile(context: RunContext, client: GitlabClient, project: str, application_id: int) -> None:
    """Merge requests listed whole (what a pass missed is stored on the way), pipeline and deployment
    ids listed whole; then the rows GitLab no longer has are deleted, one transaction a stream."""
    source = context.connection.source_key
    stream = f"reconcile:{project}"
    remote_merge_requests = set()
    for merge_requests, _ in client.all_merge_requests(project):
        remote_merge_requests |= {f"{project}!{m.iid}" for m in merge_requests}
        facts = _merge_request_facts(project, application_id, merge_requests)
        upsert_page(
            context=context,
            stream=stream,
            cursor={},
            fetched=len(merge_requests),
            store=lambda facts=facts: pull_requests_upsert(source=source, facts=facts),
        )
    remote_deployments = set()
    for deployments, _ in client.all_deployments(project):
        remote_deployments |= {f"{project}#{d.id}" for d in deployments}

    stored = {
        PullRequest: set(
            PullRequest.objects.filter(source=source, repository=project[:200]).values_list(
                "external_id", flat=True
            )
        ),
        Deployment: set(
            Deployment.objects.filter(
                source=source, application_id=application_id, external_id__startswith=f"{project}#"
            ).values_list("external_id", flat=True)
        ),
    }
    remote = {PullRequest: remote_merge_requests, Deployment: remote_deployments}
    missed = {model: stored[model] - remote[model] for model in stored}
    for model, ids in missed.items():
        if stored[model] and len(ids) > MAX_DELETED_SHARE * len(stored[model]):
            raise SyncError(
                f"The reconcile of {project} would delete {len(ids)} of {len(stored[model])} "
                f"{model._meta.verbose_name_plural}: refused. Check that the connection's token can still "
                "read the project."
            )

    # A listing by offset can still miss an item when one before it is deleted meanwhile: each one
    # missed is asked for by itself, and only those GitLab no longer has are deleted.
    gone = {
        PullRequest: {i for i in missed[PullRequest] if not client.still_there(_item_path(project, i))},
        Deployment: {i for i in missed[Deployment] if not client.still_there(_item_path(project, i))},
    }

    def delete() -> UpsertResult:
        result = keyed_facts_delete(PullRequest, source=source, external_ids=gone[PullRequest])
        result += deployments_delete(source=source, external_ids=gone[Deployment])
        return result

    upsert_page(context=context, stream=stream, cursor={}, fetched=0, store=delete)


# --- shared ---------------------------------------------------------------------------------------


def _item_path(project: str, external_id: str) -> str:
    """A stored merge request (`group/project!iid`) or deployment (`group/project#id`) as its API path."""
    if external_id.startswith(f"{project}!"):
        return f"{project_path(project)}/merge_requests/{external_id.removeprefix(f'{project}!')}"
    return f"{project_path(project)}/deployments/{external_id.removeprefix(f'{project}#')}"


def _mappings(connection: Connection) -> dict[str, int]:
    scope = set((connection.scope or {}).get("projects") or ())
    mappings = dict(
        ApplicationMapping.objects.filter(connection=connection).values_list("external_key", "application_id")
    )
    if scope:
        mappings = {project: app for project, app in mappings.items() if project in scope}
    if not mappings:
        raise SyncError(
            f"{connection} maps no GitLab project to an application: add a mapping (group/project → "
            "application) to the connection in the admin."
        )
    return mappings
