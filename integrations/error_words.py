"""A sync's or a connection test's error in words a person can act on: what happened and the next step.

The runs keep the tool's raw message (SyncRun.error, integrations/http.py words it); the page shows the
readable line to everyone and the raw text, folded, to admins. Matched on the raw message's wording,
so a new kind of error reads as "unexpected" until it is named here."""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    what: str
    next_step: str
    unexpected: bool = False


RULES = [
    (
        r"rate-limited|\b429\b|rate limit",
        Problem(
            "The tool is limiting how fast Flightdeck may ask.",
            "Nothing to do: the sync waits as the tool asks and retries by itself.",
        ),
    ),
    (
        r"refused the credentials|\b40[13]\b|unauthori[sz]ed|forbidden",
        Problem(
            "The tool refused the connection's credentials (user or API token).",
            "An administrator renews the user and API token of this connection in the admin, "
            "then tests the connection again.",
        ),
    ),
    (
        r"\b404\b|not found",
        Problem(
            "The tool has nothing at the address Flightdeck asked: the address or a project key is wrong.",
            "Check the connection's base URL and its mapped project keys in the admin.",
        ),
    ),
    (
        r"did not answer .* in time|timed? ?out|timeout",
        Problem(
            "The tool did not answer in time.",
            "Check that the tool is up and reachable from the Flightdeck server; the next sync tries again.",
        ),
    ),
    (
        r"dropped the connection|connection refused|connecterror|name or service not known|"
        r"failed with 5\d\d|temporary failure in name resolution|no route to host",
        Problem(
            "Flightdeck could not reach the tool.",
            "Check the connection's base URL and that the tool is up; the next sync tries again.",
        ),
    ),
    (
        r"request budget",
        Problem(
            "The run used up its request budget before it finished.",
            "Raise the connection's request budget in the admin, or narrow its scope; "
            "the next sync continues from where this one stopped.",
        ),
    ),
    (
        r"invalid json|cut off",
        Problem(
            "The tool's answer could not be read (it was probably cut off).",
            "Run Sync now again; if it fails the same way, see the sync log.",
        ),
    ),
    (
        r"FIELD_ENCRYPTION_KEY|decrypt",
        Problem(
            "The connection's stored credentials cannot be read with this server's key.",
            "An administrator enters the credentials again in the admin.",
        ),
    ),
]

UNEXPECTED = Problem("The sync stopped on an unexpected error.", "See the sync log.", unexpected=True)


def problem_of(message: str) -> Problem | None:
    """The readable problem of a raw error message; None for no message."""
    if not message:
        return None
    text = message.removeprefix("Waiting to retry: ")
    for pattern, problem in RULES:
        if re.search(pattern, text, re.IGNORECASE):
            return problem
    return UNEXPECTED
