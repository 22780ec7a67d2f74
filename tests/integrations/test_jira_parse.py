"""Every Jira payload in tests/fixtures/payloads/jira parses; status categories, never localised
status names, decide whether a work item is done."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from integrations.http import BadPayload
from integrations.parse.jira import parse_issue, parse_search_page, parse_versions
from tests.integrations.payloads import load_json, payload_files


def load(name: str):
    return load_json("jira", name)


def test_every_jira_payload_is_covered_here():
    covered = {
        "cloud_agile_issue_localised.json",
        "cloud_project_versions_all.json",
        "cloud_project_versions_page.json",
        "cloud_search_jql_last_page.json",
        "server_board_issues_links.json",
        "server_project_with_versions.json",
        "server_search_by_fixVersion.json",
    }
    assert {path.name for path in payload_files("jira")} == covered


def test_a_localised_cloud_issue_maps_through_its_status_category():
    issue = parse_issue(load("cloud_agile_issue_localised.json"))
    assert issue.key == "PAY-205"
    assert issue.project_key == "PAY"
    assert issue.status_name == "完了"
    assert issue.status_category == "done"  # from statusCategory.key "done", not from the name
    assert issue.type == "other"  # "バグ" is not a name Flightdeck guesses at
    assert issue.priority == "Medium"
    assert issue.created == datetime(2025, 3, 4, 9, 15, 30, 250000, tzinfo=timezone(timedelta(hours=9)))
    assert issue.resolved.astimezone(UTC) == datetime(2025, 3, 6, 9, 45, 0, 500000, tzinfo=UTC)
    assert issue.fix_version_ids == ("20031",)


def test_cloud_search_page_is_the_last_and_reads_dependent_links_as_not_blocking():
    page = parse_search_page(load("cloud_search_jql_last_page.json"))
    assert page.next_token is None  # isLast, and no startAt or total on a Cloud page
    (issue,) = page.issues
    # A moved issue keeps its key; its project is the one it is in now.
    assert (issue.id, issue.key, issue.project_key) == ("30017", "PAY-117", "LEDG")
    assert issue.blocks == issue.blocked_by == ()  # "Dependent" links are not "blocks"
    assert issue.updated == datetime(2026, 1, 1, 9, 0, 0, 123000, tzinfo=UTC)  # epoch milliseconds


def test_cloud_search_page_with_a_token_has_a_next_page():
    page = parse_search_page({"issues": [], "nextPageToken": "abc", "isLast": False})
    assert page.next_token == "abc"


def test_server_board_issues_read_blocks_in_both_directions():
    issues = {raw["key"]: parse_issue(raw) for raw in load("server_board_issues_links.json")}
    assert set(issues) == {"LEDG-1", "LEDG-2", "LEDG-5", "LEDG-9"}
    assert issues["LEDG-1"].blocked_by == ("LEDG-5",)
    assert issues["LEDG-5"].blocks == ("LEDG-1",)
    assert issues["LEDG-2"].blocks == ("LEDG-22",)  # an issue outside this page
    assert issues["LEDG-9"].blocks == issues["LEDG-9"].blocked_by == ()  # clones, duplicates
    one = issues["LEDG-1"]
    assert (one.type, one.status_name, one.status_category, one.priority) == (
        "bug",
        "To Do",
        "todo",
        "Medium",
    )
    assert one.resolved is None
    assert one.created == datetime(2025, 5, 12, 7, 30, 5, tzinfo=UTC)


def test_server_offset_search_reads_the_page_the_server_chose():
    payload = load("server_search_by_fixVersion.json")
    page = parse_search_page(payload, start_at=0)
    assert page.total == 6
    assert page.next_token is None  # all 6 on this page
    statuses = {(issue.key, issue.status_name, issue.status_category) for issue in page.issues}
    # No status category in this old payload: the resolution decides, never the status name.
    assert statuses == {
        ("PAY-88", "Resolved", "done"),
        ("PAY-79", "Closed", "done"),  # resolved as "Won't Do": done all the same
        ("PAY-74", "In Progress", "todo"),
        ("PAY-70", "Resolved", "done"),
        ("PAY-70", "Reopened", "todo"),  # the same issue twice on one page: both are read
        ("PAY-61", "Open", "todo"),
    }


def test_a_server_page_shorter_than_total_continues_with_an_overlap():
    issues = [{"id": str(i), "key": f"A-{i}", "fields": {}} for i in range(50)]
    page = parse_search_page({"startAt": 100, "maxResults": 50, "total": 400, "issues": issues}, start_at=100)
    assert page.next_token == "145"  # 100 + 50 read, 5 read again in case an issue was deleted


@pytest.mark.parametrize(
    ("name", "count", "first"),
    [
        ("cloud_project_versions_all.json", 2, ("20030", "4.1.0")),
        ("cloud_project_versions_page.json", 2, ("20030", "4.1.0")),
        ("server_project_with_versions.json", 3, ("11001", "1.0.0")),
    ],
)
def test_version_payloads_parse(name, count, first):
    versions = parse_versions(load(name))
    assert (versions[0].id, versions[0].name) == first
    assert len(versions) == count
    assert versions[0].released is True


def test_version_dates_come_as_days_or_epoch_milliseconds():
    by_day = parse_versions(load("cloud_project_versions_page.json"))
    by_ms = parse_versions(load("cloud_project_versions_all.json"))
    assert by_day[0].release_date == by_ms[0].release_date == date(2025, 3, 14)
    assert by_day[1].release_date is by_ms[1].release_date is None
    ledger = parse_versions(load("server_project_with_versions.json"))
    assert ledger[0].release_date == date(2019, 2, 19)
    assert (ledger[0].archived, ledger[2].released, ledger[2].release_date) == (True, False, None)


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


def test_the_parent_and_labels_are_read():
    raw = {
        "id": "1",
        "key": "PAY-2",
        "fields": {"summary": "x", "parent": {"key": "PAY-1"}, "labels": ["instant-payments", "q4"]},
    }
    issue = parse_issue(raw)
    assert (issue.parent_key, issue.labels) == ("PAY-1", "instant-payments q4")
    bare = parse_issue({"id": "2", "key": "PAY-3", "fields": {"summary": "y"}})
    assert (bare.parent_key, bare.labels) == ("", "")
