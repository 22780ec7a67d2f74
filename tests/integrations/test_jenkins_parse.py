"""The Jenkins parsers read every Jenkins payload in tests/fixtures/payloads/jenkins."""

from datetime import UTC, datetime

import pytest

from integrations.parse import ParseError
from integrations.parse.jenkins import (
    builds_tree,
    parse_build,
    parse_builds,
    parse_job,
    parse_test_report,
)
from releases.models import Build
from tests.integrations.payloads import load_json, payload_files


def test_every_jenkins_payload_is_covered_here():
    assert {p.name for p in payload_files("jenkins")} == {
        "allBuilds_tree_range.json",
        "build_with_changeSets.json",
        "job_with_builds.json",
        "testReport.json",
    }


def test_job_gives_the_newest_build_number():
    job = parse_job(load_json("jenkins", "job_with_builds.json"))
    assert (job.name, job.url, job.last_build) == (
        "payments-build",
        "http://127.0.0.1:8080/job/payments-build/",
        42,
    )


def test_build_with_change_sets_gives_commit_result_and_times():
    build = parse_build(load_json("jenkins", "build_with_changeSets.json"))
    assert build.number == 42
    assert build.result == "success"
    assert not build.running
    assert build.started_at == datetime(2025, 6, 3, 14, 5, 9, 731000, tzinfo=UTC)
    assert build.duration_ms == 95125
    assert build.commit == "9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c"  # the last of two change set items
    assert build.url == "http://127.0.0.1:8080/job/payments-build/42/"
    assert build.parameters == (("DEPLOY", "True"), ("TARGET", "uat"))


def _tree_range_answer() -> dict:
    exchange = load_json("jenkins", "allBuilds_tree_range.json")
    assert "tree=allBuilds" in exchange["url"] and exchange["url"].endswith("%7B0%2C100%7D")
    return exchange["body"]


def test_every_build_of_a_tree_range_answer_parses_to_a_domain_result():
    builds = parse_builds(_tree_range_answer())
    assert len(builds) == 9
    assert {b.result for b in builds} <= set(Build.Result.values)
    by_number = {b.number: b for b in builds}
    assert by_number[130].commit == "3c5e7a9b1d2f4e6a8c0b2d4f6e8a0c1e3b5d7f90"  # lastBuiltRevision
    assert by_number[129].commit == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"  # and no changeSet at all
    assert by_number[122].commit == ""  # no git data on this build
    assert by_number[130].started_at == datetime.fromtimestamp(1748855564.161, tz=UTC)
    assert by_number[130].duration_ms == 1587


def test_results_and_running_builds():
    by_number = {b.number: b for b in parse_builds(_tree_range_answer())}
    # "building": true wins over a result: the build is re-checked until it finishes.
    assert by_number[128].running and by_number[127].running
    assert (by_number[126].result, by_number[125].result) == ("success", "aborted")
    assert (by_number[124].result, by_number[123].result) == ("aborted", "unstable")  # NOT_BUILD
    assert parse_build({"number": 5, "timestamp": 0, "result": None}).running


def test_unknown_result_and_missing_fields_are_readable_errors():
    with pytest.raises(ParseError, match=r"build #4 has an unknown result 'WEIRD'"):
        parse_build({"number": 4, "timestamp": 0, "result": "WEIRD"})
    with pytest.raises(ParseError, match="build #4 has no 'timestamp'"):
        parse_build({"number": 4})
    with pytest.raises(ParseError, match="job has no 'builds'"):
        parse_builds({"name": "fish"})


def test_test_report_counts():
    counts = parse_test_report(load_json("jenkins", "testReport.json"))
    # Jenkins counts a FIXED case as passed and a REGRESSION as failed.
    assert (counts.passed, counts.failed, counts.skipped, counts.errors) == (3, 1, 1, 0)
    assert counts.duration_ms == 2500
    aggregated = parse_test_report({"failCount": 1, "skipCount": 2, "totalCount": 10, "duration": 1.25})
    assert (aggregated.passed, aggregated.duration_ms) == (7, 1250)


def test_builds_tree_is_a_bounded_range():
    tree = builds_tree(0, 100)
    assert tree.startswith("allBuilds[number,") and tree.endswith("]{0,100}")
