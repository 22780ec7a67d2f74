"""A small, real OpenID Connect provider on loopback for the single sign-on tests.

It speaks HTTP on 127.0.0.1 (a free port) from a thread: discovery, JWKS, the authorization endpoint
(which signs in whoever the test says, with the groups and auth_time the test says) and the token
endpoint (client secret, redirect URI and the PKCE S256 verifier checked; one use per code). Its ID
tokens are RS256-signed JWTs with a key made for the run. Flightdeck's client (Authlib) talks to it over
real HTTP: nothing of the client is mocked.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "flightdeck-tests"
CLIENT_SECRET = "provider-test-secret-0123456789"


@dataclass
class Person:
    """Who the provider signs in next; auth_time_offset shifts the reported sign-in time (seconds)."""

    sub: str = "sub-ada"
    preferred_username: str = "ada"
    groups: list = field(default_factory=lambda: ["fd-reviewers"])
    given_name: str = "Ada"
    family_name: str = "Lovelace"
    email: str = "ada@example.test"
    auth_time_offset: int = 0
    send_auth_time: bool = True


class Provider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256", "use": "sig"})
        self.person = Person()
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []  # the query of each authorization request
        self.issued_tokens: list[str] = []  # every access and ID token handed out
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- the endpoints ----------------------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def authorize(self, query: dict) -> tuple[int, dict]:
        self.authorize_requests.append(query)
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {"error": "invalid_request"}
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {"error": "invalid_request", "error_description": "PKCE is required"}
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": query["redirect_uri"],
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce"),
            "person": self.person,
            "auth_time": int(time.time()) + self.person.auth_time_offset,
        }
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}

    def token(self, form: dict, authorization: str) -> tuple[int, dict]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        person, now = grant["person"], int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": person.sub,
            "iat": now,
            "exp": now + 300,
            "preferred_username": person.preferred_username,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "email": person.email,
            "groups": person.groups,
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        if person.send_auth_time:
            claims["auth_time"] = grant["auth_time"]
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        access_token = secrets.token_urlsafe(32)
        self.issued_tokens += [id_token, access_token]
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/realm/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/realm/jwks":
                    return self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                if url.path == "/realm/authorize":
                    status, body = provider.authorize(query)
                    if status == 302:
                        self.send_response(302)
                        self.send_header("Location", body["Location"])
                        self.end_headers()
                        return None
                    return self._json(status, body)
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == "/realm/token":
                    return self._json(*provider.token(form, self.headers.get("Authorization", "")))
                return self._json(404, {"error": "not_found"})

            def _json(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
