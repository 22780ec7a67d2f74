"""The GitLab sandbox read by the real python-gitlab library: a project by its path, its merge
requests, pipelines and their jobs and test report, deployments and releases, each page followed as
python-gitlab follows GitLab's offset pages (a keyset request refused, as GitLab refuses it for these
lists), and PRIVATE-TOKEN checked."""

from datetime import UTC, datetime

import gitlab
import pytest

from integrations.sandbox.gitlab import GitlabDataset, GitlabRoutes

PROJECT = "acme/payments"


@pytest.fixture
def server(serve):
    dataset = GitlabDataset(merge_requests={PROJECT: 130}, pipelines={PROJECT: 25}, deployments={PROJECT: 9})
    dataset.publish(PROJECT, "v4.2", at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    return serve(GitlabRoutes(dataset))


def client(server, token=None) -> gitlab.Gitlab:
    return gitlab.Gitlab(
        server.url, private_token=token or server.routes.dataset.token, retry_transient_errors=False
    )


def test_python_gitlab_reads_a_project_and_its_merge_requests(server):
    project = client(server).projects.get(PROJECT)
    assert (project.id, project.path_with_namespace) == (100, PROJECT)

    everything = project.mergerequests.list(state="all", order_by="updated_at", sort="asc", get_all=True)
    assert [mr.iid for mr in everything] == list(range(1, 131))
    assert len(server.requests_to("/merge_requests")) == 7  # 20 a page, GitLab's default
    merged = next(mr for mr in everything if mr.iid == 2)
    assert (merged.state, merged.milestone["title"], merged.author["username"]) == ("merged", "4.2", "dev2")
    assert merged.merged_at == "2026-01-05T12:30:00.000Z"

    opened = project.mergerequests.list(state="opened", get_all=True)
    assert sorted(mr.iid for mr in opened) == [n for n in range(1, 131) if n % 3 == 0 and n % 7]

    # As GitLab: merge requests have offset pages only, and a keyset request is refused.
    refused = "405: Keyset pagination is not yet available"
    with pytest.raises(gitlab.exceptions.GitlabListError, match=refused):
        project.mergerequests.list(pagination="keyset", order_by="updated_at", per_page=50, get_all=True)


def test_python_gitlab_reads_pipelines_jobs_test_reports_deployments_and_releases(server):
    project = client(server).projects.get(PROJECT)

    pipelines = project.pipelines.list(get_all=True)
    assert [p.id for p in pipelines] == list(range(10025, 10000, -1))  # newest first by default
    failed = project.pipelines.get(10006)
    assert (failed.status, failed.ref) == ("failed", "v4.2")
    assert [(j.name, j.status) for j in failed.jobs.list(get_all=True)] == [
        ("test", "failed"),
        ("build", "success"),
    ]
    report = failed.test_report.get()
    assert (report.total_count, report.success_count, report.failed_count, report.skipped_count) == (
        44,
        41,
        1,
        2,
    )

    deployments = project.deployments.list(order_by="updated_at", sort="asc", get_all=True)
    assert [(d.iid, d.environment["name"], d.status) for d in deployments][:2] == [
        (1, "production", "success"),
        (2, "staging", "success"),
    ]
    assert [d.iid for d in deployments if d.status == "failed"] == [6]

    releases = project.releases.list(get_all=True)
    assert [(r.tag_name, r.released_at, r.upcoming_release) for r in releases] == [
        ("v4.2", "2026-02-01T12:00:00.000Z", False)
    ]


def test_python_gitlab_with_a_wrong_token_gets_gitlabs_401(server):
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError) as refused:
        client(server, token="wrong").projects.get(PROJECT)
    assert refused.value.response_code == 401
    assert refused.value.error_message == "401 Unauthorized"
