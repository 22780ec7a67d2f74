"""Pure parsers: a tool's raw JSON or XML in, small dataclasses out. No ORM, no network."""

from integrations.http import BadPayload


class ParseError(BadPayload, ValueError):
    """The payload is not what the tool should have sent; the message says what and where. To a sync
    it is a BadPayload like any other answer it cannot read; at an upload (a JUnit report) it is the
    sender's bad input, so its own answer is 400."""

    status = 400
