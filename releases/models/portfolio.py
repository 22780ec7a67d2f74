from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from releases.models.base import choices_constraint, ends_after_start
from releases.querysets import PortfolioQuerySet


class Portfolio(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="A programme sits inside a portfolio.",
    )
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_portfolios")

    objects = PortfolioQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="portfolio_not_its_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """No parent loop: the new parent must not be this portfolio nor one of its descendants (the
        database refuses only the portfolio being its own parent)."""
        super().clean()
        looped = (
            self.parent_id is not None
            and self.pk is not None
            and Portfolio.objects.lineage(self.parent_id).filter(pk=self.pk).exists()
        )
        if looped:
            raise ValidationError(
                {"parent": "A portfolio cannot sit inside itself or one of its own programmes."}
            )


class Criticality(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Cadence(models.TextChoices):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly", "Every two weeks"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ON_DEMAND = "on_demand", "On demand"


class Application(models.Model):
    Criticality = Criticality
    Cadence = Cadence

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="applications")
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True, help_text="Short key, e.g. PAY.")
    criticality = models.CharField(max_length=16, choices=Criticality, default=Criticality.MEDIUM)
    release_cadence = models.CharField(max_length=16, choices=Cadence, default=Cadence.MONTHLY)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            choices_constraint("criticality", Criticality, "application_criticality_valid"),
            choices_constraint("release_cadence", Cadence, "application_cadence_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ReleaseTrain(models.Model):
    """An enterprise release: application releases that ship together in a window [starts_on, ends_on)."""

    ONE_DAY = timedelta(days=1)

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="trains")
    name = models.CharField(max_length=200)
    starts_on = models.DateField()
    ends_on = models.DateField()

    class Meta:
        ordering = ["starts_on", "name"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "name"], name="train_unique_name_per_portfolio"),
            ends_after_start("train_ends_after_start", start="starts_on", end="ends_on"),
        ]

    def __str__(self) -> str:
        return self.name
