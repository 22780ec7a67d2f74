"""The sandbox's per-run secret: with one, every tool refuses requests that do not carry it, as each
client sends its token; a challenge proves a server knows it without the secret being sent; a
foreign server, or a sandbox of another run, cannot prove it."""

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.github import GithubDataset, GithubRoutes
from integrations.sandbox.jenkins import JenkinsDataset, JenkinsRoutes
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.proof import PROOF_PATH, proof_answer, proof_verify
from integrations.sandbox.server import SandboxServer

SECRET = "this-runs-secret"


def basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def status_of(url: str, authorization: str | None = None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# (routes, a path a sync reads, how its client sends the token: integrations/clients/*.py)
TOOLS = {
    "jira": (
        lambda: JiraRoutes(JiraDataset(issues=5)),
        "/rest/api/3/myself",
        lambda token: basic(JiraDataset.username, token),  # Jira Cloud: the API user and the token
    ),
    "jira-pat": (
        lambda: JiraRoutes(JiraDataset(issues=5)),
        "/rest/api/2/myself",
        lambda token: f"Bearer {token}",  # Jira Data Center: a personal access token
    ),
    "jenkins": (
        lambda: JenkinsRoutes(JenkinsDataset()),
        "/job/payments-ci/api/json?tree=lastBuild%5Bnumber%5D",
        lambda token: basic(JenkinsDataset.username, token),
    ),
    "github": (
        lambda: GithubRoutes(GithubDataset()),
        "/repos/acme/payments/deployments",
        lambda token: f"Bearer {token}",
    ),
}


@pytest.fixture
def serve():
    servers = []

    def start(routes, **options) -> SandboxServer:
        servers.append(SandboxServer(routes, **options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("tool", TOOLS)
def test_with_a_secret_only_the_secret_is_let_in(serve, tool):
    routes, path, authorization = TOOLS[tool]
    fixed = routes().dataset.token
    server = serve(routes(), secret=SECRET)

    assert status_of(server.url + path) == 401
    assert status_of(server.url + path, authorization(fixed)) == 401  # the fixed test token no longer
    assert status_of(server.url + path, authorization(SECRET + "x")) == 401
    assert status_of(server.url + path, authorization(SECRET)) == 200
    assert [r.status for r in server.requests] == [401, 401, 401, 200]


@pytest.mark.parametrize("tool", TOOLS)
def test_without_a_secret_the_fixed_test_token_serves_as_before(serve, tool):
    routes, path, authorization = TOOLS[tool]
    server = serve(routes())
    assert status_of(server.url + path) == 401
    assert status_of(server.url + path, authorization(routes().dataset.token)) == 200


def test_basic_auth_needs_the_api_user_too(serve):
    server = serve(JiraRoutes(JiraDataset(issues=5)), secret=SECRET)
    assert status_of(f"{server.url}/rest/api/3/myself", basic("someone-else", SECRET)) == 401
    assert status_of(f"{server.url}/rest/api/3/myself", "Basic not base64!") == 401


def test_a_sandbox_proves_it_knows_its_secret_as_its_own_tool(serve):
    jira = serve(JiraRoutes(JiraDataset(issues=5)), secret=SECRET)
    jenkins = serve(JenkinsRoutes(JenkinsDataset()), secret=SECRET)

    assert proof_verify(jira.url, SECRET, "jira")
    assert proof_verify(jenkins.url, SECRET, "jenkins")
    assert not proof_verify(jira.url, "another-run", "jira")  # a sandbox of another run
    assert not proof_verify(jenkins.url, SECRET, "jira")  # the right secret, the wrong tool
    with urllib.request.urlopen(f"{jira.url}{PROOF_PATH}?nonce=abc", timeout=5) as response:  # noqa: S310
        assert json.loads(response.read()) == {"tool": "jira", "proof": proof_answer(SECRET, "jira", "abc")}


def test_a_sandbox_without_a_secret_proves_nothing(serve):
    server = serve(JiraRoutes(JiraDataset(issues=5)))
    assert status_of(f"{server.url}{PROOF_PATH}?nonce=abc") == 404
    assert not proof_verify(server.url, SECRET, "jira")


def test_a_proof_needs_a_nonce(serve):
    server = serve(JiraRoutes(JiraDataset(issues=5)), secret=SECRET)
    assert status_of(f"{server.url}{PROOF_PATH}") == 400


class Foreign(BaseHTTPRequestHandler):
    """Someone else's server on the port: answers 200 and a made-up proof to anything, and keeps the
    headers it was sent."""

    seen: list = []

    def do_GET(self):
        Foreign.seen.append(dict(self.headers))
        data = json.dumps({"tool": "jira", "proof": "0" * 64, "issues": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def foreign_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Foreign)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Foreign.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_foreign_server_cannot_prove_it_and_never_sees_the_secret(foreign_server):
    assert not proof_verify(foreign_server, SECRET, "jira")
    assert Foreign.seen and all("Authorization" not in headers for headers in Foreign.seen)
    assert all(SECRET not in json.dumps(headers) for headers in Foreign.seen)


def test_no_answer_is_a_refusal():
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not proof_verify(f"http://127.0.0.1:{port}", SECRET, "jira", timeout=1)
