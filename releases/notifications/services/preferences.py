"""A person's choice, per kind of notice, of how to hear of it: at once, in the daily digest, or
not by e-mail."""

from django.core.exceptions import ValidationError
from django.db import transaction

from releases.audit import audit_record
from releases.models import Delivery, NotificationKind, NotificationPreference


def notification_preferences(*, user) -> dict[str, str]:
    """Every kind with its delivery (Delivery.IMMEDIATE where nothing is stored): one query."""
    stored = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: stored.get(kind, Delivery.IMMEDIATE.value) for kind in NotificationKind.values}


@transaction.atomic
def notification_preferences_save(*, user, choices: dict[str, str]) -> dict[str, str]:
    """Store the user's choices (kinds left out keep theirs); audited. ValidationError, by kind, for
    an unknown kind or delivery, and nothing is written."""
    errors = {kind: "Not a kind of notification." for kind in choices if kind not in NotificationKind.values}
    errors |= {
        kind: f"Choose one of: {', '.join(Delivery.labels)}."
        for kind, value in choices.items()
        if kind in NotificationKind.values and value not in Delivery.values
    }
    if errors:
        raise ValidationError(errors)
    before = notification_preferences(user=user)
    after = before | choices
    if after == before:
        return after
    # Stored: what differs from the default (at once); a kind set back to it loses its row.
    NotificationPreference.objects.filter(user=user, kind__in=choices).delete()
    NotificationPreference.objects.bulk_create(
        NotificationPreference(user=user, kind=kind, delivery=value)
        for kind, value in choices.items()
        if value != Delivery.IMMEDIATE
    )
    audit_record(
        actor=user,
        action="notificationpreference.update",
        obj=user,
        before=before,
        after=after,
    )
    return after
