"""Where a refusal becomes an HTTP answer, and the checks every request passes at the edge.

A releases.errors.DomainError that leaves a view is answered with its status and its message:
- under /api/ as JSON, by the API's one helper (releases.gates.api.detail);
- to HTMX as the message alone (text/plain; static/js/flightdeck.js shows it in the page's message area);
- otherwise as a page saying what was refused and that nothing changed.
A ValidationError that leaves a view is a refusal of the input too (400), never a server error.

Before any view runs, a NUL character anywhere in the path, the query or a submitted form is refused
(no text column can store one, and PostgreSQL refuses the query), and an id in the path larger than
any row's id is a 404 (SQLite cannot even compare it).
"""

import sys

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from portal.api.problems import problem_response
from portal.api_auth import API_PREFIX, REST_PREFIXES
from releases.errors import DomainError, NotFound, error_messages
from releases.gates.api import detail
from releases.params import MAX_ID

TEMPLATE = "portal/refused.html"
# Views that read their body themselves (tokens and signatures, not cookies, authenticate them).
RAW_BODY_PREFIXES = (API_PREFIX, "/webhooks/")
NUL_REFUSED = "The request holds a NUL character, which no field accepts."


def error_response(request, error: DomainError | ValidationError):
    status = getattr(error, "status", 400)
    messages = [m for ms in error_messages(error).values() for m in ms]
    text = " ".join(messages) or "The request was refused."
    if request.path_info.startswith(REST_PREFIXES):
        return problem_response(request, status, text)
    if request.path_info.startswith(API_PREFIX):
        return detail(text, status)
    if getattr(request, "htmx", False):
        return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    return render(request, TEMPLATE, {"messages_refused": messages, "status": status}, status=status)


def _holds_nul(request) -> bool:
    if "\x00" in request.path_info:
        return True
    sources = [request.GET]
    if request.method == "POST" and not request.path_info.startswith(RAW_BODY_PREFIXES):
        sources.append(request.POST)
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for source in sources
        for key, values in source.lists()
    )


def _beyond_any_id(value) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not 0 <= value <= MAX_ID
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    return digits and (len(value) > 19 or int(value) > MAX_ID)


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _holds_nul(request):
            return error_response(request, DomainError(NUL_REFUSED))
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if any(_beyond_any_id(value) for value in (*view_args, *view_kwargs.values())):
            return error_response(request, NotFound("Nothing has that id."))
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, DomainError | ValidationError):
            return error_response(request, exception)
        return None


def server_error(request):
    """What no view handled (handler500). The database not answering is said as such: 503 with a
    Retry-After, since the request can simply be tried again. Neither answer reads the database: the
    page is rendered without the request, so no context processor runs."""
    unavailable = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    status = 503 if unavailable else 500
    words = UNAVAILABLE if unavailable else SERVER_ERROR
    if request.path_info.startswith(API_PREFIX):
        response = JsonResponse({"detail": words}, status=status)
    else:
        body = render_to_string(
            "server_error.html", {"status": status, "words": words, "unavailable": unavailable}
        )
        response = HttpResponse(body, status=status)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


UNAVAILABLE = "The database is not answering just now. Nothing was changed; try again in a minute."
SERVER_ERROR = "Something went wrong on our side. Nothing was changed; the error is logged for the admins."
RETRY_AFTER_SECONDS = 30
