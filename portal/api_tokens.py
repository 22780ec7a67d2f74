"""Personal API tokens for the pipeline API: created and revoked by their owner, audited, never stored.

The secret is shown once, at creation; the database keeps its SHA-256 (a lookup key that cannot be
turned back into the secret) and a short prefix to tell tokens apart.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.models import ApiToken, User
from releases.audit import audit_record

SECRET_PREFIX = "fdk_"  # noqa: S105 (not a secret: marks a leaked token for secret scanners)
PREFIX_LENGTH = 12
LAST_USED_PRECISION = timedelta(minutes=1)  # a busy pipeline does not write a row per request


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_snapshot(token: ApiToken) -> dict:
    """What the audit trail keeps of a token: never the secret, nor its hash."""
    return {
        "user_id": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "revoked_at": token.revoked_at,
    }


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and its secret (the only time the secret exists)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip(), key_hash=_hash(secret), prefix=secret[:PREFIX_LENGTH]
    )
    audit_record(actor=user, action="apitoken.create", obj=token, after=_token_snapshot(token))
    return token, secret


@transaction.atomic
def api_token_create_denied(*, user: User, permission: str) -> None:
    audit_record(actor=user, action="apitoken.create.denied", obj=user, after={"permission": permission})


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    """Revoke at once; revoking a revoked token changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    before = _token_snapshot(token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=by, action="apitoken.revoke", obj=token, before=before, after=_token_snapshot(token))
    return token


def api_token_user(secret: str) -> User | None:
    """The active user a live token belongs to, or None. Notes the use, at most once a minute."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
