from django.conf import settings
from django.db import models
from django.db.models import Q


class AuditEvent(models.Model):
    """One change, append-only, chained by a keyed hash: hash = HMAC-SHA256(key, prev_hash + canonical
    content), the key held outside the database (settings.AUDIT_CHAIN_KEY).

    Written in the same transaction as the change it records (releases.audit.audit_record).
    """

    seq = models.PositiveBigIntegerField(unique=True, help_text="Position in the instance's one chain.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, as named at the time.")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # What the event is about, for the audit page's release and portfolio filters: set at write time from
    # the object (a gate's or a sign-off's release, a release's portfolio...), hashed with the rest. No
    # database constraint: the events of a deleted release stay.
    release = models.ForeignKey(
        "releases.Release",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    portfolio = models.ForeignKey(
        "releases.Portfolio",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        permissions = [("verify_audit", "Can verify the audit chain and export evidence")]
        indexes = [
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_idx"),
            models.Index(fields=["release", "seq"], name="audit_release_idx"),
            models.Index(fields=["portfolio", "seq"], name="audit_portfolio_idx"),
            models.Index(fields=["actor", "seq"], name="audit_actor_idx"),
            models.Index(fields=["action", "seq"], name="audit_action_idx"),
            models.Index(fields=["created_at"], name="audit_created_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["prev_hash"], name="audit_chain_never_forks")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The one row that says where the chain ends; locking it serialises writers of the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_head_singleton")]

    def __str__(self) -> str:
        return f"audit chain at #{self.seq}"
