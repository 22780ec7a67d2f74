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
