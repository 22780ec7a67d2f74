"""Token authentication for everything under /api/, and JSON for every answer there.

Pipelines cannot log in: under /api/ the user is whoever `Authorization: Bearer <secret>` names,
never the browser session. The views then check permissions themselves (releases.gates.api). Placed after
AuthenticationMiddleware (which would otherwise replace the user) and before LoginRequiredMiddleware
(which then sees an authenticated user and lets the request through).

The REST API (/api/v1/, its schema and docs: portal.api) authenticates for itself, by token or by
session with CSRF; this middleware only turns Django's own error pages there into problem details.
"""

from http import HTTPStatus

from django.http import JsonResponse

from portal.api.problems import problem_response
from portal.api_tokens import api_token_user

API_PREFIX = "/api/"
REST_PREFIXES = ("/api/v1/", "/api/schema/", "/api/docs/")


def unauthorized(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="flightdeck"'
    return response


def as_json(response):
    """An error page from Django itself (unknown route, wrong method, CSRF, server error) as JSON."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    status = HTTPStatus(response.status_code)
    json_response = JsonResponse({"detail": status.phrase}, status=status)
    if "Allow" in response:
        json_response["Allow"] = response["Allow"]
    return json_response


def as_problem(request, response):
    """An error page from Django itself under the REST API as problem details (portal.api.problems)."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        ("application/json", "application/problem+json")
    ):
        return response
    status = HTTPStatus(response.status_code)
    problem = problem_response(request, status, status.phrase)
    if "Allow" in response:
        problem["Allow"] = response["Allow"]
    return problem


class ApiTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if request.path_info.startswith(REST_PREFIXES):
            return as_problem(request, self.get_response(request))
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return unauthorized("Authentication needed: send Authorization: Bearer <your API token>.")
        user = api_token_user(secret.strip())
        if user is None:
            return unauthorized("This API token is not valid (unknown or revoked).")
        request.user = user
        return as_json(self.get_response(request))
