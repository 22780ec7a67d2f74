"""The sandbox's JQL: a tokenizer and a recursive-descent parser for the subset it serves, strict.

A query is parsed whole before anything is searched; what the subset does not know (a field, an
operator a field does not take, a function, a malformed date) is refused with a JqlError whose text
reads like Jira's own, which the routes answer as Jira does: 400 {"errorMessages": [...], "errors": {}}.
Nothing here knows the dataset: jira.py evaluates the tree against it.

    query    := [or] [ORDER BY sort ("," sort)*]
    or       := and (("OR" | "||") and)*
    and      := not (("AND" | "&&") not)*
    not      := ("NOT" | "!") not | "(" or ")" | clause
    clause   := field op value | field ("IS" ["NOT"]) ("EMPTY" | "NULL")
    op       := "=" | "!=" | ">" | ">=" | "<" | "<=" | "IN" | "NOT IN"
    value    := word | "quoted" | 'quoted' | function "(" [value ("," value)*] ")" | list (IN only)
    sort     := field ["ASC" | "DESC"]

Fields: project, key (issuekey), id, fixVersion, status, statusCategory, issuetype (type),
priority, resolution, created, updated, resolutiondate (resolved). Keywords and field names are
case-insensitive, as in Jira. Dates are "yyyy-MM-dd" or "yyyy/MM/dd", optionally with " HH:mm",
read in the API user's time zone, or periods relative to now ("-5d", "-2w", "4h", "-30m").
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# field -> its kind; the kind decides the operators it takes
FIELDS = {
    "project": "choice",
    "key": "key",
    "id": "key",
    "fixversion": "version",
    "status": "choice",
    "statuscategory": "choice",
    "issuetype": "choice",
    "priority": "choice",
    "resolution": "choice",
    "created": "date",
    "updated": "date",
    "resolutiondate": "date",
}
ALIASES = {"issuekey": "key", "type": "issuetype", "resolved": "resolutiondate", "fixversions": "fixversion"}
KNOWN_UNSUPPORTED = {
    "summary",
    "description",
    "text",
    "labels",
    "assignee",
    "reporter",
    "sprint",
    "component",
}
OPERATORS = {
    "choice": {"=", "!=", "in", "not in", "is", "is not"},
    "version": {"=", "!=", "in", "not in", "is", "is not"},
    "key": {"=", "!=", "in", "not in", ">", ">=", "<", "<="},
    "date": {"=", "!=", ">", ">=", "<", "<=", "is", "is not"},
}
SORTABLE = {"project", "key", "id", "status", "issuetype", "priority", "created", "updated", "resolutiondate"}
FUNCTIONS = {"releasedversions", "unreleasedversions"}  # fixVersion in releasedVersions(PAY)
RESERVED = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
PERIOD_RE = re.compile(r"([-+]?)((?:\d+[wdhm]\s*)+)")
PERIOD_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}
TOKEN_RE = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|&&|\|\||!~|[=<>~(),!])
      | (?P<word>[^\s"'=!<>~(),&|]+)""",
    re.X,
)


