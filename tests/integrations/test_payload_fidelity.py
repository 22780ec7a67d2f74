"""Fidelity: every parser reads the recorded third-party payloads in ../shared/payloads.

The rest of the suite reads Flightdeck's own fixtures (tests/fixtures/payloads), written in the
tools' shapes. This module is the check that those shapes are the tools' real ones: it runs every
parser over every recorded file (see its README.md for where each came from) and pins what they
read. CI has the folder beside the clone; a clone with nothing beside it skips this module. This is
the only file in the repository that reads ../shared.
"""

import csv
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from integrations.deliveries import Refused, github_delivery
from integrations.parse.github import (
    deployment_outcome,
    page_meta,
    parse_deployment,
    parse_deployment_status,
    parse_link_header,
    parse_pull_request,
    parse_release,
    retry_after,
)
from integrations.parse.jenkins import parse_build, parse_builds, parse_job, parse_test_report
from integrations.parse.jira import parse_issue, parse_search_page, parse_versions
from integrations.parse.junit import parse_junit
from integrations.sandbox.github import GithubDataset
from releases.models import Build
from tests.conftest import REPO
from tests.integrations.payloads import load_json, payload_files, replay_exchanges


def _recorded_payloads() -> Path | None:
    """../shared/payloads beside the clone, or beside a folder further up (a git worktree)."""
    for folder in REPO.parents:
        if (folder / "shared" / "payloads").is_dir():
            return folder / "shared" / "payloads"
    return None


RECORDED = _recorded_payloads()
if RECORDED is None:
    pytest.skip(
        "no ../shared/payloads beside the clone: the recorded third-party payloads are not checked",
        allow_module_level=True,
    )

NOW = 1_600_000_000.0
CHECKS = {}


def check(tool: str, name: str):
    def register(function):
        CHECKS[f"{tool}/{name}"] = function
        return function

    return register


def load(tool: str, name: str):
    return load_json(tool, name, root=RECORDED)


def replay(name: str):
    return replay_exchanges(RECORDED / "github" / name)


# --- Jira ------------------------------------------------------------------------------------------


@check("jira", "jira_cloud_agile_issue_with_fixVersions_changelog.devlake.json")
def _localised_cloud_issue():
    issue = parse_issue(load("jira", "jira_cloud_agile_issue_with_fixVersions_changelog.devlake.json"))
    assert (issue.key, issue.project_key, issue.status_name) == ("EE-23", "EE", "已完成")
    assert (issue.status_category, issue.type, issue.priority) == ("done", "other", "Medium")
    assert issue.created == datetime(2020, 6, 12, 8, 33, 57, 204000, tzinfo=timezone(timedelta(hours=8)))
    assert issue.resolved.astimezone(UTC) == datetime(2020, 6, 15, 9, 7, 56, 798000, tzinfo=UTC)
    assert issue.fix_version_ids == ("10014",)


@check("jira", "jira_cloud_v3_search_jql_response.atlassian-openapi-example.json")
def _cloud_search_page():
    page = parse_search_page(load("jira", "jira_cloud_v3_search_jql_response.atlassian-openapi-example.json"))
    assert page.next_token is None
    (issue,) = page.issues
    assert (issue.id, issue.key, issue.project_key) == ("10002", "ED-1", "EX")
    assert issue.blocks == issue.blocked_by == ()
    assert issue.updated == datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)


@check("jira", "jira_server_agile_board_issues_with_issuelinks.devlake.json")
def _server_board_issue_links():
    raw_issues = load("jira", "jira_server_agile_board_issues_with_issuelinks.devlake.json")
    issues = {raw["key"]: parse_issue(raw) for raw in raw_issues}
    assert set(issues) == {"DZFNK0168-1", "DZFNK0168-2", "DZFNK0168-5", "DZFNK0168-11"}
    assert issues["DZFNK0168-1"].blocked_by == ("DZFNK0168-5",)
    assert issues["DZFNK0168-5"].blocks == ("DZFNK0168-1",)
    assert issues["DZFNK0168-11"].blocks == issues["DZFNK0168-11"].blocked_by == ()
    one = issues["DZFNK0168-1"]
    assert (one.type, one.status_name, one.status_category, one.priority) == (
        "bug",
        "To Do",
        "todo",
        "Medium",
    )
    assert one.resolved is None
    assert one.created == datetime(2023, 5, 29, 3, 57, 6, tzinfo=UTC)


