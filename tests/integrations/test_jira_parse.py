"""Every recorded Jira payload in ../shared/payloads/jira parses; status categories, never localised
status names, decide whether a work item is done."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from integrations.http import BadPayload
from integrations.parse.jira import parse_issue, parse_search_page, parse_versions
from tests.conftest import REPO

PAYLOADS = REPO.parent / "shared" / "payloads" / "jira"


def load(name: str):
    return json.loads((PAYLOADS / name).read_text())


def test_every_jira_payload_is_covered_here():
    covered = {
        "jira_cloud_agile_issue_with_fixVersions_changelog.devlake.json",
        "jira_cloud_v3_project_versions_all.atlassian-openapi-example.json",
        "jira_cloud_v3_project_versions_paginated.atlassian-openapi-example.json",
        "jira_cloud_v3_search_jql_response.atlassian-openapi-example.json",
        "jira_server_agile_board_issues_with_issuelinks.devlake.json",
        "jira_server_v2_project_ABDERA_with_versions.go-jira.json",
        "jira_server_v2_search_by_fixVersion.sling-committer-cli.json",
    }
    assert {path.name for path in PAYLOADS.glob("*.json")} == covered


def test_a_localised_cloud_issue_maps_through_its_status_category():
    issue = parse_issue(load("jira_cloud_agile_issue_with_fixVersions_changelog.devlake.json"))
    assert issue.key == "EE-23"
    assert issue.project_key == "EE"
    assert issue.status_name == "已完成"
    assert issue.status_category == "done"  # from statusCategory.key "done", not from the name
    assert issue.type == "other"  # "缺陷" is not a name Flightdeck guesses at
    assert issue.priority == "Medium"
    assert issue.created == datetime(2020, 6, 12, 8, 33, 57, 204000, tzinfo=timezone(timedelta(hours=8)))
    assert issue.resolved.astimezone(UTC) == datetime(2020, 6, 15, 9, 7, 56, 798000, tzinfo=UTC)
    assert issue.fix_version_ids == ("10014",)


def test_cloud_search_page_is_the_last_and_reads_dependent_links_as_not_blocking():
    page = parse_search_page(load("jira_cloud_v3_search_jql_response.atlassian-openapi-example.json"))
    assert page.next_token is None
    (issue,) = page.issues
    assert (issue.id, issue.key, issue.project_key) == ("10002", "ED-1", "EX")
    assert issue.blocks == issue.blocked_by == ()  # "Dependent" links are not "blocks"
    assert issue.updated == datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)  # the example's epoch ms


def test_cloud_search_page_with_a_token_has_a_next_page():
    page = parse_search_page({"issues": [], "nextPageToken": "abc", "isLast": False})
    assert page.next_token == "abc"


def test_server_board_issues_read_blocks_in_both_directions():
    issues = {
        raw["key"]: parse_issue(raw)
        for raw in load("jira_server_agile_board_issues_with_issuelinks.devlake.json")
    }
    assert set(issues) == {"DZFNK0168-1", "DZFNK0168-2", "DZFNK0168-5", "DZFNK0168-11"}
    assert issues["DZFNK0168-1"].blocked_by == ("DZFNK0168-5",)
    assert issues["DZFNK0168-5"].blocks == ("DZFNK0168-1",)
    assert issues["DZFNK0168-11"].blocks == issues["DZFNK0168-11"].blocked_by == ()  # clones, duplicates
    one = issues["DZFNK0168-1"]
    assert (one.type, one.status_name, one.status_category, one.priority) == (
        "bug",
        "To Do",
        "todo",
        "Medium",
    )
    assert one.resolved is None
    assert one.created == datetime(2023, 5, 29, 3, 57, 6, tzinfo=UTC)


def test_server_offset_search_reads_the_page_the_server_chose():
    payload = load("jira_server_v2_search_by_fixVersion.sling-committer-cli.json")
    page = parse_search_page(payload, start_at=0)
    assert page.total == 9
    assert page.next_token is None  # all 9 on this page
    statuses = {(issue.key, issue.status_name, issue.status_category) for issue in page.issues}
    # No status category in this old payload: the resolution decides, never the status name.
    assert ("SLING-8707", "Resolved", "done") in statuses
    assert ("SLING-8337", "Open", "todo") in statuses


def test_a_server_page_shorter_than_total_continues_with_an_overlap():
    issues = [{"id": str(i), "key": f"A-{i}", "fields": {}} for i in range(50)]
    page = parse_search_page({"startAt": 100, "maxResults": 50, "total": 400, "issues": issues}, start_at=100)
    assert page.next_token == "145"  # 100 + 50 read, 5 read again in case an issue was deleted


@pytest.mark.parametrize(
    ("name", "count", "first"),
    [
        ("jira_cloud_v3_project_versions_all.atlassian-openapi-example.json", 2, ("10000", "New Version 1")),
        (
            "jira_cloud_v3_project_versions_paginated.atlassian-openapi-example.json",
            2,
            ("10000", "New Version 1"),
        ),
        ("jira_server_v2_project_ABDERA_with_versions.go-jira.json", None, ("12312506", "0.2.2")),
    ],
)
def test_version_payloads_parse(name, count, first):
    versions = parse_versions(load(name))
    assert (versions[0].id, versions[0].name) == first
    assert count is None or len(versions) == count
    assert versions[0].released is True


def test_version_dates_come_as_days_or_epoch_milliseconds():
    by_day = parse_versions(load("jira_cloud_v3_project_versions_paginated.atlassian-openapi-example.json"))
    by_ms = parse_versions(load("jira_cloud_v3_project_versions_all.atlassian-openapi-example.json"))
    assert by_day[0].release_date == by_ms[0].release_date == date(2010, 7, 6)
    assert by_day[1].release_date is None
    abdera = parse_versions(load("jira_server_v2_project_ABDERA_with_versions.go-jira.json"))
    assert abdera[0].release_date == date(2007, 2, 19)


@pytest.mark.parametrize(
    "payload",
    [
        {"total": 3},
        {"issues": [{"fields": {}}]},
        {"issues": [{"id": "1", "key": "A-1", "fields": {"created": "yday"}}]},
    ],
    ids=["no-issues", "issue-without-key", "unreadable-date"],
)
def test_malformed_search_pages_raise_a_readable_bad_payload(payload):
    with pytest.raises(BadPayload, match="Jira"):
        parse_search_page(payload)
