"""Pure parsers: a tool's raw JSON or XML in, small dataclasses out. No ORM, no network."""

from integrations.http import BadPayload


class ParseError(BadPayload):
    """The payload is not what the tool should have sent; the message says what and where. To a sync
    it is a BadPayload like any other answer it cannot read."""
