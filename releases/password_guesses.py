"""Password guessing, counted by django-axes: at the login page (portal.forms.LoginForm) and at a gate's
sign-off, which re-enters the signed-in user's password (releases.gates.views.gates, and the REST API's
sign-off, portal.api). Both count against
(username, client address); portal/settings.py says why that key, and portal/client_ip.py how the
address is found."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed


def guesses_allowed(request, username: str) -> bool:
    return AxesProxyHandler.is_allowed(request, {"username": username})


def guess_failed(request, username: str) -> None:
    """Count a wrong password typed by a signed-in user (a sign-off), as a failed sign-in would be."""
    user_login_failed.send(__name__, credentials={"username": username}, request=request)


def tries_left(request, username: str) -> int:
    return max(
        settings.AXES_FAILURE_LIMIT - AxesProxyHandler.get_failures(request, {"username": username}), 0
    )


def tries_left_words(request, username: str) -> str:
    """ "2 tries left before sign-in is locked for 15 minutes.", said after a wrong password."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    left = tries_left(request, username)
    if left == 0:
        return f"Sign-in and signing as this user from here are now paused for {minutes} minutes."
    tries = "try" if left == 1 else "tries"
    return f"{left} {tries} left before sign-in is locked for {minutes} minutes."


SIGNING_PAUSED = "Too many wrong passwords: signing is paused for a while. Nothing was signed."


def signing_allowed(request) -> bool:
    """A signature re-enters the password, so it is guarded like the login page (django-axes), against
    the signed-in user and the client's address."""
    return guesses_allowed(request, request.user.get_username())


def signing_failed(request) -> str:
    """Count a wrong password at a sign-off; returns how many tries are left, in words."""
    guess_failed(request, request.user.get_username())
    request.axes_locked_out = False  # the sign-off says so itself; not the login page's lockout page
    return tries_left_words(request, request.user.get_username())
