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


class WorkerHeartbeat(models.Model):
    """Last time each background process proved it was alive (written by beat through the worker)."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
