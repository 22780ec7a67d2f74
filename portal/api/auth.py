"""Who calls the REST API: a personal API token (portal.api_tokens), or the browser's session.

A token is sent as `Authorization: Bearer fdk_...`; only its hash is stored and a revoked token is
refused at once (401). The session works for the browser (the docs page) and, like every page,
needs the CSRF token on writes (DRF's SessionAuthentication enforces it).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.api_tokens import api_token_user

INVALID_TOKEN = "This API token is not valid (unknown or revoked)."  # noqa: S105 (words, not a secret)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None  # no token: the session may still authenticate
        user = api_token_user(secret.strip()) if secret.strip() else None
        if user is None:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="flightdeck"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The token in the OpenAPI schema: HTTP bearer."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (fdk_...)."}
