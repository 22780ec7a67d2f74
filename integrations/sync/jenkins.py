"""Jenkins → Flightdeck: builds (result, times, commit, release) and their test reports.

Incremental by build number. A job's cursor keeps the highest build number stored and the builds
that were still running then; a pass reads builds newest first in `{M,N}` ranges until it reaches
the watermark, re-reads each build that was running, and moves the cursor only with its last page,
so a pass cut short is simply done again (re-read builds change nothing). Builds started during a
pass push older ones to later offsets: a page may repeat a build, never skip one.

A build is made for a release when its parameter named by the connection's scope
(`version_parameter`, default VERSION) holds that release's version; only such builds' test
reports become test runs (a test run belongs to a release). A build without a report is a 404.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from integrations.clients.jenkins import JenkinsClient
from integrations.http import SyncError
from integrations.models import ApplicationMapping, Connection
from integrations.parse.jenkins import JenkinsBuild
from integrations.sync.base import RunContext, cursor_get, upsert_page
from releases.facts.services.upserts import BuildFact, TestRunFact, builds_upsert, testruns_upsert
from releases.models import Release

PAGE_SIZE = 100
DEFAULT_VERSION_PARAMETER = "VERSION"


@dataclass(frozen=True)
class JobPass:
    job: str
    application_id: int
    stream: str
    done: int  # every build up to this number is stored, except those in `running`
    running: frozenset[int]
    version_parameter: str


def jenkins_sync(*, context: RunContext, client: JenkinsClient, mode: str = "incremental") -> None:
    """Every mapped job; `mode` is the runner's: builds are never deleted, so a reconcile is a pass."""
    connection = context.connection
    version_parameter = (connection.scope or {}).get("version_parameter", DEFAULT_VERSION_PARAMETER)
    for job, application_id in _mappings(connection).items():
        cursor = cursor_get(connection, f"builds:{job}")
        job_pass = JobPass(
            job=job,
            application_id=application_id,
            stream=f"builds:{job}",
            done=int(cursor.watermark or 0),
            running=frozenset(json.loads(cursor.page_token or "[]")),
            version_parameter=version_parameter,
        )
        _sync_job(context, client, job_pass)


def jenkins_connection_test(*, connection: Connection, client: JenkinsClient) -> str:
    """One readable line, or a SyncError saying what is wrong."""
    jobs = [f"{job} (last build #{client.job(job).last_build or '-'})" for job in _mappings(connection)]
    return f"Connected to {connection.base_url}; readable: {', '.join(jobs)}."


def _sync_job(context: RunContext, client: JenkinsClient, job_pass: JobPass) -> None:
    """Store each page as it comes; the last one also carries the job's new cursor."""
    done, running = job_pass.done, set()
    for page, last in _pages(client, job_pass, newest=client.job(job_pass.job).last_build or 0):
        done = max([done, *(build.number for build in page)])
        running |= {build.number for build in page if build.running}
        cursor = {"watermark": str(done), "page_token": json.dumps(sorted(running))} if last else {}
        _store(context, client, job_pass, page, cursor)


def _pages(client: JenkinsClient, job_pass: JobPass, *, newest: int) -> Iterator[tuple[list, bool]]:
    """(builds to store, whether it is the last page): the builds newer than the watermark, newest
    first by range, then those that were running and are older than the ranges read."""
    recheck = set(job_pass.running)
    start, reached = 0, newest <= job_pass.done
    while not reached:
        page = client.builds(job_pass.job, start, start + PAGE_SIZE)
        reached = len(page) < PAGE_SIZE or any(b.number <= job_pass.done for b in page)
        wanted = [b for b in page if b.number > job_pass.done or b.number in recheck]
        recheck -= {b.number for b in wanted}
        if wanted or (reached and not recheck):
            yield wanted, reached and not recheck
        start += PAGE_SIZE
    if recheck:
        yield [client.build(job_pass.job, number) for number in sorted(recheck)], True


def _store(context: RunContext, client: JenkinsClient, job_pass: JobPass, builds, cursor: dict) -> None:
    """The page's builds, and the test reports of the finished ones made for a release (fetched
    before the transaction: no network inside it)."""
    source = context.connection.source_key
    releases = _releases(job_pass, builds)
    facts = [_build_fact(job_pass, build, releases.get(_version(job_pass, build))) for build in builds]
    reports = [
        _test_run_fact(job_pass, build, report)
        for build, fact in zip(builds, facts, strict=True)
        if fact.release_id
        and not build.running
        and (report := client.test_report(job_pass.job, build.number)) is not None
    ]

    def store():
        result = builds_upsert(source=source, facts=facts)
        result += testruns_upsert(source=source, facts=reports)
        return result

    upsert_page(context=context, stream=job_pass.stream, cursor=cursor, fetched=len(builds), store=store)


def _version(job_pass: JobPass, build: JenkinsBuild) -> str:
    return dict(build.parameters).get(job_pass.version_parameter, "")


def _releases(job_pass: JobPass, builds) -> dict[str, int]:
    versions = {_version(job_pass, build) for build in builds} - {""}
    if not versions:
        return {}
    return dict(
        Release.objects.filter(application_id=job_pass.application_id, version__in=versions).values_list(
            "version", "pk"
        )
    )


def _build_fact(job_pass: JobPass, build: JenkinsBuild, release_id: int | None) -> BuildFact:
    return BuildFact(
        application_id=job_pass.application_id,
        job=job_pass.job,
        number=build.number,
        result=build.result,
        started_at=build.started_at,
        duration_ms=build.duration_ms,
        commit=build.commit[:64],
        url=build.url[:500],
        release_id=release_id,
    )


def _test_run_fact(job_pass: JobPass, build: JenkinsBuild, report) -> TestRunFact:
    return TestRunFact(
        build_external_id=f"{job_pass.job}#{build.number}",
        name=job_pass.job[:200],  # one suite a job: its newest report is what the QA gate reads
        passed=report.passed,
        failed=report.failed,
        skipped=report.skipped,
        errors=report.errors,
        duration_ms=report.duration_ms,
        executed_at=build.started_at + timedelta(milliseconds=build.duration_ms),
    )


def _mappings(connection: Connection) -> dict[str, int]:
    scope = set((connection.scope or {}).get("jobs") or ())
    mappings = dict(
        ApplicationMapping.objects.filter(connection=connection).values_list("external_key", "application_id")
    )
    if scope:
        mappings = {job: app for job, app in mappings.items() if job in scope}
    if not mappings:
        raise SyncError(
            f"{connection} maps no Jenkins job to an application: add a mapping (job, e.g. "
            '"folder/payments-ci" → application) to the connection in the admin.'
        )
    return mappings
