"""Re-authentication at a gate's sign-off for people who sign in through the identity provider.

Such a signer has no local password to re-enter (or local passwords are off). They sign in again at the
provider instead (prompt=login, max_age=0); portal.sso checks the fresh `auth_time` of the returned ID
token and leaves a grant in the session: for one gate, used once, and only as long as that sign-in is
fresh (OIDC_REAUTH_SECONDS). The gate's sign view takes the grant (releases.gates.views.gates) and hands
its time to gate_sign, which refuses a missing or stale one like a wrong password. See docs/sso.md.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

GRANTS_KEY = "flightdeck_signing_grants"


def signs_with_provider(user) -> bool:
    """True when `user` re-authenticates at the identity provider to sign, not with a password: SSO is on,
    and they have no local password, or local passwords are off and they are not the break-glass admin."""
    if not settings.OIDC_ISSUER:
        return False
    if settings.BREAK_GLASS_USERNAME and user.get_username() == settings.BREAK_GLASS_USERNAME:
        return False
    return not settings.LOCAL_PASSWORDS or not user.has_usable_password()


def is_fresh(auth_time: datetime | None, *, now: datetime | None = None) -> bool:
    if auth_time is None:
        return False
    now = now or timezone.now()
    return timedelta(0) <= now - auth_time <= timedelta(seconds=settings.OIDC_REAUTH_SECONDS)


def grant_issue(session, *, gate_id: int, auth_time: datetime) -> None:
    """Let the session sign `gate_id` once, on the strength of a provider sign-in at `auth_time`."""
    grants = dict(session.get(GRANTS_KEY, {}))
    grants[str(gate_id)] = auth_time.timestamp()
    session[GRANTS_KEY] = grants


def grant_take(session, *, gate_id: int) -> datetime | None:
    """The time of the provider sign-in granted for `gate_id`, removing the grant (used once); None when
    there is none or it is no longer fresh."""
    grants = dict(session.get(GRANTS_KEY, {}))
    stamp = grants.pop(str(gate_id), None)
    if stamp is None:
        return None
    session[GRANTS_KEY] = grants
    auth_time = datetime.fromtimestamp(stamp, tz=UTC)
    return auth_time if is_fresh(auth_time) else None


def grant_pending(session, *, gate_id: int) -> bool:
    stamp = session.get(GRANTS_KEY, {}).get(str(gate_id))
    return stamp is not None and is_fresh(datetime.fromtimestamp(stamp, tz=UTC))
