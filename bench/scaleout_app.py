"""The Celery app of bench/scaleout.py's two workers: the project's own, with a visibility timeout of two
minutes instead of an hour, so the message of a sync whose worker the bench kills comes back to the other
worker within the run. Two minutes stays above the time the bench's sync takes, so a live worker's message
is never handed out twice."""

from portal.celery import app

app.conf.broker_transport_options = {**app.conf.broker_transport_options, "visibility_timeout": 120}
