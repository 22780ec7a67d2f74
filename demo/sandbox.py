"""The tool sandbox's plan: Jira's versions, and what Jenkins, GitHub and GitLab did the day before the
anchor.

The sandbox (integrations/sandbox/plan.py) never imports Django, so it cannot read the seed itself:
`dev.py run` asks sandbox_plan() here, writes the answer to a JSON file and starts the sandbox with
`--plan FILE`. The plan is read from the database, so it matches the seed this instance holds.
"""

from datetime import date, timedelta

from django.db.models import Count, F, Q

from demo.catalogue import SANDBOX_GITLAB_PROJECTS, SANDBOX_JOBS, SANDBOX_PROJECTS, SANDBOX_REPOS
from demo.generation.world import utc_at
from demo.seeding import demo_seed_summary
from releases.models import Application, Release

OPEN_RELEASES_PER_APPLICATION = 8
# Each open release's CI builds that day: (hour, result, failed tests). The first one broke before
# its tests ran (no report); failed tests would fail the QA gates of releases the seed has passed.
SANDBOX_BUILDS = ((8, "FAILURE", None), (12, "SUCCESS", 0), (16, "SUCCESS", 0))
# Where each open release was deployed that evening (GitHub environment names).
SANDBOX_DEPLOY_TO = {
    "in_progress": ("integration",),
    "code_freeze": ("integration", "uat"),
    "ready": ("uat", "staging"),
}


def sandbox_plan() -> dict:
    """The sandbox's Jira versions, Jenkins builds, GitHub deployments and GitLab projects
    (integrations/sandbox/plan.py, integrations/sandbox/gitlab.py gitlab_from_plan), made of the seeded
    releases: each mapped application's next open releases were built three times (GitLab: one
    pipeline each) and deployed as far as their status allows, on the day before the anchor; its Jira
    project lists its recent and open releases as versions (see _planned_jira). Read from the database, so it
    matches the seed this instance holds; the same seed gives the same plan."""
    summary = demo_seed_summary()
    if summary is None:
        return {"jira": {}, "jenkins": {}, "github": {}, "gitlab": {}}
    anchor = date.fromisoformat(summary["anchor"])
    keys = set(SANDBOX_JOBS.values()) | set(SANDBOX_REPOS.values()) | set(SANDBOX_GITLAB_PROJECTS.values())
    releases = _next_open_releases(keys)
    day = anchor - timedelta(days=1)
    return {
        "jira": _planned_jira(anchor),
        "jenkins": {
            job: _planned_builds(releases[app], day) for job, app in SANDBOX_JOBS.items() if app in releases
        },
        "github": {
            repo: _planned_deployments(releases[app], day)
            for repo, app in SANDBOX_REPOS.items()
            if app in releases
        },
        "gitlab": {
            project: {
                "versions": [version for version, _status in releases[app]],
                "deployments": _planned_deployments(releases[app], day),
                "day": day.isoformat(),
            }
            for project, app in SANDBOX_GITLAB_PROJECTS.items()
            if app in releases
        },
    }


# Jira lists the releases under way (what the Jenkins builds and GitHub deployments are for) and
# those shipped in the last weeks. Planned ones are left out: a synced release gets its gates at
# once, and the scope gate of work not yet started fails, which reads as a problem that is not one.
JIRA_RELEASED_DAYS = 90  # as far back as the seed gives shipped releases gates
JIRA_ISSUES_FROM_DAYS = 90  # issues were created over the weeks before the anchor
# An open release's share of issues (todo, in progress) when the seed has open work for it; the rest
# is done. Without open seeded work its issues are all done: the seed's scope gate passed, and a sync
# must not fail it. Without any seeded work (too far ahead) its version is empty: the gate waits.
JIRA_OPEN_SHARE = {"in_progress": (0.3, 0.3), "code_freeze": (0.0, 0.2), "ready": (0.0, 0.0)}