class JqlError(ValueError):
    """A query the subset refuses; its text is Jira's errorMessages entry."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "op", "end"
    text: str
    at: int  # 1-based character, as Jira counts in its messages

    @property
    def keyword(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


@dataclass(frozen=True)
class Function:
    name: str  # lower-case
    args: tuple[str, ...]


EMPTY = "EMPTY"  # the value of `IS EMPTY` / `IS NULL`


@dataclass(frozen=True)
class Clause:
    field: str  # canonical lower-case name
    op: str  # "=", "!=", ">", ">=", "<", "<=", "in", "not in", "is", "is not"
    values: tuple  # strings, Function, or EMPTY


@dataclass(frozen=True)
class And:
    parts: tuple


@dataclass(frozen=True)
class Or:
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


@dataclass(frozen=True)
class Query:
    where: object | None  # Clause, And, Or, Not; None matches every issue
    order: tuple[tuple[str, str], ...]  # (field, "asc" | "desc")


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        match = TOKEN_RE.match(text, at)
        if not match and text[at] in "\"'":
            raise JqlError(f"Error in the JQL Query: The quoted string has not been completed. {_at(at)}")
        if not match:
            character = text[at]
            raise JqlError(
                f"Error in the JQL Query: The character '{character}' is a reserved JQL character. "
                f"You must enclose it in a string or use the escape '\\u{ord(character):04x}' instead. "
                f"(line 1, character {at + 1})"
            )
        kind = match.lastgroup
        if kind == "string":
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", match.group()[1:-1]), at + 1))
        elif kind != "space":
            tokens.append(Token(kind, match.group(), at + 1))
        at = match.end()
    tokens.append(Token("end", "EOF", len(text) + 1))
    return tokens


def _at(index: int) -> str:
    return f"(line 1, character {index + 1})"


def parse(text: str) -> Query:
    """The query's tree, or JqlError with Jira's wording."""
    if not isinstance(text, str):
        raise JqlError("The JQL query must be a string.")
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.position = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def at_op(self, text: str) -> bool:
        """The current token is that operator or punctuation, not a quoted string that reads the same."""
        return self.token.kind == "op" and self.token.text == text

    def expected(self, what: str) -> JqlError:
        token = self.token
        got = "EOF" if token.kind == "end" else token.text
        return JqlError(
            f"Error in the JQL Query: Expecting {what} but got '{got}'. (line 1, character {token.at})"
        )

    def query(self) -> Query:
        where = None
        if self.token.kind != "end" and self.token.keyword != "order":
            where = self.or_()
        order = ()
        if self.token.keyword == "order":
            self.take()
            if self.token.keyword != "by":
                raise self.expected("'by'")
            self.take()
            order = tuple(self.sorts())
        if self.token.kind != "end":
            raise self.expected("either 'OR' or 'AND'" if where else "a field name")
        return Query(where, order)

    def sorts(self):
        while True:
            field = self.field_name(sorting=True)
            direction = "asc"
            if self.token.keyword in ("asc", "desc"):
                direction = self.take().keyword
            yield field, direction
            if not self.at_op(","):
                return
            self.take()

    def or_(self):
        parts = [self.and_()]
        while self.token.keyword == "or" or self.at_op("||"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self):
        parts = [self.not_()]
        while self.token.keyword == "and" or self.at_op("&&"):
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_(self):
        if self.token.keyword == "not" or self.at_op("!"):
            self.take()
            return Not(self.not_())
        if self.at_op("("):
            self.take()
            inner = self.or_()
            if not self.at_op(")"):
                raise self.expected("')'")
            self.take()
            return inner
        return self.clause()

    def field_name(self, *, sorting: bool = False) -> str:
        token = self.token
        if token.kind not in ("word", "string") or token.keyword in RESERVED:
            raise self.expected("a field name")
        self.take()
        name = ALIASES.get(token.text.lower(), token.text.lower())
        if name in KNOWN_UNSUPPORTED:
            raise JqlError(f"The sandbox's JQL does not support the field '{token.text}'.")
        if name not in FIELDS:
            raise JqlError(f"Field '{token.text}' does not exist or you do not have permission to view it.")
        if sorting and name not in SORTABLE:
            raise JqlError(f"The sandbox's JQL cannot order by the field '{token.text}'.")
        return name

    def operator(self) -> str:
        token = self.token
        if token.kind == "op" and token.text in ("=", "!=", ">", ">=", "<", "<=", "~", "!~"):
            self.take()
            return token.text
        if token.keyword == "in":
            self.take()
            return "in"
        if token.keyword in ("not", "is"):
            self.take()
            if token.keyword == "is" and self.token.keyword == "not":
                self.take()
                return "is not"
            if token.keyword == "not":
                if self.token.keyword != "in":
                    raise self.expected("'in'")
                self.take()
                return "not in"
            return "is"
        raise self.expected("operator")

    def clause(self) -> Clause:
        field_token = self.token
        field = self.field_name()
        op = self.operator()
        if op not in OPERATORS[FIELDS[field]]:
            raise JqlError(f"The operator '{op.upper()}' is not supported by the '{field_token.text}' field.")
        if op in ("is", "is not"):
            if self.token.keyword not in ("empty", "null"):
                raise self.expected("EMPTY or NULL")
            self.take()
            return Clause(field, op, (EMPTY,))
        if op in ("in", "not in"):
            if self.at_op("("):
                self.take()
                values = [self.value()]
                while self.at_op(","):
                    self.take()
                    values.append(self.value())
                if not self.at_op(")"):
                    raise self.expected("')'")
                self.take()
                return Clause(field, op, tuple(values))
            value = self.value()
            if not isinstance(value, Function):
                at = self.tokens[self.position - 1].at
                raise JqlError(
                    f"Error in the JQL Query: Expecting '(' for the list of values for the operator "
                    f"'{op.upper()}' but got '{value}'. (line 1, character {at})"
                )
            return Clause(field, op, (value,))
        value = self.value()
        if isinstance(value, Function):
            raise JqlError(f"The function '{value.name}' is not supported with the operator '{op}'.")
        return Clause(field, op, (value,))

    def value(self):
        token = self.token
        if token.kind == "string":
            self.take()
            return token.text
        if token.kind != "word" or token.keyword in RESERVED:
            raise self.expected("either a value, list or function")
        self.take()
        if self.at_op("("):
            name = token.text.lower()
            if name not in FUNCTIONS:
                raise JqlError(f"Unable to find JQL function '{token.text}()'.")
            self.take()
            args = []
            while not self.at_op(")"):
                if args:
                    if not self.at_op(","):
                        raise self.expected("',' or ')'")
                    self.take()
                if self.token.kind not in ("word", "string"):
                    raise self.expected("a function argument")
                args.append(self.take().text)
            self.take()
            return Function(name, tuple(args))
        return token.text


def moment(value: str, *, field: str, zone: str, now: datetime) -> datetime:
    """A date value as Jira reads it: a wall time in the API user's zone (a date alone is its
    midnight), or a period from now."""
    text = value.strip()
    period = PERIOD_RE.fullmatch(text)
    if period:
        span = sum(
            (
                int(amount) * PERIOD_UNITS[unit]
                for amount, unit in re.findall(r"(\d+)([wdhm])", period.group(2))
            ),
            timedelta(),
        )
        return now - span if period.group(1) == "-" else now + span
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=ZoneInfo(zone))
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{value}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )
