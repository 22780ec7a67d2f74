"""The Celery app of bench/load.py's two workers: the project's own, plus one marker task. Each marker
sent is a line appended to a file of the bench's temporary folder by whichever worker runs it, so the
bench can count markers sent against markers run (none lost, none run twice) across a Redis restart
without asking the database or the broker that the faults take away."""

import os
from pathlib import Path

from portal.celery import app

MARKER_TASK = "bench.load_marker"


@app.task(name=MARKER_TASK)
def load_marker(number: int) -> None:
    path = Path(os.environ["FLIGHTDECK_LOAD_MARKERS"])
    with path.open("a") as markers:  # one short line per write: appends from both workers stay whole
        markers.write(f"{number}\n")
