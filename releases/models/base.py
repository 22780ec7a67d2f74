from django.db import models
from django.db.models import Q


def choices_constraint(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    """A CHECK that keeps an enum column inside its choices, whatever writes the row."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


def ends_after_start(name: str, start: str = "starts_at", end: str = "ends_at") -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{end}__gt": models.F(start)}), name=name)


class ExternalFact(models.Model):
    """A fact that may come from a team's tool: `source` names the connection, `external_id` the record.

    The domain does not know connections; the integrations layer writes an opaque source key such as
    "jira#3", and (source, external_id) is unique so a re-sync updates instead of duplicating.
    """

    source = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        abstract = True
