"""The sandbox's HTTP server: authentication, injected faults, a request log, a hook between requests.

server = SandboxServer(JiraRoutes(JiraDataset(issues=500))).start()
server = SandboxServer(JiraRoutes(JiraDataset()), secret="...")  # the run's secret replaces the token
server.faults.append(Fault("429", path="/search", retry_after=2))
... sync against server.url ...
server.stop()
"""

import base64
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from integrations.sandbox.proof import PROOF_PATH, proof_answer

FAULT_KINDS = ("429", "500", "slow", "truncate", "drop")


@dataclass
class Fault:
    """Answer `times` requests whose path contains `path` with this fault, after letting `after` pass."""

    kind: str
    path: str = ""
    times: int = 1
    after: int = 0
    retry_after: int = 30
    delay: float = 2.0

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {FAULT_KINDS}")


@dataclass(frozen=True)
class LoggedRequest:
    at: float  # time.monotonic()
    path: str
    query: dict
    status: int


class SandboxServer:
    """`secret`: the run's credential (proof.py). Every request must carry it instead of the dataset's
    fixed token, and PROOF_PATH answers challenges with it; None keeps the fixed token and no proof."""

    def __init__(self, routes, *, host: str = "127.0.0.1", port: int = 0, secret: str | None = None):
        self.routes = routes
        self.secret = secret
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.before_answer: Callable[[str, dict], None] | None = None  # tests change data mid-sync here
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="tool-sandbox")

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_to(self, fragment: str) -> list[LoggedRequest]:
        return [request for request in self.requests if fragment in request.path]

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def answer(self, path: str, query: dict, request_headers) -> tuple[int, object, dict]:
        """(status, body, response headers) for an authorised GET. Routes that need the request's
        headers or set their own (GitHub: If-None-Match, ETag, Link) define `answer_http`."""
        if hasattr(self.routes, "answer_http"):
            return self.routes.answer_http(path, query, self.url, request_headers)
        status, body = self.routes.answer(path, query, self.url)
        return status, body, {}

    def authorised(self, header: str) -> bool:
        """As the clients send it: a bearer token (GitHub, Jira Data Center's personal access token) or
        basic auth with the API user and the token (Jira Cloud, Jenkins). Routes may name more token
        schemes (`token_schemes`: GitHub's "token ")."""
        dataset = self.routes.dataset
        token = self.secret or dataset.token
        for scheme in getattr(self.routes, "token_schemes", ("Bearer ",)):
            if header.startswith(scheme):
                return hmac.compare_digest(header[len(scheme) :].encode(), token.encode())
        if not header.startswith("Basic "):
            return False
        try:
            user, _, given = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:
            return False
        return user == dataset.username and hmac.compare_digest(given.encode(), token.encode())

    def authorised_request(self, headers) -> bool:
        """Routes whose tool authenticates otherwise (GitLab's PRIVATE-TOKEN) say so themselves."""
        if hasattr(self.routes, "authorised_request"):
            return self.routes.authorised_request(headers, self.secret or self.routes.dataset.token)
        return self.authorised(headers.get("Authorization", ""))

    def proof(self, query: dict) -> tuple[int, dict]:
        """The answer to a challenge (proof.py): only with a secret, and only to a nonce."""
        nonce = query.get("nonce", "")
        if not self.secret:
            return 404, {"errorMessages": ["This sandbox has no secret to prove."], "errors": {}}
        if not nonce or len(nonce) > 200:
            return 400, {"errorMessages": ["A proof needs a nonce."], "errors": {}}
        tool = getattr(self.routes, "tool", "")
        return 200, {"tool": tool, "proof": proof_answer(self.secret, tool, nonce)}


def _handler_for(server: SandboxServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

        def log_message(self, format, *args):  # the request log replaces stderr noise
            pass

        def do_GET(self):
            parts = urlsplit(self.path)
            query = _query(parts.query)
            if parts.path == PROOF_PATH:  # unauthenticated, never faulted: the secret is not sent
                self.logged_as = (parts.path, {})
                self.send_json(*server.proof(query))
                return
            if server.before_answer:
                server.before_answer(parts.path, query)
            self.logged_as = (parts.path, query)
            self.respond(parts.path, query)

        def do_POST(self):  # Jira's read-only POSTs (searches, approximate count)
            parts = urlsplit(self.path)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            except ValueError:
                body = None
            query = _query(parts.query)
            self.logged_as = (parts.path, query)
            self.respond(parts.path, {**query, "_body": body})

        def log_answer(self, status: int) -> None:
            """Logged before the answer goes out: a client that has read it finds it in the log."""
            path, query = self.logged_as
            with server.lock:
                server.requests.append(LoggedRequest(time.monotonic(), path, query, status))

        def respond(self, path: str, query: dict) -> int:
            fault = server.take_fault(path)
            if fault and fault.kind == "drop":
                self.log_answer(0)
                self.close_connection = True
                self.connection.close()
                return 0
            if fault and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault and fault.kind == "429":
                return self.send_json(
                    429, {"errorMessages": ["Rate limit exceeded."]}, {"Retry-After": str(fault.retry_after)}
                )
            if fault and fault.kind == "500":
                return self.send_json(500, {"errorMessages": ["Internal server error"], "errors": {}})
            if not server.authorised_request(self.headers):
                if hasattr(server.routes, "unauthorised"):  # the tool's own 401 (GitHub's "Bad credentials")
                    return self.send_json(*server.routes.unauthorised())
                return self.send_json(401, {"errorMessages": ["You are not authenticated."], "errors": {}})
            status, body, headers = server.answer(path, query, self.headers)
            return self.send_json(status, body, headers, truncate=bool(fault and fault.kind == "truncate"))

        def send_json(self, status: int, body, headers: dict | None = None, *, truncate: bool = False) -> int:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if status in (204, 304):  # No Content and Not Modified have no body, whatever the routes said
                data = b""
            if truncate:
                data = data[: len(data) // 2]
            self.log_answer(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in {**getattr(server.routes, "headers", {}), **(headers or {})}.items():
                self.send_header(name, value)  # routes' `headers` go on every answer (Jenkins' X-Jenkins)
            self.end_headers()
            self.wfile.write(data)
            return status

    return Handler


def _query(text: str) -> dict:
    """The query string; a repeated parameter's values joined with commas, as Jira reads `fields`."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(text):
        query[name] = f"{query[name]},{value}" if name in query else value
    return query
