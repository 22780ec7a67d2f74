"""Jenkins: a job's newest build number, its builds by `tree=` range, one build, a test report.

Every request names its fields with `tree=`; builds come in `{M,N}` ranges, newest first. A job in
folders is written "folder/job" and asked for at /job/folder/job/job.
"""

from urllib.parse import quote

from integrations.http import BadPayload, RequestBudget, ToolClient
from integrations.parse import ParseError
from integrations.parse.jenkins import (
    BUILD_FIELDS,
    JOB_TREE,
    TEST_REPORT_TREE,
    JenkinsBuild,
    JenkinsJob,
    TestCounts,
    builds_tree,
    parse_build,
    parse_builds,
    parse_job,
    parse_test_report,
)


class NotFound(BadPayload):
    pass


def job_path(job: str) -> str:
    return "".join(f"/job/{quote(part, safe='')}" for part in job.strip("/").split("/"))


class JenkinsClient(ToolClient):
    tool = "Jenkins"

    @classmethod
    def for_connection(cls, connection, *, budget: RequestBudget | None = None, **kwargs) -> "JenkinsClient":
        credentials = connection.credentials
        return cls(
            base_url=connection.base_url,
            auth=(credentials.get("username", ""), credentials.get("token", "")),
            budget=budget or RequestBudget(limit=connection.request_budget),
            **kwargs,
        )

    def _raise_for_status(self, response, url: str) -> None:
        if response.status_code == 404:
            raise NotFound(
                f"Jenkins has nothing at {url} (404): check the job name in the connection's scope."
            )
        super()._raise_for_status(response, url)

    def _parsed(self, parse, path: str, tree: str):
        try:
            return parse(self.get_json(path, {"tree": tree}))
        except ParseError as exc:
            raise BadPayload(f"Jenkins answered {path} unexpectedly: {exc}") from exc

    def job(self, job: str) -> JenkinsJob:
        return self._parsed(parse_job, f"{job_path(job)}/api/json", JOB_TREE)

    def builds(self, job: str, start: int, end: int) -> list[JenkinsBuild]:
        """Builds [start, end) counted from the newest."""
        return self._parsed(parse_builds, f"{job_path(job)}/api/json", builds_tree(start, end))

    def build(self, job: str, number: int) -> JenkinsBuild:
        return self._parsed(parse_build, f"{job_path(job)}/{number}/api/json", BUILD_FIELDS)

    def test_report(self, job: str, number: int) -> TestCounts | None:
        """None when the build published no test report (Jenkins answers 404)."""
        try:
            return self._parsed(
                parse_test_report, f"{job_path(job)}/{number}/testReport/api/json", TEST_REPORT_TREE
            )
        except NotFound:
            return None