@check("jira", "jira_server_v2_search_by_fixVersion.sling-committer-cli.json")
def _server_offset_search():
    payload = load("jira", "jira_server_v2_search_by_fixVersion.sling-committer-cli.json")
    page = parse_search_page(payload, start_at=0)
    assert (page.total, page.next_token) == (9, None)
    statuses = {(issue.key, issue.status_name, issue.status_category) for issue in page.issues}
    assert ("SLING-8707", "Resolved", "done") in statuses
    assert ("SLING-8337", "Open", "todo") in statuses


@check("jira", "jira_cloud_v3_project_versions_all.atlassian-openapi-example.json")
def _cloud_versions_by_epoch_ms():
    versions = parse_versions(
        load("jira", "jira_cloud_v3_project_versions_all.atlassian-openapi-example.json")
    )
    assert [(v.id, v.name, v.released) for v in versions] == [
        ("10000", "New Version 1", True),
        ("10010", "Next Version", False),
    ]
    assert versions[0].release_date == date(2010, 7, 6)


@check("jira", "jira_cloud_v3_project_versions_paginated.atlassian-openapi-example.json")
def _cloud_versions_page():
    payload = load("jira", "jira_cloud_v3_project_versions_paginated.atlassian-openapi-example.json")
    versions = parse_versions(payload)
    assert [(v.id, v.name, v.released) for v in versions] == [
        ("10000", "New Version 1", True),
        ("10010", "Next Version", False),
    ]
    assert (versions[0].release_date, versions[1].release_date) == (date(2010, 7, 6), None)


@check("jira", "jira_server_v2_project_ABDERA_with_versions.go-jira.json")
def _server_project_versions():
    versions = parse_versions(load("jira", "jira_server_v2_project_ABDERA_with_versions.go-jira.json"))
    assert (versions[0].id, versions[0].name, versions[0].released) == ("12312506", "0.2.2", True)
    assert versions[0].release_date == date(2007, 2, 19)


# --- Jenkins ---------------------------------------------------------------------------------------


@check("jenkins", "jenkins_job_api_json_with_builds.jenkins-rest.json")
def _job():
    job = parse_job(load("jenkins", "jenkins_job_api_json_with_builds.jenkins-rest.json"))
    assert (job.name, job.url, job.last_build) == ("fish", "http://localhost:32769/job/fish/", 7)


@check("jenkins", "jenkins_build_api_json_with_changeSets.jenkins-rest.json")
def _build_with_change_sets():
    build = parse_build(load("jenkins", "jenkins_build_api_json_with_changeSets.jenkins-rest.json"))
    assert (build.number, build.result, build.running) == (10, "success", False)
    assert build.started_at == datetime(2016, 4, 19, 18, 51, 32, 486000, tzinfo=UTC)
    assert build.duration_ms == 60750
    assert build.commit == "d27afa0805201322d846d7defc29b82c88d9b5ce"
    assert build.url == "http://localhost:32769/job/fish/10/"
    assert build.parameters == (("bear", "True"), ("fish", "salmon"))


