"""The tools Flightdeck syncs, one entry each, by connection kind: the one registry of them.

Every tool has the same three parts in the same places: clients/<tool>.py makes the HTTP requests,
parse/<tool>.py turns the raw answers into dataclasses (pure), sync/<tool>.py stores them through the
domain's services and tests a connection. Its webhook signature check is in deliveries.py. The runner,
the beat tasks, the /integrations/ page and the webhook endpoint look a connection's tool up here.
"""

from collections.abc import Callable
from dataclasses import dataclass

from integrations.clients.github import GithubClient
from integrations.clients.gitlab import GitlabClient
from integrations.clients.jenkins import JenkinsClient
from integrations.clients.jira import JiraClient
from integrations.deliveries import (
    Delivery,
    github_delivery,
    gitlab_delivery,
    jenkins_delivery,
    jira_delivery,
)
from integrations.http import ToolClient
from integrations.models import ConnectionKind
from integrations.sync.github import github_connection_test, github_sync
from integrations.sync.gitlab import gitlab_connection_test, gitlab_sync
from integrations.sync.jenkins import jenkins_connection_test, jenkins_sync
from integrations.sync.jira import jira_connection_test, jira_sync


@dataclass(frozen=True)
class Tool:
    name: str  # in the webhook URL: /webhooks/<name>/<connection id>
    kinds: tuple[ConnectionKind, ...]
    client: Callable[..., ToolClient]  # (connection, *, budget=None, **options)
    sync: Callable[..., None]  # (*, context, client, mode)
    test: Callable[..., str]  # (*, connection, client) -> one readable line, or a SyncError
    webhook: Callable[..., Delivery]  # (headers, raw body, secret) -> the delivery, or Refused


JIRA = Tool(
    name="jira",
    kinds=(ConnectionKind.JIRA_CLOUD, ConnectionKind.JIRA_DC),
    client=JiraClient.for_connection,
    sync=jira_sync,
    test=jira_connection_test,
    webhook=jira_delivery,
)
JENKINS = Tool(
    name="jenkins",
    kinds=(ConnectionKind.JENKINS,),
    client=JenkinsClient.for_connection,
    sync=jenkins_sync,
    test=jenkins_connection_test,
    webhook=jenkins_delivery,
)
GITHUB = Tool(
    name="github",
    kinds=(ConnectionKind.GITHUB,),
    client=GithubClient.for_connection,
    sync=github_sync,
    test=github_connection_test,
    webhook=github_delivery,
)
GITLAB = Tool(
    name="gitlab",
    kinds=(ConnectionKind.GITLAB,),
    client=GitlabClient.for_connection,
    sync=gitlab_sync,
    test=gitlab_connection_test,
    webhook=gitlab_delivery,
)

TOOLS: dict[ConnectionKind, Tool] = {
    kind: tool for tool in (JIRA, JENKINS, GITHUB, GITLAB) for kind in tool.kinds
}