def _planned_jira(anchor: date) -> dict:
    """Each mapped project's versions: the application's releases as Jira knows them, with the
    seed's version, summary and dates, so the sync adopts each (same version, no external id) and
    changes neither its dates nor its status. A shipped version's one date is its target: only
    releases that shipped on their target are listed (Jira would move a late one's target)."""
    apps = {key: project for project, key in SANDBOX_PROJECTS.items()}
    rows = (
        Release.objects.filter(application__key__in=apps)
        .filter(
            Q(status__in=list(SANDBOX_DEPLOY_TO))
            | Q(
                status="released",
                actual_date=F("target_date"),
                target_date__gte=anchor - timedelta(days=JIRA_RELEASED_DAYS),
            )
        )
        .annotate(
            in_scope=Count("work_items", filter=Q(work_items__descoped=False)),
            open_items=Count("work_items", filter=_OPEN_WORK),
        )
        .order_by("application__key", "target_date", "version")
        .values_list(
            "application__key", "version", "summary", "status", "target_date", "in_scope", "open_items"
        )
    )
    projects: dict[str, list[dict]] = {}
    for n, (key, version, summary, status, target, in_scope, open_items) in enumerate(rows):
        versions = projects.setdefault(apps[key], [])
        versions.append(
            {
                "id": str(40000 + n),
                "name": version,
                "description": summary,
                "released": status == "released",
                "archived": False,
                "startDate": (target - timedelta(days=14)).isoformat(),
                "releaseDate": target.isoformat(),
                "issues": _planned_issues(version, status, in_scope, open_items),
            }
        )
    return {
        "created_from": utc_at(anchor - timedelta(days=JIRA_ISSUES_FROM_DAYS), 8).isoformat(),
        "created_until": utc_at(anchor - timedelta(days=1), 18).isoformat(),
        "projects": projects,
    }


_OPEN_WORK = Q(work_items__descoped=False) & ~Q(work_items__status_category="done")


def _planned_issues(version: str, status: str, in_scope: int, open_items: int) -> dict[str, int]:
    if not in_scope and status != "released":
        return {"todo": 0, "in_progress": 0, "done": 0}
    total = 4 + sum(map(ord, version)) % 6  # 4 to 9, the same for the same version
    todo_share, in_progress_share = JIRA_OPEN_SHARE.get(status, (0.0, 0.0)) if open_items else (0.0, 0.0)
    todo, in_progress = round(total * todo_share), round(total * in_progress_share)
    return {"todo": todo, "in_progress": in_progress, "done": total - todo - in_progress}


def _next_open_releases(keys: set[str]) -> dict[str, list[tuple[str, str]]]:
    """(version, status) of each application's first open releases in target order (late ones
    first); every application of this scale has a list, perhaps empty."""
    found = {key: [] for key in Application.objects.filter(key__in=keys).values_list("key", flat=True)}
    open_releases = Release.objects.filter(application__key__in=keys, status__in=list(SANDBOX_DEPLOY_TO))
    rows = open_releases.order_by("target_date", "version").values_list(
        "application__key", "version", "status"
    )
    for key, version, status in rows:
        if len(found[key]) < OPEN_RELEASES_PER_APPLICATION:
            found[key].append((version, status))
    return found


def _planned_builds(releases: list[tuple[str, str]], day: date) -> list[dict]:
    builds = [
        {
            "version": version,
            "started_at": (utc_at(day, hour) + timedelta(minutes=5 * n)).isoformat(),
            "result": result,
            "failed": failed,
        }
        for n, (version, _status) in enumerate(releases)
        for hour, result, failed in SANDBOX_BUILDS
    ]
    return sorted(builds, key=lambda build: build["started_at"])  # numbered in time order


def _planned_deployments(releases: list[tuple[str, str]], day: date) -> list[dict]:
    targets = [(version, env) for version, status in releases for env in SANDBOX_DEPLOY_TO[status]]
    return [
        {
            "ref": version,  # the tag; the release page finds deployments by exact version
            "environment": env,
            "created_at": (utc_at(day, 17) + timedelta(minutes=10 * n)).isoformat(),
            "state": "success",
        }
        for n, (version, env) in enumerate(targets)
    ]
