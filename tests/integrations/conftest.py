"""The Jira sandbox on loopback, a connection pointed at it with two mapped projects, and the retries
the sync task asks Celery for."""

import pytest
from celery.exceptions import Retry

from integrations import tasks
from integrations.models import Connection
from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.server import SandboxServer
from tests.factories import ApplicationFactory, ApplicationMappingFactory, ConnectionFactory


@pytest.fixture
def serve():
    """serve(routes) -> a sandbox server answering with them on loopback, stopped after the test."""
    servers = []

    def start(routes) -> SandboxServer:
        servers.append(SandboxServer(routes).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def jira_sandbox(serve):
    """jira_sandbox(issues=60, time_zone="America/New_York", dc_max_results=50) -> a running server."""

    def start(*, dc_max_results: int = 50, **dataset) -> SandboxServer:
        return serve(JiraRoutes(JiraDataset(**dataset), dc_max_results=dc_max_results))

    return start


@pytest.fixture
def jira_connection(db):
    """jira_connection(server, kind="jira_dc") -> a connection mapping the dataset's projects."""

    def make(server: SandboxServer, *, kind: str = Connection.Kind.JIRA_CLOUD, **fields) -> Connection:
        dataset = server.routes.dataset
        connection = ConnectionFactory(
            kind=kind,
            base_url=server.url,
            credentials={"username": dataset.username, "token": dataset.token},
            scope={"projects": list(dataset.projects)},
            **fields,
        )
        for project in dataset.projects:
            ApplicationMappingFactory(
                connection=connection, application=ApplicationFactory(key=project), external_key=project
            )
        return connection

    return make


@pytest.fixture
def retries(monkeypatch):
    """The countdowns the sync task asked Celery to retry with (instead of Celery retrying at once)."""
    asked = []

    def retry(*, countdown, **kwargs):
        asked.append(countdown)
        return Retry(when=countdown)

    monkeypatch.setattr(tasks.connection_sync_task, "retry", retry)
    return asked
