"""Sending a batch of e-mails where each message stands on its own.

A subject is made of data from the teams' tools (names, versions): CR/LF in it would be a header
injection, which Django refuses by raising for the whole batch. Here control characters in a subject
become spaces, and a message that still cannot be sent (a malformed address) is logged and skipped:
the rest of the batch goes out.
"""

import logging
import re
from collections.abc import Iterable

from django.core.mail import BadHeaderError, EmailMessage, get_connection

logger = logging.getLogger(__name__)
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(text: str) -> str:
    return CONTROL.sub(" ", text).strip()


def mail_send_each(messages: Iterable[tuple[str, str, str | None, list[str]]]) -> int:
    """(subject, body, from, recipients) each; how many were sent."""
    messages = list(messages)
    if not messages:
        return 0
    sent = 0
    with get_connection() as connection:
        for subject, body, from_email, recipients in messages:
            message = EmailMessage(header_safe(subject), body, from_email, recipients, connection=connection)
            try:
                sent += message.send()
            except (BadHeaderError, ValueError) as error:
                logger.warning("An e-mail to %r was not sent: %s", recipients, error)
    return sent
