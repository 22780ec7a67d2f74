"""Response headers that harden every page, and the lifetime of a signed-in session.

SecurityHeadersMiddleware adds, from settings:
- Content-Security-Policy (CONTENT_SECURITY_POLICY): no inline script and no eval anywhere, so a value
  that slipped through escaping still cannot run. A response that already carries the header keeps it.
- Permissions-Policy (PERMISSIONS_POLICY): browser features the portal never uses are off.
- Cache-Control "private, no-store" on whatever a signed-in user, a token or a feed token reads: pages,
  HTMX partials, CSV exports, the API, and the ICS feeds (a subscription URL is a credential; calendar
  clients download the small feed in full on each poll). Neither the browser's disk cache nor a shared
  proxy keeps a copy. Anonymous answers (the login page, /healthz, static files) are left alone.

SessionLifetimeMiddleware ends a signed-in session after SESSION_IDLE_TIMEOUT seconds without a request
and, whatever the activity, SESSION_ABSOLUTE_LIFETIME seconds after it began (a sign-in starts both
clocks: session_lifetime_start, connected in portal.apps). It writes the session's last-activity mark at
most once per SESSION_ACTIVITY_RESOLUTION seconds, not on every request; a session signed in before
these marks existed gets them on its next request.
"""

import functools
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.utils.cache import patch_cache_control

SESSION_STARTED = "flightdeck_session_started"
SESSION_SEEN = "flightdeck_session_seen"
PRIVATE_CONTENT_TYPES = ("text/calendar", "text/csv")


def header_value(policy: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


def permissions_value(policy: dict[str, list[str]]) -> str:
    return ", ".join(f"{feature}=({' '.join(origins)})" for feature, origins in policy.items())


def _private(request, response) -> bool:
    if "HTTP_AUTHORIZATION" in request.META:
        return True
    if response.get("Content-Type", "").split(";")[0].strip() in PRIVATE_CONTENT_TYPES:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


@functools.cache
def content_security_policy(policy: tuple, issuer: str) -> str:
    """The header's value; with single sign-on on, forms may also go to the identity provider (the
    sign-off's re-authentication posts here and is redirected there, which form-action covers)."""
    directives = {directive: list(sources) for directive, sources in policy}
    if issuer:
        parts = urlsplit(issuer)
        directives.setdefault("form-action", []).append(f"{parts.scheme}://{parts.netloc}")
    return header_value(directives)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.permissions = permissions_value(settings.PERMISSIONS_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        policy = tuple(
            (directive, tuple(sources)) for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
        )
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(policy, settings.OIDC_ISSUER)
        )
        response.headers.setdefault("Permissions-Policy", self.permissions)
        if _private(request, response):
            patch_cache_control(response, private=True, no_store=True)
        return response


def session_lifetime_start(sender, request, user, **kwargs) -> None:
    """On every sign-in (user_logged_in): the lifetime and the idle clock start now, in the session the
    sign-in is saving anyway, so the first request after it writes nothing."""
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[SESSION_STARTED] = now
        session[SESSION_SEEN] = now


class SessionLifetimeMiddleware:
    """After AuthenticationMiddleware: a session past its idle timeout or lifetime is signed out before
    the view runs, so LoginRequiredMiddleware sends the request to the login page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            now = int(time.time())
            started = session.get(SESSION_STARTED)
            seen = session.get(SESSION_SEEN)
            if started is None or seen is None:
                session[SESSION_STARTED] = started if started is not None else now
                session[SESSION_SEEN] = now
            elif (
                now - seen > settings.SESSION_IDLE_TIMEOUT
                or now - started > settings.SESSION_ABSOLUTE_LIFETIME
            ):
                logout(request)
            elif now - seen >= settings.SESSION_ACTIVITY_RESOLUTION:
                session[SESSION_SEEN] = now
        return self.get_response(request)
