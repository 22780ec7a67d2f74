"""The GitLab parsers, on payloads written in the shape GitLab's REST API v4 documents (made-up values)."""

from datetime import UTC, datetime

import httpx
import pytest

from integrations.parse import ParseError
from integrations.parse.gitlab import (
    GitlabJob,
    build_timing,
    page_meta,
    parse_deployment,
    parse_job,
    parse_merge_request,
    parse_pipeline,
    parse_release,
    parse_test_report,
)

MERGE_REQUEST = {
    "id": 84,
    "iid": 14,
    "project_id": 3,
    "title": "Faster checkout",
    "state": "merged",
    "created_at": "2026-01-04T10:12:44.932Z",
    "updated_at": "2026-01-05T09:00:01.000Z",
    "merged_at": "2026-01-05T08:59:59.000Z",
    "closed_at": None,
    "target_branch": "main",
    "source_branch": "feature/checkout",
    "author": {"id": 1, "username": "alice", "name": "Alice"},
    "milestone": {"id": 5, "iid": 1, "title": "4.2", "state": "active"},
    "web_url": "https://gitlab.example/acme/payments/-/merge_requests/14",
}
PIPELINE = {
    "id": 47,
    "iid": 12,
    "project_id": 3,
    "status": "success",
    "source": "push",
    "ref": "v4.2",
    "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
    "web_url": "https://gitlab.example/acme/payments/-/pipelines/47",
    "created_at": "2026-01-05T10:00:00.000Z",
    "updated_at": "2026-01-05T10:20:00.000Z",
}
TEST_REPORT = {
    "total_time": 5.26,
    "total_count": 7,
    "success_count": 4,
    "failed_count": 1,
    "skipped_count": 1,
    "error_count": 1,
    "test_suites": [],
}
DEPLOYMENT = {
    "id": 42,
    "iid": 2,
    "ref": "v4.2",
    "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
    "status": "success",
    "created_at": "2026-01-05T11:00:00.000Z",
    "updated_at": "2026-01-05T11:05:00.000Z",
    "environment": {"id": 9, "name": "production", "external_url": "https://pay.example"},
    "deployable": {"id": 14, "status": "success", "finished_at": "2026-01-05T11:04:30.000Z"},
}
RELEASE = {
    "tag_name": "v4.2",
    "name": "Release 4.2",
    "created_at": "2026-01-31T12:00:00.000Z",
    "released_at": "2026-02-01T12:00:00.000Z",
    "upcoming_release": False,
    "_links": {"self": "https://gitlab.example/acme/payments/-/releases/v4.2"},
}


def test_a_merge_request_becomes_a_pull_request_shape():
    merged = parse_merge_request(MERGE_REQUEST)
    assert (merged.iid, merged.state, merged.milestone, merged.author) == (14, "merged", "4.2", "alice")
    assert merged.merged_at == datetime(2026, 1, 5, 8, 59, 59, tzinfo=UTC)
    assert merged.closed_at == merged.merged_at  # GitLab leaves closed_at empty on a merge
    opened = parse_merge_request(MERGE_REQUEST | {"state": "opened", "merged_at": None, "milestone": None})
    assert (opened.state, opened.merged_at, opened.closed_at, opened.milestone) == ("open", None, None, "")
    closed = parse_merge_request(MERGE_REQUEST | {"state": "closed", "closed_at": "2026-01-06T00:00:00Z"})
    assert (closed.state, closed.merged_at, closed.closed_at.day) == ("closed", None, 6)
    assert parse_merge_request(MERGE_REQUEST | {"state": "locked"}).state == "open"


@pytest.mark.parametrize(
    ("status", "result"),
    [
        ("success", "success"),
        ("failed", "failure"),
        ("canceled", "aborted"),
        ("running", "running"),
        ("manual", "running"),
    ],
)
def test_a_pipeline_status_becomes_a_build_result(status, result):
    pipeline = parse_pipeline(PIPELINE | {"status": status})
    assert (pipeline.id, pipeline.ref, pipeline.status) == (47, "v4.2", result)


def test_a_pipeline_is_timed_by_its_jobs():
    pipeline = parse_pipeline(PIPELINE)
    jobs = [
        parse_job(
            {
                "id": 1,
                "name": "build",
                "status": "success",
                "started_at": "2026-01-05T10:01:00Z",
                "finished_at": "2026-01-05T10:06:00Z",
            }
        ),
        parse_job(
            {
                "id": 2,
                "name": "test",
                "status": "success",
                "started_at": "2026-01-05T10:07:00Z",
                "finished_at": "2026-01-05T10:15:00Z",
            }
        ),
    ]
    assert build_timing(pipeline, jobs) == (datetime(2026, 1, 5, 10, 1, tzinfo=UTC), 14 * 60 * 1000)
    running = [GitlabJob(3, "test", "running", datetime(2026, 1, 5, 10, 2, tzinfo=UTC), None)]
    assert build_timing(pipeline, running) == (datetime(2026, 1, 5, 10, 2, tzinfo=UTC), 0)
    assert build_timing(pipeline, []) == (pipeline.created_at, 0)


def test_a_test_report_is_read_from_its_totals():
    report = parse_test_report(TEST_REPORT)
    assert (report.passed, report.failed, report.skipped, report.errors, report.duration_ms) == (
        4,
        1,
        1,
        1,
        5260,
    )
    assert (
        parse_test_report(
            TEST_REPORT
            | {"total_time": 0, "success_count": 0, "failed_count": 0, "skipped_count": 0, "error_count": 0}
        ).total
        == 0
    )


def test_a_deployment_and_a_release():
    deployment = parse_deployment(DEPLOYMENT)
    assert (deployment.environment, deployment.status, deployment.ref) == ("production", "success", "v4.2")
    assert deployment.finished_at == datetime(2026, 1, 5, 11, 4, 30, tzinfo=UTC)
    assert parse_deployment(DEPLOYMENT | {"status": "blocked"}).status == "in_progress"
    release = parse_release(RELEASE)
    assert (release.tag, release.shipped) == ("v4.2", True)
    assert not parse_release(RELEASE | {"upcoming_release": True}).shipped


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (parse_merge_request, MERGE_REQUEST | {"state": "reopened-ish"}),
        (parse_pipeline, PIPELINE | {"status": "exploded"}),
        (parse_deployment, {k: v for k, v in DEPLOYMENT.items() if k != "environment"}),
        (parse_release, {"name": "no tag"}),
        (parse_merge_request, MERGE_REQUEST | {"updated_at": "yesterday"}),
    ],
)
def test_an_unexpected_payload_is_a_readable_parse_error(parse, payload):
    with pytest.raises(ParseError, match="GitLab"):
        parse(payload)


def test_the_next_page_comes_from_the_link_header():
    url = "https://gitlab.example/api/v4/projects/3/merge_requests"
    link = f'<{url}?cursor=eyJpZCI6IjQyIn0&pagination=keyset>; rel="next"'
    assert page_meta(200, httpx.Headers({"Link": link})).next_url.endswith(
        "cursor=eyJpZCI6IjQyIn0&pagination=keyset"
    )
    assert page_meta(200, httpx.Headers({})).next_url == ""
