"""The Jenkins parsers read every recorded Jenkins payload in ../shared/payloads/jenkins."""

import csv
import json
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
from tests.integrations.payloads import PAYLOADS, load_json, payload_files

JENKINS = PAYLOADS / "jenkins"


def test_every_jenkins_payload_is_covered_here():
    assert {p.name for p in payload_files("jenkins")} == {
        "jenkins_allBuilds_tree_range_raw.devlake.csv",
        "jenkins_build_api_json_with_changeSets.jenkins-rest.json",
        "jenkins_job_api_json_with_builds.jenkins-rest.json",
        "jenkins_testReport_api_json.jenkinsapi.json",
    }


def test_job_gives_the_newest_build_number():
    job = parse_job(load_json("jenkins", "jenkins_job_api_json_with_builds.jenkins-rest.json"))
    assert (job.name, job.url, job.last_build) == ("fish", "http://localhost:32769/job/fish/", 7)


def test_build_with_change_sets_gives_commit_result_and_times():
    build = parse_build(load_json("jenkins", "jenkins_build_api_json_with_changeSets.jenkins-rest.json"))
    assert build.number == 10
    assert build.result == "success"
    assert not build.running
    assert build.started_at == datetime(2016, 4, 19, 18, 51, 32, 486000, tzinfo=UTC)
    assert build.duration_ms == 60750
    assert build.commit == "d27afa0805201322d846d7defc29b82c88d9b5ce"
    assert build.url == "http://localhost:32769/job/fish/10/"
    assert build.parameters == (("bear", "True"), ("fish", "salmon"))


def _tree_range_cells() -> list[dict]:
    with (JENKINS / "jenkins_allBuilds_tree_range_raw.devlake.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert all("tree=allBuilds" in row["url"] and "%7B0%2C100%7D" in row["url"] for row in rows)
    return [json.loads(row["data"]) for row in rows]


def test_every_tree_range_cell_parses_to_a_domain_result():
    builds = parse_builds({"allBuilds": _tree_range_cells()})
    assert len(builds) == 14
    assert {b.result for b in builds} <= set(Build.Result.values)
    by_number = {b.number: b for b in builds}
    assert by_number[31].commit == "0f886c74949c3ee7e489188911c7dc0c1d547418"  # lastBuiltRevision
    assert by_number[11].commit == "ceeffdfdd06bce232f9adb3a656265bad13a8473"
    assert by_number[23].commit == ""  # no git data on this build
    assert by_number[31].started_at == datetime.fromtimestamp(1650024049.161, tz=UTC)
    assert by_number[31].duration_ms == 1587


def test_results_and_running_builds():
    by_number = {b.number: b for b in parse_builds({"allBuilds": _tree_range_cells()})}
    # "building": true wins over a result: the build is re-checked until it finishes.
    assert by_number[27].running and by_number[10001].running and by_number[10002].running
    assert (by_number[17].result, by_number[10003].result) == ("success", "aborted")
    assert (by_number[10004].result, by_number[10005].result) == ("aborted", "unstable")
    assert parse_build({"number": 5, "timestamp": 0, "result": None}).running


def test_unknown_result_and_missing_fields_are_readable_errors():
    with pytest.raises(ParseError, match=r"build #4 has an unknown result 'WEIRD'"):
        parse_build({"number": 4, "timestamp": 0, "result": "WEIRD"})
    with pytest.raises(ParseError, match="build #4 has no 'timestamp'"):
        parse_build({"number": 4})
    with pytest.raises(ParseError, match="job has no 'builds'"):
        parse_builds({"name": "fish"})


def test_test_report_counts():
    counts = parse_test_report(load_json("jenkins", "jenkins_testReport_api_json.jenkinsapi.json"))
    assert (counts.passed, counts.failed, counts.skipped, counts.errors) == (0, 2, 0, 0)
    assert counts.duration_ms == 0
    aggregated = parse_test_report({"failCount": 1, "skipCount": 2, "totalCount": 10, "duration": 1.25})
    assert (aggregated.passed, aggregated.duration_ms) == (7, 1250)


def test_builds_tree_is_a_bounded_range():
    tree = builds_tree(0, 100)
    assert tree.startswith("allBuilds[number,") and tree.endswith("]{0,100}")