@check("jenkins", "jenkins_allBuilds_tree_range_raw.devlake.csv")
def _tree_range_builds():
    with (RECORDED / "jenkins" / "jenkins_allBuilds_tree_range_raw.devlake.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert all("tree=allBuilds" in row["url"] and "%7B0%2C100%7D" in row["url"] for row in rows)
    builds = parse_builds({"allBuilds": [json.loads(row["data"]) for row in rows]})
    assert len(builds) == 14
    assert {b.result for b in builds} <= set(Build.Result.values)
    by_number = {b.number: b for b in builds}
    assert by_number[31].commit == "0f886c74949c3ee7e489188911c7dc0c1d547418"
    assert by_number[11].commit == "ceeffdfdd06bce232f9adb3a656265bad13a8473"
    assert by_number[23].commit == ""
    assert by_number[31].started_at == datetime.fromtimestamp(1650024049.161, tz=UTC)
    assert by_number[31].duration_ms == 1587
    assert by_number[27].running and by_number[10001].running and by_number[10002].running
    assert (by_number[17].result, by_number[10003].result) == ("success", "aborted")
    assert (by_number[10004].result, by_number[10005].result) == ("aborted", "unstable")


@check("jenkins", "jenkins_testReport_api_json.jenkinsapi.json")
def _test_report():
    counts = parse_test_report(load("jenkins", "jenkins_testReport_api_json.jenkinsapi.json"))
    assert (counts.passed, counts.failed, counts.skipped, counts.errors, counts.duration_ms) == (
        0,
        2,
        0,
        0,
        0,
    )


# --- GitHub ----------------------------------------------------------------------------------------


@check("github", "github_list_deployments.pygithub-replay.txt")
def _deployments():
    (exchange,) = replay("github_list_deployments.pygithub-replay.txt")
    deployments = [parse_deployment(d) for d in json.loads(exchange.body)]
    assert len(deployments) == 2
    first = deployments[0]
    assert (first.id, first.environment, first.production) == (263877258, "test", False)
    assert first.sha == first.ref == "743f5a58b0bce91c4eab744ff7e39dfca9e6e8a5"
    assert first.created_at == datetime(2020, 8, 26, 11, 44, 53, tzinfo=UTC)
    assert first.statuses_url.endswith("/deployments/263877258/statuses")
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.etag == 'W/"38512da93238689c49f6a4fab46c4650"'
    assert (meta.next_url, meta.retry_after, meta.not_modified) == ("", None, False)


@check("github", "github_list_deployment_statuses.pygithub-replay.txt")
def _deployment_statuses():
    (exchange,) = replay("github_list_deployment_statuses.pygithub-replay.txt")
    statuses = [parse_deployment_status(s) for s in json.loads(exchange.body)]
    assert len(statuses) == 3
    assert {s.deployment_id for s in statuses} == {263877258}
    assert deployment_outcome(statuses) == "in_progress"  # all "queued"


@check("github", "github_webhook_deployment_status_body.octokit-webhooks.json")
def _webhook_deployment_status():
    body = load("github", "github_webhook_deployment_status_body.octokit-webhooks.json")
    status = parse_deployment_status(body["deployment_status"])
    deployment = parse_deployment(body["deployment"])
    assert (status.deployment_id, status.status) == (deployment.id, "success") == (145988746, "success")


@check("github", "github_webhook_deployment_body.octokit-webhooks.json")
def _webhook_deployment():
    body = load("github", "github_webhook_deployment_body.octokit-webhooks.json")
    assert parse_deployment(body["deployment"]).environment == "production"


@check("github", "github_latest_release.pygithub-replay.txt")
def _latest_release():
    (exchange,) = replay("github_latest_release.pygithub-replay.txt")
    release = parse_release(json.loads(exchange.body))
    assert (release.id, release.tag, release.name) == (28524234, "v1.0", "Test")
    assert release.published_at == datetime(2020, 7, 14, 0, 58, 20, tzinfo=UTC)
    assert release.url == "https://github.com/rickrickston123/RepoTest/releases/tag/v1.0"
    assert release.shipped


@check("github", "github_list_pulls_state_all.devlake.json")
def _pull_requests():
    pulls = {
        p.number: p
        for p in map(parse_pull_request, load("github", "github_list_pulls_state_all.devlake.json"))
    }
    assert set(pulls) == {8, 13}
    assert pulls[8].state == "closed" and pulls[8].merged_at is None
    assert pulls[8].closed_at == datetime(2018, 10, 30, 0, 12, 13, tzinfo=UTC)
    assert (pulls[8].author, pulls[8].head_ref, pulls[8].base_ref) == ("hongli-my", "dev", "master")
    assert pulls[13].state == "merged"
    assert pulls[13].merged_at == pulls[13].closed_at == datetime(2018, 9, 29, 11, 29, 54, tzinfo=UTC)
    assert (pulls[13].head_sha, pulls[13].base_ref) == ("1846b4392a3a20e6bf1a7431b67f86bd43e0f0b9", "master")
    assert pulls[13].url == "https://github.com/panjf2000/ants/pull/13"
    assert pulls[13].milestone == "" and pulls[13].title.startswith("❓")


@check("github", "github_paginate_link_header_etag.octokit-fixtures.json")
def _link_pagination():
    exchanges = load("github", "github_paginate_link_header_etag.octokit-fixtures.json")
    by_path = {e["path"]: e for e in exchanges}
    path, pages = exchanges[0]["path"], []
    while path:
        exchange = by_path[path]
        pages.append(len(exchange["response"]))
        meta = page_meta(exchange["status"], exchange["headers"], now=NOW)
        assert meta.etag == '"00000000000000000000000000000000"'
        path = meta.next_url.removeprefix("https://api.github.com")
    assert pages == [3, 3, 3, 3, 1]


@check("github", "github_check_runs_for_ref.pygithub-replay.txt")
def _check_runs_links():
    first, second = replay("github_check_runs_for_ref.pygithub-replay.txt")
    links = parse_link_header(first.headers["link"])
    assert links["next"].endswith("check-runs?per_page=1&page=2")
    assert links["last"].endswith("check-runs?per_page=1&page=4")
    assert page_meta(second.status, second.headers, now=NOW).next_url == ""
    assert json.loads(second.body)["total_count"] == 4


@check("github", "github_conditional_request_304.pygithub-replay.txt")
def _not_modified():
    (exchange,) = replay("github_conditional_request_304.pygithub-replay.txt")
    assert "If-None-Match" in exchange.request_headers
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.not_modified and meta.retry_after is None
    assert meta.etag == '"8600bedcb7fed1d8065e1693e05529ce"'


@check("github", "github_primary_rate_limit_exceeded_403.pygithub-replay.txt")
def _primary_rate_limit():
    ok, refused = replay("github_primary_rate_limit_exceeded_403.pygithub-replay.txt")
    assert retry_after(ok.status, ok.headers, now=NOW) is None
    assert refused.status == 403 and "Rate Limit Exceeded" in refused.body
    assert retry_after(refused.status, refused.headers, now=NOW) == 60


def _signature_vectors():
    return load("github", "github_webhook_signature_vectors.assembled.json")


@check("github", "github_webhook_signature_vectors.assembled.json")
def _published_signature_vectors():
    for vector in _signature_vectors()[:2]:
        headers = {"X-Hub-Signature-256": vector["X-Hub-Signature-256"]}
        github_delivery(headers, vector["payload"].encode(), vector["secret"])
        with pytest.raises(Refused):
            github_delivery(headers, vector["payload"].encode() + b" ", vector["secret"])


@check("github", "github_webhook_push_body_signed_mysecret.adnanh-webhook.json")
def _signed_push_body():
    vector = _signature_vectors()[2]
    body = (RECORDED / "github" / "github_webhook_push_body_signed_mysecret.adnanh-webhook.json").read_bytes()
    headers = {"X-Hub-Signature-256": vector["X-Hub-Signature-256_computed_by_this_research"]}
    github_delivery(headers, body, vector["secret"])
    with pytest.raises(Refused):
        github_delivery(headers, json.dumps(json.loads(body)).encode(), vector["secret"])


def test_the_sandbox_answers_in_the_recorded_shapes():
    """Every key the sandbox sends is one the recorded GitHub answers have, and the parsers read it."""
    dataset = GithubDataset(repos={"acme/pay": 1}, pulls={"acme/pay": 3})
    dataset.publish("acme/pay", "v4.2", at=datetime(2026, 1, 9, tzinfo=UTC))
    (recorded_pull, _) = load("github", "github_list_pulls_state_all.devlake.json")
    (recorded_release,) = replay("github_latest_release.pygithub-replay.txt")
    pull = dataset.pull("acme/pay", 2, "http://sandbox")
    (release,) = dataset.release_list("acme/pay", "http://sandbox")
    assert set(pull) <= set(recorded_pull)
    assert set(release) <= set(json.loads(recorded_release.body))
    assert parse_pull_request(pull).state == "merged"
    assert parse_release(release).shipped


# --- JUnit -----------------------------------------------------------------------------------------

# file -> (passed, failed, skipped, errors, flaky, duration_ms, name)
JUNIT = {
    # JUnit 3 (2009): errors with stack traces, no classname attribute.
    "junit3_errors_stacktraces_2009.junit-plugin.xml": (5, 0, 0, 3, 0, 14398, ""),
    # Three levels of suites; an <error> of a suite that has no test case; the root claims tests="186".
    "nested_testsuites.junit-plugin.xml": (2, 0, 0, 1, 0, 4486, "Automated Tests"),
    "pytest_failure.junitparser.xml": (0, 1, 0, 0, 0, 39, "pytest"),
    # Surefire 3 says failures="2", but both were flaky failures of a test that then passed.
    "surefire_3_flaky_reruns.junit-plugin.xml": (1, 0, 0, 0, 1, 46, "io.olamy.FlakyTest"),
    # Ant-style aggregate of two suites: the duration is the sum of both.
    "testsuites_two_suites.junit-plugin.xml": (3, 0, 0, 0, 0, 123, ""),
}


def _junit_check(name: str):
    def run():
        report = parse_junit((RECORDED / "junit" / name).read_bytes())
        got = (report.passed, report.failed, report.skipped, report.errors, report.flaky, report.duration_ms)
        assert (*got, report.name) == JUNIT[name]

    return run


for _name in JUNIT:
    check("junit", _name)(_junit_check(_name))


# --- every file, every parser (after the registrations above) -------------------------------------


def test_every_recorded_payload_is_checked():
    recorded = {
        f"{tool}/{p.name}"
        for tool in ("jira", "jenkins", "github", "junit")
        for p in payload_files(tool, RECORDED)
    }
    assert recorded == set(CHECKS)


@pytest.mark.parametrize("payload", sorted(CHECKS))
def test_recorded_payload(payload):
    CHECKS[payload]()
