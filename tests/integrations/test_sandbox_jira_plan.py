"""The sandbox's Jira from a plan: exactly the versions and issue counts the plan names, served by the
same routes as the generated dataset; without a Jira section, the generated dataset unchanged."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.plan import PlanError, PlannedJiraDataset, jira_from_plan

BASE = "http://sandbox.test"
FROM, UNTIL = "2026-09-01T08:00:00+00:00", "2026-09-01T08:16:00+00:00"
PLAN = {
    "jira": {
        "created_from": FROM,
        "created_until": UNTIL,
        "projects": {
            "MOBILE": [
                {
                    "id": "40001",
                    "name": "2.18.5",
                    "description": "Security patch",
                    "released": False,
                    "startDate": "2026-12-23",
                    "releaseDate": "2027-01-06",
                    "issues": {"todo": 1, "in_progress": 2, "done": 3},
                },
                {
                    "id": "40000",
                    "name": "2.18.4",
                    "released": True,
                    "releaseDate": "2026-10-14",
                    "issues": {"done": 2},
                },
            ],
            "PORTAL": [{"id": "40002", "name": "2026.11", "issues": {"todo": 2}}],
        },
    }
}


def search(routes: JiraRoutes, jql: str, **query) -> list[dict]:
    status, body = routes.answer(
        "/rest/api/3/search/jql", {"jql": jql, "fields": "*all", "maxResults": "100", **query}, BASE
    )
    assert status == 200 and body["isLast"]
    return body["issues"]


def test_without_a_jira_section_the_generated_dataset_answers_as_before():
    options = {"issues": 30, "projects": ("MOBILE", "PORTAL"), "time_zone": "Europe/Berlin"}
    for plan in ({}, {"jenkins": {"mob-ci": []}}, {"jira": {}}, {"jira": {"projects": {}}}):
        planned, generated = JiraRoutes(jira_from_plan(plan, **options)), JiraRoutes(JiraDataset(**options))
        assert type(planned.dataset) is JiraDataset
        for project in options["projects"]:
            path = f"/rest/api/3/project/{project}/versions"
            assert planned.answer(path, {}, BASE) == generated.answer(path, {}, BASE)
        assert search(planned, "project = PORTAL") == search(generated, "project = PORTAL")


def test_the_plan_names_every_version_and_counts_every_issue():
    routes = JiraRoutes(jira_from_plan(PLAN, time_zone="Europe/Berlin"))
    assert routes.dataset.time_zone == "Europe/Berlin"
    _, versions = routes.answer("/rest/api/3/project/MOBILE/versions", {}, BASE)
    assert [(v["id"], v["name"], v["released"], v.get("releaseDate")) for v in versions] == [
        ("40001", "2.18.5", False, "2027-01-06"),
        ("40000", "2.18.4", True, "2026-10-14"),
    ]
    assert versions[0]["startDate"] == "2026-12-23" and versions[0]["description"] == "Security patch"
    _, portal = routes.answer("/rest/api/3/project/PORTAL/versions", {}, BASE)
    assert "releaseDate" not in portal[0] and "startDate" not in portal[0]  # as Jira: no date, no key
    status, _ = routes.answer("/rest/api/3/project/PAY/versions", {}, BASE)
    assert status == 404  # the generated default project is not there

    issues = search(routes, 'project in ("MOBILE", "PORTAL")')
    assert len(issues) == 10
    by_version = {}
    for issue in issues:
        fields = issue["fields"]
        (version,) = fields["fixVersions"]
        by_version.setdefault(version["name"], []).append(fields["status"]["statusCategory"]["key"])
        assert fields["project"]["key"] == issue["key"].split("-")[0]
        assert (fields["resolutiondate"] is not None) == (fields["status"]["statusCategory"]["key"] == "done")
    assert by_version == {
        "2.18.4": ["done"] * 2,  # the older version's issues come first, done before open
        "2.18.5": ["done"] * 3 + ["indeterminate"] * 2 + ["new"],
        "2026.11": ["new"] * 2,
    }
    assert [i["key"] for i in issues if i["key"].startswith("MOBILE")] == [f"MOBILE-{n}" for n in range(1, 9)]
    created = [issue["fields"]["created"] for issue in issues]
    assert created == sorted(created)
    assert created[0] == "2026-09-01T08:00:00.000+0000" and created[-1] < "2026-09-01T08:16:00.000+0000"


def test_an_incremental_search_sees_only_the_issues_updated_since():
    dataset = jira_from_plan(PLAN, time_zone="UTC")
    routes = JiraRoutes(dataset)
    since = datetime.fromisoformat(FROM) + dataset.issue_step * 7 + timedelta(hours=1)  # issue 7's update
    wall = since.strftime("%Y/%m/%d %H:%M")
    later = search(routes, f'project in ("MOBILE", "PORTAL") AND updated >= "{wall}"')
    assert [issue["id"] for issue in later] == [dataset.issue_id(i) for i in (7, 8, 9)]


def test_edits_and_new_issues_work_on_a_planned_dataset():
    dataset = jira_from_plan(PLAN)
    assert isinstance(dataset, PlannedJiraDataset)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    dataset.edit(0, at=at, status=0, fix_versions=["40001"])
    dataset.edit_version("40001", released=True)
    (new,) = dataset.add(1, at=at)
    fields = dataset.issue_fields(0, BASE)
    assert fields["status"]["statusCategory"]["key"] == "new"
    assert fields["fixVersions"][0]["released"] is True
    assert dataset.key(new) not in {dataset.key(i) for i in range(new)}  # numbered past the plan


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda jira: jira.pop("created_from"), "a Jira version in the plan is malformed"),
        (lambda jira: jira["projects"]["PORTAL"][0].pop("id"), "a Jira version in the plan is malformed"),
        (
            lambda jira: jira["projects"]["PORTAL"][0].update(issues={"todo": -1}),
            "negative issue count",
        ),
        (lambda jira: jira["projects"]["PORTAL"][0].update(id="40000"), "two Jira versions the same id"),
        (lambda jira: jira.update(created_until=FROM), "created_until before created_from"),
        (
            lambda jira: jira["projects"]["PORTAL"][0].update(releaseDate="next week"),
            "a Jira version in the plan is malformed",
        ),
    ],
)
def test_a_bad_jira_plan_says_what_is_wrong(change, message):
    jira = {
        **PLAN["jira"],
        "projects": {key: [dict(v) for v in vs] for key, vs in PLAN["jira"]["projects"].items()},
    }
    change(jira)
    with pytest.raises(PlanError, match=message):
        jira_from_plan({"jira": jira})
