from django.conf import settings
from django.db import models
from django.db.models import Q

from releases.models.release import Release


class ReleaseNotes(models.Model):
    """A release's notes as Markdown: drafted from its work items and pull requests, edited by a
    person, then published (the HTML is rendered from the Markdown whenever it is shown)."""

    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="notes")
    markdown = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "release notes"
        constraints = [
            models.CheckConstraint(
                condition=Q(published_at__isnull=True, published_by__isnull=True)
                | Q(published_at__isnull=False, published_by__isnull=False),
                name="releasenotes_published_by_whom",
            ),
        ]

    def __str__(self) -> str:
        return f"Notes of {self.release_id}"
