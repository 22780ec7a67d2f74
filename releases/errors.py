"""The one way a refusal becomes an HTTP answer.

Services, parsers and views raise a DomainError (or a subclass) whose message is written for the person
who asked; its class carries the HTTP status. Pages map it in one place (portal.errors, a middleware:
a readable page, or the message alone for HTMX) and the API in one place (releases.gates.api.detail, JSON).
A view that shows the refusal inside a form puts it there with form_add_errors.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class DomainError(Exception):
    """Bad input or a refused action: 400 unless the subclass (or `status=`) says otherwise.
    `field` names the form field or parameter the message is about, when there is one."""

    status = 400

    def __init__(self, message: str = "", *, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.field = field
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class NotFound(DomainError):
    """What the request names does not exist."""

    status = 404


class Refused(DomainError):
    """The user may not do this (segregation of duties, a missing role)."""

    status = 403


class Conflict(DomainError):
    """The state does not allow it now: a taken slot, a cycle, a stale signature."""

    status = 409


class TooLarge(DomainError):
    status = 413


def error_messages(error: Exception) -> dict[str | None, list[str]]:
    """{field or None: [messages]} of a DomainError or a ValidationError (with or without fields)."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return {(None if f == NON_FIELD_ERRORS else f): list(m) for f, m in error.message_dict.items()}
        return {None: list(error.messages)}
    return {getattr(error, "field", None): [str(error)]}


def form_add_errors(form, error: Exception) -> None:
    """Put a service's refusal onto `form`: each message on the field it names when the form has that
    field, else among the form's own (non-field) errors."""
    for field, messages in error_messages(error).items():
        form.add_error(field if field in form.fields else None, messages)
