"""Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE, by Authlib's
Django client, configured from the environment (portal/settings.py; docs/sso.md says how).

- /login/sso/ sends the browser to the provider; /login/sso/callback/ brings it back. Authlib checks the
  state against the session, exchanges the code with the PKCE verifier, and validates the ID token (its
  RS256 signature against the provider's published keys, issuer, audience, expiry and nonce). The
  provider's endpoints and keys come from <issuer>/.well-known/openid-configuration.
- sso_sign_in creates or updates the user and sets their roles from the groups claim, on every sign-in;
  groups that map to no role are refused with a readable page.
- /login/sso/reauth/<gate>/ asks the provider to sign the user in again (prompt=login, max_age=0) before
  a gate's sign-off. The callback checks that the ID token's auth_time is fresh and not before the
  redirect started, then leaves a grant for that one gate (releases/reauth.py).
- LocalPasswordBackend turns local passwords off for everyone but the break-glass admin.

Tokens are neither kept nor logged: only the claims of the validated ID token are read.
"""

import logging
import re
import time
from datetime import UTC, datetime
from functools import cache

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from joserfc.errors import JoseError

from portal.forms import LoginForm
from portal.models import SsoIdentity
from releases import reauth
from releases.audit import audit_record
from releases.models import Gate

logger = logging.getLogger(__name__)
User = get_user_model()

BACKEND = "portal.sso.OidcBackend"
FLOWS_KEY = "flightdeck_sso_flows"  # state -> what this round trip to the provider is for
FLOWS_KEPT = 5  # round trips started and not finished (tabs, back buttons) that are still honoured
# How far the provider's clock may be behind ours when its auth_time is compared with the moment the
# re-authentication redirect started.
CLOCK_SKEW_SECONDS = 30
REFUSED_TEMPLATE = "registration/sso_refused.html"


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


@cache
def _client(issuer: str, client_id: str, client_secret: str, scopes: str):
    oauth = OAuth()
    return oauth.register(
        name="flightdeck",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scopes, "code_challenge_method": "S256", "default_timeout": 10},
    )


def client():
    """The OpenID Connect client of the configured provider (its discovery document is read once)."""
    return _client(
        settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET, settings.OIDC_SCOPES
    )


# --- backends -------------------------------------------------------------------------------------


def password_allowed(username: str | None) -> bool:
    """Local passwords are on, or `username` is the break-glass admin."""
    return settings.LOCAL_PASSWORDS or bool(
        settings.BREAK_GLASS_USERNAME and username == settings.BREAK_GLASS_USERNAME
    )


