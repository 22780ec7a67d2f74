"""Where a refusal becomes an HTTP answer, and the checks every request passes at the edge.

A releases.errors.DomainError that leaves a view is answered with its status and its message:
- under /api/ as JSON, by the API's one helper (releases.gates.api.detail);
- to HTMX as the message alone (text/plain; static/js/flightdeck.js shows it in the page's message area);
- otherwise as a page saying what was refused and that nothing changed.
A ValidationError that leaves a view is a refusal of the input too (400), never a server error.

Before any view runs, a NUL character anywhere in the path, the query or a submitted form is refused
(no text column can store one, and PostgreSQL refuses the query), and an id in the path larger than
any row's id is a 404 (SQLite cannot even compare it).

What no view answered has its page here too (handler400/403/404/500, CSRF_FAILURE_VIEW): 403 and 404
in the portal's layout with its navigation, 400 and 500 in a slim layout that reads no database.
"""

import sys
from http import HTTPStatus

from django.core.exceptions import PermissionDenied, ValidationError
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


# --- the pages for what left a view unanswered: 400, 403, 404 (handler400/403/404 in portal.urls) ---

NOT_FOUND = "There is no page at this address. It may have moved, or the link that led here is out of date."
FORBIDDEN = "Your role does not allow this page, so nothing was shown or changed."
CSRF_FAILED = (
    "The form was sent without a valid security token, so nothing was changed. "
    "It may have been open too long or in another session: reload the page and try again."
)
BAD_REQUEST = "The request could not be read, so nothing was changed. Go back and try again."
ERROR_PAGE = "portal/error_page.html"


def _said(exception) -> str:
    """What a view said when it refused (PermissionDenied("Only auditors ...")): its own words, or ''."""
    if isinstance(exception, PermissionDenied) and exception.args and isinstance(exception.args[0], str):
        return exception.args[0]
    return ""


def _api_answer(request, status: int):
    """Under /api/ the answer the API has always given for a route it does not have (as
    portal.api_auth.as_json and as_problem say Django's own error pages): JSON with the status phrase,
    and no page rendered only to be thrown away."""
    if request.path_info.startswith(REST_PREFIXES):
        return problem_response(request, status, HTTPStatus(status).phrase)
    if request.path_info.startswith(API_PREFIX):
        return detail(HTTPStatus(status).phrase, status)
    return None


def _error_answer(request, status: int, words: str, *, said: str = "", role_refused: bool = False):
    """The API in JSON; HTMX what the view said, as plain text that the page shows (with nothing said,
    an empty answer: static/js/flightdeck.js then says what the status means); a page with the layout
    otherwise."""
    if (api := _api_answer(request, status)) is not None:
        return api
    if getattr(request, "htmx", False):
        return HttpResponse(said, status=status, content_type="text/plain; charset=utf-8")
    context = {
        "status": status,
        "words": words,
        "said": said,
        "path": request.path,
        "role_refused": role_refused,
    }
    return render(request, ERROR_PAGE, context, status=status)


def page_not_found(request, exception=None):
    return _error_answer(request, 404, NOT_FOUND)


def permission_denied(request, exception=None):
    return _error_answer(request, 403, FORBIDDEN, said=_said(exception), role_refused=True)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the reason Django gives is for developers, not shown."""
    return _error_answer(request, 403, CSRF_FAILED, said=CSRF_FAILED)


def bad_request(request, exception=None):
    """handler400: a request Django itself refused (a malformed body, too many fields, a host not
    allowed). Like the 500 page it is rendered without the request: the request is what is wrong, so
    neither its session nor the database is read."""
    if (api := _api_answer(request, 400)) is not None:
        return api
    return HttpResponse(
        render_to_string("bad_request.html", {"status": 400, "words": BAD_REQUEST}), status=400
    )


UNAVAILABLE = "The database is not answering just now. Nothing was changed; try again in a minute."
SERVER_ERROR = "Something went wrong on our side. Nothing was changed; the error is logged for the admins."
RETRY_AFTER_SECONDS = 30
