"""Every error of the REST API in one shape: RFC 9457 problem details (application/problem+json when
the client accepts it, else application/json).

    {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "...", "instance": "/api/v1/...",
     "errors": {"field": ["message"]}}          # "errors" only when the input is wrong field by field

- 400: malformed input (a serializer or a filter says which field); a releases.errors.DomainError;
- 401: no or a bad token (with WWW-Authenticate: Bearer); 403: a missing permission or a refusal
  (releases.errors.Refused, CSRF); 404: nothing with that id; 409: a conflict (a taken slot, a cycle,
  a stale signature); 422: well-formed input the domain refuses (a service's ValidationError, a
  booking in a freeze, a wrong password at sign-off).
A DomainError keeps its own status, so a service's refusal answers here as it does on the pages.
"""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from releases.errors import DomainError, error_messages

CONTENT_TYPE = "application/problem+json"
# Clients that ask for problem details (Accept: application/problem+json) get that media type; the
# others get application/json, as every answer under /api/ always was (the pipelines read it so).
PLAIN_CONTENT_TYPE = "application/json"


def content_type(request) -> str:
    return CONTENT_TYPE if CONTENT_TYPE in request.headers.get("Accept", "") else PLAIN_CONTENT_TYPE


NON_FIELD = "non_field_errors"


def problem(status: int, detail: str, *, instance: str = "", errors: dict | None = None, **extra) -> dict:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body | extra


def problem_response(request, status: int, detail: str, **kwargs) -> JsonResponse:
    """The problem as a plain Django response (middleware, legacy edges)."""
    body = problem(status, detail, instance=request.path, **kwargs)
    return JsonResponse(body, status=status, content_type=content_type(request))


def _field_errors(error: Exception) -> dict[str, list[str]]:
    return {(field or NON_FIELD): list(messages) for field, messages in error_messages(error).items()}


def _serializer_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"field" or "field.sub": [messages]}."""
    if isinstance(detail, dict):
        flat = {}
        for field, value in detail.items():
            flat |= _serializer_errors(value, f"{prefix}{field}.")
        return flat
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix.rstrip(".") or NON_FIELD: [str(d) for d in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, value in enumerate(detail):
            flat |= _serializer_errors(value, f"{prefix}{index}.")
        return flat
    return {prefix.rstrip(".") or NON_FIELD: [str(detail)]}


def _as_drf(exc):
    """Django's and the domain's exceptions as (status, detail, errors), or None for DRF's own."""
    if isinstance(exc, DomainError):
        errors = _field_errors(exc) if exc.field or isinstance(exc, ValidationError) else None
        detail = (
            " ".join(m for ms in error_messages(exc).values() for m in ms) or HTTPStatus(exc.status).phrase
        )
        winner = getattr(exc, "winner", None)  # a taken slot names the booking that holds it
        return exc.status, detail, errors, ({"winner": winner.pk} if winner is not None else {})
    if isinstance(exc, ValidationError):
        errors = _field_errors(exc)
        messages = [m for ms in errors.values() for m in ms]
        return 422, " ".join(messages) or "The request was refused.", errors, {}
    if isinstance(exc, PermissionError):  # services that refuse with Python's PermissionError (bookings)
        return 403, str(exc) or "You may not do this.", None, {}
    return None


def problem_exception_handler(exc, context):
    request = context["request"]
    mapped = _as_drf(exc)
    if mapped is not None:
        status, detail, errors, extra = mapped
        return Response(
            problem(status, detail, instance=request.path, errors=errors, **extra),
            status=status,
            content_type=content_type(request),
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) else "Nothing has that id.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500, turned into a problem by the middleware
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = _serializer_errors(exc.detail)
        messages = [f"{field}: {m[0]}" if field != NON_FIELD else m[0] for field, m in errors.items()]
        detail = "The request is not valid. " + " ".join(messages)
    elif isinstance(exc.detail, dict | list):
        detail = " ".join(str(v) for v in _serializer_errors(exc.detail).values())
    else:
        detail = str(exc.detail)
    response.data = problem(response.status_code, detail, instance=request.path, errors=errors)
    response.content_type = content_type(request)
    return response
