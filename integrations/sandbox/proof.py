"""The per-run secret: the sandbox serves only its own client, and proves who it is before it is used.

`dev.py run` makes a new secret each run and hands it to the sandbox in the environment variable
SECRET_ENV (never on the command line, where other users' `ps` would read it). With a secret, every
request needs it, sent as each tool's client sends its token (see SandboxServer.authorised); the
demo connections carry it as their stored credential. Without one, the datasets' fixed test tokens
apply, as tests and benchmarks use them.

Before the connections are pointed at a port, the server there is challenged: a fresh nonce goes
to PROOF_PATH, unauthenticated, and only a server that knows the secret can answer
HMAC-SHA256(secret, "<tool>:<nonce>"). The secret itself never goes to a server that has not proved
it knows it, so a foreign process listening on the ports learns nothing and is refused.
"""

import hashlib
import hmac
import json
import secrets
import urllib.request
from urllib.parse import urlencode

SECRET_ENV = "FLIGHTDECK_SANDBOX_SECRET"  # noqa: S105 - the variable's name, not a secret
PROOF_PATH = "/_sandbox/proof"
TOOLS = ("jira", "jenkins", "github")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A proof comes from the address asked, not from wherever that server sends us."""

    def redirect_request(self, *args, **kwargs):
        return None


# No proxy either: the sandbox is on loopback, and a proxy from the environment would answer for it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def proof_answer(secret: str, tool: str, nonce: str) -> str:
    """What a server that knows `secret` answers to `nonce` as `tool` (one tool's answer is no
    other's)."""
    return hmac.new(secret.encode(), f"{tool}:{nonce}".encode(), hashlib.sha256).hexdigest()


def proof_verify(url: str, secret: str, tool: str, *, timeout: float = 5) -> bool:
    """Whether the server at `url` proves that it is `tool` and knows `secret`. Any other answer, an
    error or no answer at all is a refusal."""
    nonce = secrets.token_hex(16)
    address = f"{url.rstrip('/')}{PROOF_PATH}?{urlencode({'nonce': nonce})}"
    try:
        with _OPENER.open(address, timeout=timeout) as response:
            body = json.loads(response.read(4096))
    except (OSError, ValueError):  # urllib's errors, timeouts and unreadable answers alike
        return False
    answer = body.get("proof") if isinstance(body, dict) else None
    return isinstance(answer, str) and hmac.compare_digest(answer, proof_answer(secret, tool, nonce))