class LocalPasswordBackend(ModelBackend):
    """Django's password backend, for the break-glass admin only once local passwords are off. A refused
    password is a failed sign-in like a wrong one, so django-axes still counts it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not password_allowed(username):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        # A session signed in by password before local passwords were turned off ends now.
        return user if user is not None and password_allowed(user.get_username()) else None


class OidcBackend(BaseBackend):
    """Brings back the user of a session signed in through the provider; it authenticates nothing itself
    (sso_callback signs the user in once the ID token is validated)."""

    def get_user(self, user_id):
        user = User._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


# --- the service ----------------------------------------------------------------------------------


class SignInRefused(Exception):
    def __init__(self, words: str):
        super().__init__(words)
        self.words = words


def mapped_roles(claims: dict) -> tuple[list[str], list[str]]:
    """(the provider's groups, the Flightdeck roles they map to) from the ID token's claims."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    groups = [group for group in groups if isinstance(group, str)] if isinstance(groups, list) else []
    roles = sorted({role for group in groups for role in settings.OIDC_ROLE_MAP.get(group, [])})
    return groups, roles


def _claim(claims: dict, name: str, length: int) -> str:
    value = claims.get(name)
    return value.strip()[:length] if isinstance(value, str) else ""


def _new_username(claims: dict) -> str:
    """The provider's preferred_username (or the e-mail's name), made a valid username nobody has."""
    wanted = _claim(claims, "preferred_username", 150) or _claim(claims, "email", 254).split("@")[0]
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    username, n = base, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{base}-{n}"
    return username


@transaction.atomic
def sso_sign_in(*, claims: dict):
    """The user the validated ID token `claims` stand for: found by (issuer, sub), or linked by username
    to a local user not linked yet (never the break-glass admin), or created without a local password.
    Names and e-mail follow the provider; the roles become exactly the mapped groups. Audited."""
    groups, roles = mapped_roles(claims)
    subject = _claim(claims, "sub", 255)
    if not subject:
        raise SignInRefused("The identity provider sent no subject (sub) for this account.")
    if not roles:
        shown = ", ".join(groups[:20]) or "none"
        raise SignInRefused(
            f"Your account at {settings.OIDC_PROVIDER_NAME} is in no group that gives a Flightdeck role "
            f"(its groups: {shown}). Ask your Flightdeck administrator to give you a role there; "
            "you were not signed in."
        )
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=settings.OIDC_ISSUER, subject=subject)
        .first()
    )
    created = False
    if identity is not None:
        user = identity.user
    else:
        user = _linkable_user(claims)
        if user is None:
            user = User(username=_new_username(claims))
            user.set_unusable_password()
            created = True
    if not user.is_active:
        raise SignInRefused("This Flightdeck account is deactivated: ask your Flightdeck administrator.")
    user.first_name = _claim(claims, "given_name", 150) or user.first_name
    user.last_name = _claim(claims, "family_name", 150) or user.last_name
    user.email = _claim(claims, "email", 254) or user.email
    user.save()
    SsoIdentity.objects.update_or_create(
        user=user,
        defaults={"issuer": settings.OIDC_ISSUER, "subject": subject, "last_sign_in": timezone.now()},
    )
    before = sorted(user.groups.values_list("name", flat=True))
    user.groups.set(Group.objects.filter(name__in=roles))
    audit_record(
        actor=user,
        action="user.sso_sign_in",
        object_type="user",
        object_id=str(user.pk),
        before={"roles": before} if not created else None,
        after={"username": user.username, "roles": roles, "created": created},
    )
    return user


def _linkable_user(claims: dict):
    username = _claim(claims, "preferred_username", 150)
    if not username or username == settings.BREAK_GLASS_USERNAME:
        return None
    return (
        User.objects.select_for_update(of=("self",))
        .filter(username=username, sso_identity__isnull=True, is_superuser=False)
        .first()
    )


# --- views ----------------------------------------------------------------------------------------


class _LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    authentication_form = LoginForm
    break_glass = False

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {
            "sso_enabled": enabled(),
            "provider_name": settings.OIDC_PROVIDER_NAME,
            "break_glass": self.break_glass,
            "password_form_shown": settings.LOCAL_PASSWORDS or self.break_glass,
        }


_login = _LoginView.as_view()
_login_break_glass = _LoginView.as_view(break_glass=True)


@login_not_required
def session_create(request):
    """The sign-in page: "Sign in with <provider>" when SSO is on, and the password form while local
    passwords are on. With them off, the break-glass admin's password form is at /login/break-glass/."""
    return _login(request)


@login_not_required
def session_create_break_glass(request):
    """The password form for the break-glass admin alone (any password works here while local
    passwords are on; django-axes counts the wrong ones as at /login/)."""
    return _login_break_glass(request)


def _refused(request, words: str, *, status: int = 403):
    return render(
        request,
        REFUSED_TEMPLATE,
        {"words": words, "provider_name": settings.OIDC_PROVIDER_NAME},
        status=status,
    )


def _to_provider(request, *, purpose: str, gate_id: int | None = None, next_url: str = "", **params):
    """Send the browser to the provider's authorization endpoint; the state, nonce and PKCE verifier stay
    in the session (Authlib), with what the round trip is for."""
    redirect_uri = request.build_absolute_uri(reverse("sso-callback"))
    app = client()
    try:
        found = app.create_authorization_url(redirect_uri, **params)
    except (AuthlibBaseError, requests.RequestException, ValueError) as error:
        logger.warning("SSO: the identity provider could not be reached (%s)", type(error).__name__)
        return _refused(
            request,
            f"{settings.OIDC_PROVIDER_NAME} cannot be reached just now: try again in a moment.",
            status=502,
        )
    app.save_authorize_data(request, redirect_uri=redirect_uri, **found)
    flows = dict(request.session.get(FLOWS_KEY, {}))
    flows[found["state"]] = {"purpose": purpose, "gate": gate_id, "next": next_url, "started": time.time()}
    request.session[FLOWS_KEY] = dict(list(flows.items())[-FLOWS_KEPT:])
    return HttpResponseRedirect(found["url"])


