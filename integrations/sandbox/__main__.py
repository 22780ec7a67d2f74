"""Run the tool sandbox until interrupted: Jira (Cloud and Data Center), Jenkins, GitHub and GitLab,
each on its own port, in one process. One line per tool says where it answers, Jira's first; each line
ends with the URL (dev.py and bench/sync.py read it there).

.venv/bin/python -m integrations.sandbox --port 8765 --issues 5000 --projects PAY,WEB
    Jira on 8765, Jenkins on 8766, GitHub on 8767, GitLab on 8768 (--jenkins-port, --github-port and
    --gitlab-port change them)
.venv/bin/python -m integrations.sandbox --port 0
    every tool on a free port
.venv/bin/python -m integrations.sandbox --plan var/sandbox-plan.json
    Jira versions and issues, Jenkins builds and GitHub deployments of the demo's releases (see
    plan.py; dev.py writes it); a plan with Jira versions replaces --issues and --projects

With FLIGHTDECK_SANDBOX_SECRET set in its environment, every tool refuses (401) any request that does
not carry that secret as its token, and proves that it knows it at /_sandbox/proof (see proof.py;
dev.py sets a new one each run). Without it, the datasets' fixed test tokens apply.
"""

import argparse
import os
import signal

from integrations.sandbox.github import GithubRoutes
from integrations.sandbox.gitlab import GitlabDataset, GitlabRoutes, gitlab_from_plan
from integrations.sandbox.jenkins import JenkinsRoutes
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.plan import (
    PlanError,
    github_from_plan,
    jenkins_from_plan,
    jira_from_plan,
    plan_load,
)
from integrations.sandbox.proof import SECRET_ENV
from integrations.sandbox.server import SandboxServer


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="Jira's port (0: a free one)")
    parser.add_argument("--jenkins-port", type=int, help="default: --port + 1 (0 when --port is 0)")
    parser.add_argument("--github-port", type=int, help="default: --port + 2 (0 when --port is 0)")
    parser.add_argument("--gitlab-port", type=int, help="default: --port + 3 (0 when --port is 0)")
    parser.add_argument(
        "--merge-requests", type=int, default=200, help="generated GitLab merge requests a project"
    )
    parser.add_argument("--gitlab-projects", default="acme/payments", help="comma-separated GitLab projects")
    parser.add_argument("--issues", type=int, default=2000, help="generated issues (up to 100,000)")
    parser.add_argument("--projects", default="PAY", help="comma-separated Jira project keys")
    parser.add_argument("--time-zone", default="Europe/Berlin", help="the API user's time zone")
    parser.add_argument(
        "--plan", help="a JSON file naming the Jira versions, Jenkins builds and GitHub deployments"
    )
    options = parser.parse_args()
    for name, offset in (("jenkins_port", 1), ("github_port", 2), ("gitlab_port", 3)):
        if getattr(options, name) is None:
            setattr(options, name, options.port + offset if options.port else 0)
    try:
        plan = plan_load(options.plan) if options.plan else {}
        options.jira = jira_from_plan(
            plan,
            issues=options.issues,
            projects=tuple(options.projects.split(",")),
            time_zone=options.time_zone,
        )
        options.jenkins, options.github = jenkins_from_plan(plan), github_from_plan(plan)
        projects = [project for project in options.gitlab_projects.split(",") if project]
        options.gitlab = (
            gitlab_from_plan(plan)
            if plan.get("gitlab")
            else GitlabDataset(merge_requests=dict.fromkeys(projects, options.merge_requests))
        )
    except PlanError as exc:
        parser.error(str(exc))
    return options


def start_servers(options: argparse.Namespace) -> list[SandboxServer]:
    """Jira, Jenkins, GitHub, GitLab, started and announced in that order; stopped again if one cannot
    bind."""
    jobs, repos = ", ".join(options.jenkins.jobs) or "none", ", ".join(options.github.repos) or "none"
    projects = ", ".join(options.jira.projects)
    tools = [
        (
            f"Jira sandbox (projects {projects}; Cloud /rest/api/3, Data Center /rest/api/2)",
            JiraRoutes(options.jira),
            options.port,
        ),
        (f"Jenkins sandbox (jobs {jobs})", JenkinsRoutes(options.jenkins), options.jenkins_port),
        (f"GitHub sandbox (repositories {repos})", GithubRoutes(options.github), options.github_port),
        (
            f"GitLab sandbox (projects {', '.join(options.gitlab.projects) or 'none'}; /api/v4)",
            GitlabRoutes(options.gitlab),
            options.gitlab_port,
        ),
    ]
    servers, secret = [], os.environ.get(SECRET_ENV) or None
    try:
        for label, routes, port in tools:
            servers.append(SandboxServer(routes, host=options.host, port=port, secret=secret).start())
            print(f"{label} on {servers[-1].url}", flush=True)
    except OSError as exc:
        for server in servers:
            server.stop()
        raise SystemExit(f"sandbox: cannot listen on {options.host}:{port}: {exc.strerror}") from exc
    return servers


def main() -> None:
    options = parse_options()
    servers = start_servers(options)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    for server in servers:
        server.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
