import secrets
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.db import models


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def new_feed_token() -> str:
    """A secret for the personal calendar feed URL (calendar apps cannot log in)."""
    return secrets.token_urlsafe(32)


class User(AbstractUser):
    """A person who logs in. Roles are Django groups (see portal.roles)."""

    time_zone = models.CharField(max_length=64, default="UTC", choices=_time_zone_choices)
    feed_token = models.CharField(max_length=64, unique=True, default=new_feed_token, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A personal token for the pipeline API. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “Jenkins PAY pipeline”.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The first characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="apitoken_has_name"),
            models.CheckConstraint(
                condition=models.Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="apitoken_key_hash_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class WorkerHeartbeat(models.Model):
    """Last time each background process proved it was alive (written by beat through the worker)."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class Follow(models.Model):
    """A person follows a portfolio (its programmes included) or an application: Home's "Needs
    attention" then covers only what they follow; someone who follows nothing sees everything."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follows")
    portfolio = models.ForeignKey(
        "releases.Portfolio", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    application = models.ForeignKey(
        "releases.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(portfolio__isnull=True, application__isnull=False)
                | models.Q(portfolio__isnull=False, application__isnull=True),
                name="follow_one_subject",
            ),
            models.UniqueConstraint(fields=["user", "portfolio"], name="follow_unique_portfolio"),
            models.UniqueConstraint(fields=["user", "application"], name="follow_unique_application"),
        ]

    def __str__(self) -> str:
        return f"{self.user} follows {self.portfolio or self.application}"


class SsoIdentity(models.Model):
    """The identity provider's subject (`sub`) a user signs in as (portal.sso). A user is found by it,
    never by a name the provider sends, so a renamed account stays the same user."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    last_sign_in = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="portal_ssoidentity_unique_subject")
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"
