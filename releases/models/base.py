from datetime import UTC, datetime

from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def choices_constraint(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    """A CHECK that keeps an enum column inside its choices, whatever writes the row."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


def ends_after_start(name: str, start: str = "starts_at", end: str = "ends_at") -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{end}__gt": models.F(start)}), name=name)


def validate_rrule(value: str) -> None:
    """An RFC 5545 recurrence rule that dateutil can expand (freeze windows repeat by it)."""
    try:
        rrulestr(value, dtstart=datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"“{value}” is not an RFC 5545 RRULE ({exc}); e.g. FREQ=WEEKLY;BYDAY=FR"
        ) from None


class ExternalFact(models.Model):
    """A fact that may come from a team's tool: `source` names the connection, `external_id` the record.

    The domain does not know connections; the integrations layer writes an opaque source key such as
    "jira#3", and (source, external_id) is unique so a re-sync updates instead of duplicating.
    """

    source = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        abstract = True
