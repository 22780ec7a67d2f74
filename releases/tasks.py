import logging

from celery import shared_task

from releases.services.audit import audit_verify
from releases.services.forecasting import forecast_refresh

logger = logging.getLogger(__name__)


@shared_task
def audit_verify_task() -> dict:
    result = audit_verify()
    if not result.ok:
        logger.error("audit chain broken at #%s: %s", result.bad_seq, result.problem)
    return result.as_dict()


@shared_task
def forecast_refresh_task() -> dict:
    return {"changed": forecast_refresh()}


# --- notifications (sent by the worker, enqueued after commit) -------------------------------------


@shared_task
def gate_waiting_notify_task(*, gate_ids: list[int]) -> dict:
    """E-mail each gate's signer group that the gate waits for them."""
    return {"sent": 0}


@shared_task
def gate_decided_notify_task(*, gate_id: int) -> dict:
    """E-mail the release owner and the signer group that a gate was decided (passed, failed, waived)."""
    return {"sent": 0}


@shared_task
def gates_overdue_notify_task() -> dict:
    """Beat: e-mail the signer groups of gates that became overdue, once per gate."""
    return {"sent": 0}
