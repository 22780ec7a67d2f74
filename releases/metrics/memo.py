"""Sums over the stored roll-up, kept in the cache for the roll-up run they were read from.

Stored rows (ProductionOutcome, DailyFigure) change only when a roll-up commits, and each run writes
a new id (MetricsRollup.run) in the same transaction: a sum kept under a run's id is right for as long
as that run is the latest, and is never read again after it. The days after the roll-up are read live
on every request and never kept, so a figure is as fresh as without the cache.
"""

import hashlib
from collections.abc import Callable
from uuid import UUID

from django.core.cache import cache

KEEP_SECONDS = 24 * 3600  # a run is replaced within 15 minutes; a day keeps the cache small


def per_run(run: UUID | None, key: tuple, compute: Callable):
    """compute(), kept for the roll-up run `run` under `key` (reprs of frozen values: scope, days)."""
    if run is None:  # never rolled up: nothing is stored, nothing to keep
        return compute()
    name = "metrics:" + hashlib.sha256(repr((run.hex, key)).encode()).hexdigest()
    found = cache.get(name)
    if found is None:
        found = compute()
        cache.set(name, found, KEEP_SECONDS)
    return found