@login_not_required
@require_GET
def sso_login(request):
    if not enabled():
        raise Http404("Single sign-on is not configured.")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    return _to_provider(request, purpose="login", next_url=next_url)


@require_POST
def sso_reauth(request, pk: int):
    """Before signing gate `pk`: a new sign-in at the provider, whatever session it has."""
    if not enabled():
        raise Http404("Single sign-on is not configured.")
    gate = get_object_or_404(Gate.objects.only("pk"), pk=pk)
    return _to_provider(request, purpose="reauth", gate_id=gate.pk, prompt="login", max_age=0)


@login_not_required
@require_GET
def sso_callback(request):
    if not enabled():
        raise Http404("Single sign-on is not configured.")
    flows = dict(request.session.get(FLOWS_KEY, {}))
    flow = flows.pop(request.GET.get("state", ""), None)
    request.session[FLOWS_KEY] = flows
    if flow is None:
        return _refused(
            request,
            "This answer from the identity provider does not belong to a sign-in started here (or it "
            "was used already). Start again from the sign-in page.",
            status=400,
        )
    try:
        token = client().authorize_access_token(
            request, claims_options={"iss": {"essential": True, "value": settings.OIDC_ISSUER}}
        )
    except (AuthlibBaseError, JoseError, requests.RequestException, ValueError) as error:
        # The error's class and code only: never a token, a code or a verifier.
        logger.warning("SSO: sign-in refused (%s %s)", type(error).__name__, getattr(error, "error", ""))
        return _refused(
            request,
            f"The sign-in with {settings.OIDC_PROVIDER_NAME} could not be completed: start again.",
            status=400,
        )
    claims = dict(token.get("userinfo") or {})
    if not claims:
        return _refused(request, "The identity provider sent no ID token: start again.", status=400)
    if flow["purpose"] == "reauth":
        return _reauth_done(request, flow, claims)
    try:
        user = sso_sign_in(claims=claims)
    except SignInRefused as refusal:
        return _refused(request, refusal.words)
    auth_login(request, user, backend=BACKEND)
    return redirect(flow["next"] or settings.LOGIN_REDIRECT_URL)


def _reauth_done(request, flow: dict, claims: dict):
    gate_page = reverse("gates:detail", args=[flow["gate"]])
    identity = getattr(request.user, "sso_identity", None) if request.user.is_authenticated else None
    if identity is None or identity.subject != claims.get("sub") or identity.issuer != settings.OIDC_ISSUER:
        return _refused(
            request,
            "You signed in again as someone else than the person signed in here: nothing can be signed.",
        )
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
        auth_time = None
    try:
        at = datetime.fromtimestamp(auth_time, tz=UTC) if auth_time is not None else None
    except (OverflowError, OSError, ValueError):
        at = None
    if at is None or auth_time < flow["started"] - CLOCK_SKEW_SECONDS or not reauth.is_fresh(at):
        messages.error(
            request,
            f"{settings.OIDC_PROVIDER_NAME} did not sign you in again just now (its answer carries no "
            "fresh sign-in time), so you cannot sign this gate: nothing was signed. Try again.",
        )
        return redirect(gate_page)
    try:
        sso_sign_in(claims=claims)  # a sign-in like any: the roles follow the groups
    except SignInRefused as refusal:
        auth_logout(request)
        return _refused(request, refusal.words)
    reauth.grant_issue(request.session, gate_id=flow["gate"], auth_time=at)
    messages.success(
        request,
        f"You signed in again with {settings.OIDC_PROVIDER_NAME}. Approve or reject the gate within "
        f"{settings.OIDC_REAUTH_SECONDS // 60} minutes.",
    )
    return redirect(gate_page)
