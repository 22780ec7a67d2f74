import logging
from contextlib import contextmanager
from contextvars import ContextVar

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import transaction

from releases.audit import CheckpointFileError, audit_checkpoint, audit_verify
from releases.environments.services import notifications as booking_notifications
from releases.gates.services import notifications
from releases.gates.services import policies as gate_services  # a module: policies.py enqueues these tasks
from releases.gates.services.evidence import gate_evidence_refresh
from releases.metrics.rollups import metrics_rollup
from releases.notifications.services import chat, delivery, slips
from releases.planning.services.forecasting import forecast_refresh

logger = logging.getLogger(__name__)


@shared_task
def audit_verify_task() -> dict:
    result = audit_verify()
    if not result.ok:
        logger.error("audit chain broken at #%s: %s", result.bad_seq, result.problem)
    return result.as_dict()


@shared_task
def audit_checkpoint_task() -> dict:
    """Beat: anchor the chain's head in the checkpoint file (nothing when it has not grown)."""
    try:
        mark = audit_checkpoint()
    except (CheckpointFileError, ValueError) as error:
        logger.error("audit checkpoint refused: %s", error)
        return {"written": False, "error": str(error)}
    return {"written": mark is not None, "seq": mark.seq if mark else None}


@shared_task
def forecast_refresh_task() -> dict:
    return {"changed": forecast_refresh()}


_batched_refresh: ContextVar[list | None] = ContextVar("batched_forecast_refresh", default=None)


def forecast_refresh_after_commit() -> None:
    """Queue forecast_refresh_task once the transaction commits; inside one_forecast_refresh(), once
    for the whole batch instead."""
    batch = _batched_refresh.get()
    if batch is not None:
        batch.append(True)
    else:
        transaction.on_commit(lambda: forecast_refresh_task.delay())


@contextmanager
def one_forecast_refresh():
    """Writes of one transaction that each would queue a refresh (an import of hundreds of releases)
    queue one, when the block ends without an error."""
    batch: list = []
    token = _batched_refresh.set(batch)
    try:
        yield
    finally:
        _batched_refresh.reset(token)
    if batch:
        transaction.on_commit(lambda: forecast_refresh_task.delay())


@shared_task
def metrics_rollup_task(*, full: bool = False) -> dict:
    result = metrics_rollup(full=full)
    return {"since": str(result.since), "through": str(result.through), "outcomes": result.outcomes}


@shared_task
def gate_evidence_refresh_task(*, release_ids: list[int]) -> dict:
    """After new facts (a sync, an uploaded report): the gates' evidence, then the forecast, which a
    failed build or gate blocks, so a release shows blocked without waiting for beat's refresh."""
    changed = gate_evidence_refresh(release_ids=release_ids)
    return {"changed": changed, "forecasts_changed": forecast_refresh()}


@shared_task
def gate_policy_propagate_task(
    *, portfolio_ids: list[int] | None, by_id: int | None = None, removed_gate_ids: list[int] | None = None
) -> dict:
    """After a policy change: the open releases in its reach follow it (None: every portfolio)."""
    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    result = gate_services.gates_propagate(
        portfolio_ids=portfolio_ids, by=by, removed_gate_ids=removed_gate_ids or ()
    )
    return result.as_dict()


# --- notifications (sent by the worker, enqueued after commit) -------------------------------------


@shared_task
def gates_announce_task() -> dict:
    """After a gate change, and from beat: tell the signers of gates that entered their lead time, once
    per gate, one summary per person."""
    return {"sent": notifications.gates_announce()}


@shared_task
def gate_waiting_notify_task(*, gate_ids: list[int]) -> dict:
    """Kept for messages queued before gates_announce_task: announces those gates within lead time."""
    return {"sent": notifications.gate_waiting_notify(gate_ids=gate_ids)}


@shared_task
def gate_decided_notify_task(*, gate_id: int) -> dict:
    """E-mail the release owner and the signer group that a gate was decided (passed, failed, waived)."""
    return {"sent": notifications.gate_decided_notify(gate_id=gate_id)}


@shared_task
def gates_overdue_notify_task() -> dict:
    """Beat: e-mail the signer groups of gates that became overdue, once per gate."""
    return {"sent": notifications.gates_overdue_notify()}


@shared_task
def slip_alerts_notify_task(*, alerts: list[dict]) -> dict:
    """E-mail the owners of releases whose forecast moved past their target (claimed by the refresh)."""
    return {"sent": slips.slip_alerts_notify(alerts=alerts)}


@shared_task
def notifications_digest_task() -> dict:
    """Beat, daily: one e-mail per person with the notices they chose to get in the digest."""
    return {"sent": delivery.digest_send()}


@shared_task(
    autoretry_for=(chat.ChatWebhookRetry,),
    retry_backoff=30,  # 30 s, 60 s, 120 s... with jitter, at most an hour apart
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=6,
)
def chat_webhook_post_task(*, webhook_id: int, text: str, link: str) -> dict:
    """Post one slip or gate decision to one chat webhook, signed; retried with backoff."""
    return chat.chat_webhook_post(webhook_id=webhook_id, text=text, link=link)


@shared_task
def booking_notify_task(*, booking_id: int, event: str) -> dict:
    """E-mail the requester and the environment's admins about a booking decision."""
    return {"sent": booking_notifications.booking_notify(booking_id=booking_id, event=event)}
