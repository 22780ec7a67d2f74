"""Pure parsers: a tool's raw JSON or XML in, small dataclasses out. No ORM, no network."""

from releases.errors import DomainError


class ParseError(DomainError, ValueError):
    """The payload is not what the tool should have sent; the message says what and where."""
