"""What people are told, and how each of them wants to hear of each kind of notice."""

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from releases.models.base import choices_constraint


class NotificationKind(models.TextChoices):
    GATE_WAITING = "gate_waiting", "A gate waits for my sign-off"
    GATE_OVERDUE = "gate_overdue", "A gate I sign is overdue"
    GATE_DECIDED = "gate_decided", "A gate of my release, or one I sign, was decided"
    SLIP = "slip", "A release I own is forecast past its target"
    BOOKING = "booking", "A booking I requested or decide on changed"


class Delivery(models.TextChoices):
    IMMEDIATE = "immediate", "E-mail at once"
    DIGEST = "digest", "In my daily digest"
    OFF = "off", "No e-mail"


class NotificationPreference(models.Model):
    """How one person hears of one kind of notice; without a row, at once (Delivery.IMMEDIATE)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind)
    delivery = models.CharField(max_length=16, choices=Delivery)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notificationpreference_one_per_kind"),
            choices_constraint("kind", NotificationKind, "notificationpreference_kind_valid"),
            choices_constraint("delivery", Delivery, "notificationpreference_delivery_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.delivery}"


class Notification(models.Model):
    """One notice to one person, kept whatever its delivery: e-mailed at once (`emailed_at` set as it
    is sent), waiting for the daily digest (`emailed_at` set when the digest goes), or not e-mailed.
    Each is also in the person's inbox (/notifications/) until they mark it read (`read_at`)."""

    Kind = NotificationKind
    Delivery = Delivery

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind)
    delivery = models.CharField(max_length=16, choices=Delivery)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)  # read in the inbox (None: unread)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            choices_constraint("kind", NotificationKind, "notification_kind_valid"),
            choices_constraint("delivery", Delivery, "notification_delivery_valid"),
        ]
        indexes = [
            models.Index(
                fields=["delivery"],
                condition=models.Q(emailed_at__isnull=True, delivery="digest"),
                name="notification_digest_due_idx",
            ),
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
            # The header's unread count.
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="notification_unread_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class ChatStyle(models.TextChoices):
    SLACK = "slack", 'Slack (or Mattermost, Rocket.Chat): {"text": ...}'
    TEAMS = "teams", "Microsoft Teams (MessageCard)"


def _chat_kinds_valid(value) -> None:
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or any(kind not in CHAT_KINDS for kind in value):
        raise ValidationError(f"Choose among: {', '.join(CHAT_KINDS)} (empty: all of them).")


# The notices that concern a channel rather than one person: one post per event.
CHAT_KINDS = (NotificationKind.SLIP.value, NotificationKind.GATE_DECIDED.value)


class ChatWebhook(models.Model):
    """An incoming webhook of a chat tool that hears of slips and gate decisions, configured by an
    admin. Posts are signed with settings.CHAT_WEBHOOK_SIGNING_KEY (never stored in the database)."""

    Style = ChatStyle

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, validators=[URLValidator(schemes=["https"])])
    style = models.CharField(max_length=16, choices=ChatStyle, default=ChatStyle.SLACK)
    kinds = models.JSONField(
        default=list, blank=True, validators=[_chat_kinds_valid], help_text="slip, gate_decided; empty: both."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [choices_constraint("style", ChatStyle, "chatwebhook_style_valid")]

    def __str__(self) -> str:
        return self.name
