"""GitHub → Flightdeck, per mapped repository, three passes with a cursor each:

- `deployments:{repo}`: deployments and their statuses become deployments (what runs where).
  Incremental by deployment id, like Jenkins by build number: the cursor keeps the highest
  deployment id stored, the ids whose outcome was still open (queued, pending, in progress), and the
  ETag of the first page. The pass follows `Link: rel="next"` until it reaches the watermark, re-reads
  the open deployments, and moves the cursor with its last page.
- `pulls:{repo}`: pull requests (`state=all`, most recently updated first) become pull requests,
  incremental by an `updated_at` watermark: paging stops at the first page reaching back past it
  (less a small overlap, for changes in the same second as the last pass).
- `releases:{repo}`: a published GitHub release (not a draft, not a prerelease) whose tag names a
  release of the application marks it released on the day it was published, once.

Every pass asks for its first page with `If-None-Match`: a 304 (nothing changed, and free against the
rate limit) ends it. A reconcile re-reads pull requests and releases whole, without the watermark or
ETag (a release created after its pull requests were read gets them then).

A deployment is stored when its environment is one of Flightdeck's (by name, or through the scope's
`environments` map, e.g. {"production": "prod"}); its version is the ref (a tag or branch), or the
commit when the ref is one. A deployment's version, a pull request's milestone title and a GitHub
release's tag name the release of that version ("v4.2" also matches "4.2").
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.clients.github import GithubClient
from integrations.http import SyncError
from integrations.models import ApplicationMapping, Connection
from integrations.parse.github import GithubDeployment, GithubPullRequest, GithubRelease
from integrations.sync.base import RunContext, cursor_get, upsert_page
from releases.facts.services.code_host import (
    PullRequestFact,
    ShippedFact,
    pull_requests_upsert,
    releases_shipped_apply,
)
from releases.facts.services.upserts import DeploymentFact, deployments_upsert
from releases.models import Environment, Release

OPEN = "in_progress"
RECONCILE = "reconcile"
# Pull requests updated this long before the watermark are read again: GitHub's times have whole
# seconds, and a change in the second the last pass read may not have been listed yet.
PULLS_OVERLAP = timedelta(minutes=2)


@dataclass(frozen=True)
class RepoPass:
    repo: str
    application_id: int
    stream: str
    done: int  # every deployment up to this id is stored, except those in `open_ids`
    open_ids: frozenset[int]
    etag: str


@dataclass(frozen=True)
class Outcome:
    deployment: GithubDeployment
    status: str
    deployed_at: datetime


def github_sync(*, context: RunContext, client: GithubClient, mode: str = "incremental") -> None:
    """Every mapped repository's three streams. Nothing GitHub holds here is deleted, so a reconcile
    sweeps nothing: it re-reads pull requests and releases whole (deployments as a normal pass)."""
    connection = context.connection
    for repo, application_id in _mappings(connection).items():
        cursor = cursor_get(connection, f"deployments:{repo}")
        repo_pass = RepoPass(
            repo=repo,
            application_id=application_id,
            stream=f"deployments:{repo}",
            done=int(cursor.watermark or 0),
            open_ids=frozenset(json.loads(cursor.page_token or "[]")),
            etag=cursor.etag,
        )
        _sync_repo(context, client, repo_pass)
        _sync_pulls(context, client, repo, application_id, full=mode == RECONCILE)
        _sync_releases(context, client, repo, application_id, full=mode == RECONCILE)


def github_connection_test(*, connection: Connection, client: GithubClient) -> str:
    readable = []
    for repo in _mappings(connection):
        deployments, _ = next(client.deployments(repo))
        readable.append(f"{repo} ({'deployments' if deployments else 'no deployments yet'})")
    return f"Connected to {connection.base_url}; readable: {', '.join(readable)}."


def _sync_repo(context: RunContext, client: GithubClient, repo_pass: RepoPass) -> None:
    done, still_open = repo_pass.done, set()
    for page in _pages(client, repo_pass):
        outcomes = [_outcome(client, repo_pass.repo, deployment) for deployment in page.deployments]
        done = max([done, *(o.deployment.id for o in outcomes)])
        still_open |= {o.deployment.id for o in outcomes if o.status == OPEN}
        cursor = {"watermark": str(done), "page_token": json.dumps(sorted(still_open)), "etag": page.etag}
        _store(context, repo_pass, outcomes, cursor if page.last else {})


@dataclass(frozen=True)
class Page:
    deployments: list[GithubDeployment]
    last: bool
    etag: str  # the first page's, carried by the last page into the cursor


def _pages(client: GithubClient, repo_pass: RepoPass) -> Iterator[Page]:
    """The deployments to store: newer than the watermark (newest first, by `Link`), then the open
    ones older than the pages read. Nothing when the first page is unchanged (304)."""
    recheck, first_etag = set(repo_pass.open_ids), None
    for page, meta in client.deployments(repo_pass.repo, etag=repo_pass.etag):
        if meta.not_modified:
            return
        first_etag = meta.etag if first_etag is None else first_etag
        reached = not meta.next_url or any(d.id <= repo_pass.done for d in page)
        wanted = [d for d in page if d.id > repo_pass.done or d.id in recheck]
        recheck -= {d.id for d in wanted}
        last = reached and not recheck
        if wanted or last:
            yield Page(wanted, last, first_etag if last else "")
        if reached:
            break
    if recheck:
        yield Page([client.deployment(repo_pass.repo, d) for d in sorted(recheck)], True, first_etag or "")


def _outcome(client: GithubClient, repo: str, deployment: GithubDeployment) -> Outcome:
    status = client.newest_status(repo, deployment.id)
    if status is None:
        return Outcome(deployment, OPEN, deployment.created_at)
    return Outcome(deployment, status.status, status.created_at)


def _store(context: RunContext, repo_pass: RepoPass, outcomes: list[Outcome], cursor: dict) -> None:
    connection = context.connection
    environments = environments_by_name(connection, {o.deployment.environment for o in outcomes})
    versions = {o.deployment.id: _version(o.deployment) for o in outcomes}
    releases = releases_by_version(repo_pass.application_id, set(versions.values()))
    facts = [
        DeploymentFact(
            external_id=f"{repo_pass.repo}#{o.deployment.id}",
            application_id=repo_pass.application_id,
            environment_id=environments[o.deployment.environment],
            version=versions[o.deployment.id],
            release_id=releases.get(versions[o.deployment.id]),
            deployed_at=o.deployed_at,
            status=o.status,
        )
        for o in outcomes
        if o.deployment.environment in environments
    ]
    upsert_page(
        context=context,
        stream=repo_pass.stream,
        cursor=cursor,
        fetched=len(outcomes),
        store=lambda: deployments_upsert(source=connection.source_key, facts=facts),
    )


# --- pull requests ---------------------------------------------------------------------------------


def _sync_pulls(context: RunContext, client: GithubClient, repo: str, application_id: int, *, full: bool):
    """Pages of the most recently updated pull requests, down to the watermark less the overlap; the
    cursor (newest update seen, first page's ETag) moves with the last page read."""
    stream = f"pulls:{repo}"
    cursor = cursor_get(context.connection, stream)
    newest = None if full or not cursor.watermark else datetime.fromisoformat(cursor.watermark)
    since = newest - PULLS_OVERLAP if newest else None
    first_etag = None
    for pulls, meta in client.pulls(repo, etag="" if full else cursor.etag):
        if meta.not_modified:
            return
        first_etag = meta.etag if first_etag is None else first_etag
        wanted = [p for p in pulls if since is None or p.updated_at >= since]
        reached = not meta.next_url or len(wanted) < len(pulls)  # sorted: the rest are older still
        newest = max([p.updated_at for p in wanted] + ([newest] if newest else []), default=None)
        last_cursor = {"watermark": newest.isoformat() if newest else "", "etag": first_etag}
        _store_pulls(context, stream, repo, application_id, wanted, last_cursor if reached else {})
        if reached:
            return


def _store_pulls(
    context: RunContext, stream: str, repo: str, application_id: int, pulls: list[GithubPullRequest], cursor
) -> None:
    releases = releases_by_version(application_id, {p.milestone for p in pulls if p.milestone})
    facts = [
        PullRequestFact(
            external_id=f"{repo}#{p.number}",
            application_id=application_id,
            repository=repo,
            number=p.number,
            title=p.title[:500],
            state=p.state,
            author=p.author[:100],
            base_ref=p.base_ref[:255],
            head_ref=p.head_ref[:255],
            created_at=p.created_at,
            updated_at=p.updated_at,
            merged_at=p.merged_at,
            closed_at=p.closed_at,
            release_id=releases.get(p.milestone),
            url=p.url[:500] if p.url.startswith(("https://", "http://")) else "",
        )
        for p in pulls
    ]
    upsert_page(
        context=context,
        stream=stream,
        cursor=cursor,
        fetched=len(pulls),
        store=lambda: pull_requests_upsert(source=context.connection.source_key, facts=facts),
    )


# --- releases ---------------------------------------------------------------------------------------


def _sync_releases(context: RunContext, client: GithubClient, repo: str, application_id: int, *, full: bool):
    """Every page of the repository's releases (few: no watermark); the first page's ETag goes into
    the cursor with the last page."""
    stream = f"releases:{repo}"
    etag = "" if full else cursor_get(context.connection, stream).etag
    first_etag = None
    for releases, meta in client.releases(repo, etag=etag):
        if meta.not_modified:
            return
        first_etag = meta.etag if first_etag is None else first_etag
        _store_releases(
            context, stream, repo, application_id, releases, {} if meta.next_url else {"etag": first_etag}
        )


def _store_releases(
    context: RunContext, stream: str, repo: str, application_id: int, releases: list[GithubRelease], cursor
) -> None:
    """Published releases whose tag names one of the application's releases; the others (drafts,
    prereleases, unknown tags) store nothing and count as unchanged."""
    shipped = [
        (r.tag, r.published_at, f"GitHub release {r.tag} of {repo}, published {r.published_at.isoformat()}")
        for r in releases
        if r.shipped
    ]
    shipped_releases_store(context, stream, application_id, shipped, fetched=len(releases), cursor=cursor)


def shipped_releases_store(
    context: RunContext,
    stream: str,
    application_id: int,
    shipped: list[tuple[str, datetime, str]],
    *,
    fetched: int,
    cursor: dict,
) -> None:
    """A code host's shipped releases, (tag, when, evidence) each: those whose tag names one of the
    application's releases mark it released; every other one fetched counts as unchanged."""
    matched = releases_by_version(application_id, {tag for tag, _, _ in shipped})
    facts = [
        ShippedFact(release_id=matched[tag], shipped_at=at, evidence=evidence)
        for tag, at, evidence in shipped
        if tag in matched
    ]

    def store():
        result = releases_shipped_apply(facts=facts)
        result.unchanged += fetched - len(facts)
        return result

    upsert_page(context=context, stream=stream, cursor=cursor, fetched=fetched, store=store)


# --- shared -----------------------------------------------------------------------------------------


def _version(deployment: GithubDeployment) -> str:
    ref = deployment.ref
    return (ref if ref and ref != deployment.sha else deployment.sha[:12])[:64]


def releases_by_version(application_id: int, versions: set[str]) -> dict[str, int]:
    """Release ids by version as the tool names it (a deployed ref, a milestone, a tag): "v4.2" names
    release 4.2 when there is no release v4.2."""
    candidates = versions | {v.removeprefix("v") for v in versions}
    stored = dict(
        Release.objects.filter(application_id=application_id, version__in=candidates).values_list(
            "version", "pk"
        )
    )
    found = {v: stored.get(v) or stored.get(v.removeprefix("v")) for v in versions}
    return {version: pk for version, pk in found.items() if pk}


def environments_by_name(connection: Connection, names: set[str]) -> dict[str, int]:
    """Flightdeck environment ids by GitHub environment name; unknown environments are left out."""
    renames = (connection.scope or {}).get("environments") or {}
    wanted = {name: renames.get(name, name) for name in names}
    ids = dict(Environment.objects.filter(name__in=set(wanted.values())).values_list("name", "pk"))
    return {name: ids[target] for name, target in wanted.items() if target in ids}


def _mappings(connection: Connection) -> dict[str, int]:
    scope = set((connection.scope or {}).get("repos") or ())
    mappings = dict(
        ApplicationMapping.objects.filter(connection=connection).values_list("external_key", "application_id")
    )
    if scope:
        mappings = {repo: app for repo, app in mappings.items() if repo in scope}
    if not mappings:
        raise SyncError(
            f"{connection} maps no GitHub repository to an application: add a mapping (owner/repo → "
            "application) to the connection in the admin."
        )
    return mappings
