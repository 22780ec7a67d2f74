"""A filtered calendar or release list saved under a name, shared with groups, with its own ICS feed."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from releases.models.base import choices_constraint

NAME_MAX_LENGTH = 100
QUERY_MAX_LENGTH = 2000


class SavedViewPage(models.TextChoices):
    CALENDAR = "calendar", "Calendar"
    LIST = "list", "Release list"


class SavedView(models.Model):
    """`query` is the filter query string of the calendar and the release list, normalised by
    releases.planning.services.saved_views.query_normalise (only ReleaseFilter's parameters, in a
    fixed order).
    The feed's secret token is never stored: `feed_token_hash` is its SHA-256 (like portal's API
    tokens), so the owner sees the subscription address once, when the token is made."""

    Page = SavedViewPage

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    page = models.CharField(max_length=16, choices=SavedViewPage)
    # TextField with a CHECK on its length: the same refusal on SQLite and PostgreSQL.
    query = models.TextField(blank=True, default="")
    shared_with = models.ManyToManyField("auth.Group", blank=True, related_name="saved_views")
    feed_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    feed_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_name_unique_per_owner"),
            models.CheckConstraint(condition=~Q(name=""), name="savedview_has_name"),
            choices_constraint("page", SavedViewPage, "savedview_page_valid"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("query"), QUERY_MAX_LENGTH), name="savedview_query_bounded"
            ),
            models.CheckConstraint(
                condition=Q(feed_token_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106 (a pattern, not a secret)
                name="savedview_feed_token_hash_sha256",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def feed_live(self) -> bool:
        return self.feed_revoked_at is None
