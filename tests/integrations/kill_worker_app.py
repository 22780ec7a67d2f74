"""The Celery app the kill tests start a worker with: the project's own, with a visibility timeout of
seconds so a killed worker's message comes back quickly; FLIGHTDECK_EARLY_ACK=1 makes the control run
acknowledge on receipt, which is what acks_late exists to prevent."""

import os

from portal.celery import app

app.conf.broker_transport_options = {**app.conf.broker_transport_options, "visibility_timeout": 3}
if os.environ.get("FLIGHTDECK_EARLY_ACK"):
    app.conf.task_annotations = {"integrations.tasks.connection_sync_task": {"acks_late": False}}
