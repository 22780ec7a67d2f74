"""Where a refusal becomes an HTTP answer: one middleware for every view.

A releases.errors.DomainError that leaves a view is answered with its status and its message:
- under /api/ as JSON, by the API's one helper (releases.api.detail);
- to HTMX as the message alone (text/plain; static/js/flightdeck.js shows it in the page's message area);
- otherwise as a page saying what was refused and that nothing changed.
A ValidationError that leaves a view is a refusal of the input too (400), never a server error.
"""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render

from portal.api_auth import API_PREFIX
from releases.api import detail
from releases.errors import DomainError, error_messages

TEMPLATE = "portal/refused.html"


def error_response(request, error: DomainError | ValidationError):
    status = getattr(error, "status", 400)
    messages = [m for ms in error_messages(error).values() for m in ms]
    text = " ".join(messages) or "The request was refused."
    if request.path_info.startswith(API_PREFIX):
        return detail(text, status)
    if getattr(request, "htmx", False):
        return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    return render(request, TEMPLATE, {"messages_refused": messages, "status": status}, status=status)


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DomainError | ValidationError):
            return error_response(request, exception)
        return None
