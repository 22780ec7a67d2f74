"""Request values parsed at the edge: query parameters, path values and JSON bodies in, typed values out.

Every function refuses with a releases.errors.DomainError (400) naming the parameter, so a value
that is not an integer, a day outside MIN_DAY..MAX_DAY, a NUL byte or a megabyte string never reaches
the database or date arithmetic. Days are kept well inside Python's years 1..9999, so a view may add
or subtract months and years to them without overflowing.
"""

import json
from datetime import UTC, date, datetime, time

from releases.errors import DomainError

MIN_DAY, MAX_DAY = date(1900, 1, 1), date(2999, 12, 31)
MIN_MOMENT = datetime.combine(MIN_DAY, time(), tzinfo=UTC)
MAX_MOMENT = datetime.combine(MAX_DAY, time.max, tzinfo=UTC)
MAX_ID = 2**63 - 1  # a BigAutoField
TEXT_LENGTH = 200  # a name, a key, a version, a token, unless the caller says otherwise
MAX_JSON_DEPTH = 32


def _shown(value: str) -> str:
    """The value as it may be quoted back: short, and with control characters visible."""
    return repr(value[:40]) + ("…" if len(value) > 40 else "")


def text(value, *, name: str, max_length: int = TEXT_LENGTH) -> str:
    """A string without NUL characters and at most `max_length` characters long, stripped."""
    value = "" if value is None else str(value)
    if "\x00" in value:
        raise DomainError(f"The {name} must not contain a NUL character.", field=name)
    if len(value) > max_length:
        raise DomainError(f"The {name} is longer than {max_length:,} characters.", field=name)
    return value.strip()


def integer(value, *, name: str, default: int | None = None, minimum: int = 0, maximum: int = MAX_ID):
    """An integer written in ASCII digits (str.isdigit() also accepts "²", which int() refuses), in
    [minimum, maximum]; a missing or empty value is `default`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise DomainError(f"The {name} must be a number.", field=name)
    if isinstance(value, int):
        number = value
    else:
        raw = str(value).strip()
        digits = raw[1:] if raw[:1] in "+-" else raw
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
            raise DomainError(f"The {name} must be a number, not {_shown(raw)}.", field=name)
        number = int(raw)
    if not minimum <= number <= maximum:
        raise DomainError(f"The {name} must be from {minimum:,} to {maximum:,}.", field=name)
    return number


def object_id(value, *, name: str = "id") -> int | None:
    """The id of a stored row: a positive integer, or None when missing."""
    return integer(value, name=name, minimum=1)


def day(value, *, name: str, default: date | None = None, required: bool = False) -> date | None:
    """An ISO day (YYYY-MM-DD) between MIN_DAY and MAX_DAY; a missing one is `default`, or refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DomainError(f"The {name} is missing: give it as YYYY-MM-DD.", field=name)
        return default
    raw = text(value, name=name, max_length=40)
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise DomainError(f"The {name} must be a day as YYYY-MM-DD, not {_shown(raw)}.", field=name) from None
    return day_in_range(parsed, name=name)


def day_in_range(value: date, *, name: str) -> date:
    if not MIN_DAY <= value <= MAX_DAY:
        raise DomainError(f"The {name} must lie between {MIN_DAY} and {MAX_DAY}.", field=name)
    return value


def moment(value, *, name: str) -> datetime:
    """An ISO 8601 time with its UTC offset (a time without one would be a guess), in range."""
    example = "e.g. 2030-01-07T10:00:00+01:00"
    if not isinstance(value, str):
        raise DomainError(f"Give {name} as ISO 8601, {example}.", field=name)
    raw = text(value, name=name, max_length=64)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise DomainError(f"Give {name} as ISO 8601, {example}.", field=name) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise DomainError(f"Give {name} with its UTC offset, e.g. 2030-01-07T10:00:00Z.", field=name)
    if not MIN_DAY <= parsed.date() <= MAX_DAY:
        raise DomainError(f"The {name} must lie between {MIN_DAY} and {MAX_DAY}.", field=name)
    return parsed.astimezone(UTC)


def _depth(value, limit: int) -> int:
    """How deeply lists and objects nest in a parsed JSON value (stops counting past `limit`)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def json_object(body: bytes, *, empty: dict | None = None) -> dict:
    """The request body as a JSON object; an empty body is `empty` when given. Malformed, deeply
    nested or non-object bodies are refused."""
    if not body and empty is not None:
        return empty
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise DomainError("Send a JSON object: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise DomainError("Send a JSON object.")
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DomainError(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    return data
