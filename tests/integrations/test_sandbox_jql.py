"""The sandbox's JQL parser (integrations/sandbox/jql.py): the tree it builds, and what it refuses
with Jira's wording, without a server or a dataset."""

from datetime import UTC, datetime

import pytest

from integrations.sandbox.jql import (
    EMPTY,
    And,
    Clause,
    Function,
    JqlError,
    Not,
    Or,
    Query,
    moment,
    parse,
    tokenize,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_what_a_sync_sends_parses_to_its_clauses_and_order():
    query = parse('project in ("PAY", "WEB") AND updated >= "2026/01/05 09:30" ORDER BY created ASC')
    assert query == Query(
        And((Clause("project", "in", ("PAY", "WEB")), Clause("updated", ">=", ("2026/01/05 09:30",)))),
        (("created", "asc"),),
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("project = WEB", Clause("project", "=", ("WEB",))),
        ("PROJECT=web", Clause("project", "=", ("web",))),
        ("issuekey = PAY-1", Clause("key", "=", ("PAY-1",))),
        ("type != Bug", Clause("issuetype", "!=", ("Bug",))),
        ("fixVersion is EMPTY", Clause("fixversion", "is", (EMPTY,))),
        ("resolution IS NOT null", Clause("resolution", "is not", (EMPTY,))),
        ("status not in (Offen, 'In Arbeit')", Clause("status", "not in", ("Offen", "In Arbeit"))),
        (
            "fixVersion in unreleasedVersions(PAY)",
            Clause("fixversion", "in", (Function("unreleasedversions", ("PAY",)),)),
        ),
        ("summary_is_not_here = 1 OR id = 1", None),
    ],
)
def test_clauses(text, where):
    if where is None:
        with pytest.raises(JqlError, match="Field 'summary_is_not_here' does not exist"):
            parse(text)
    else:
        assert parse(text).where == where


def test_and_binds_tighter_than_or_and_parentheses_and_not_group():
    a, b, c = (Clause("project", "=", (k,)) for k in ("A", "B", "C"))
    assert parse("project = A OR project = B AND project = C").where == Or((a, And((b, c))))
    assert parse("(project = A OR project = B) AND project = C").where == And((Or((a, b)), c))
    assert parse("NOT project = A && !(project = B || project = C)").where == And((Not(a), Not(Or((b, c)))))


def test_order_by_alone_and_several_sort_fields():
    assert parse("order by created desc, key") == Query(None, (("created", "desc"), ("key", "asc")))
    assert parse("") == Query(None, ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project = ", "Expecting either a value, list or function but got 'EOF'. (line 1, character 11)"),
        ("project = PAY AND", "Expecting a field name but got 'EOF'"),
        ("project PAY", "Expecting operator but got 'PAY'"),
        ("project = PAY project = WEB", "Expecting either 'OR' or 'AND' but got 'project'"),
        ("(project = PAY", "Expecting ')' but got 'EOF'"),
        ("project in PAY", "Expecting '(' for the list of values for the operator 'IN'"),
        ("project = PAY ORDER created", "Expecting 'by' but got 'created'"),
        ("project ~ PAY", "The operator '~' is not supported by the 'project' field."),
        ("created in (2026-01-01)", "The operator 'IN' is not supported by the 'created' field."),
        ("summary ~ login", "The sandbox's JQL does not support the field 'summary'."),
        ("project = PAY ORDER BY fixVersion", "The sandbox's JQL cannot order by the field 'fixVersion'."),
        ("project = currentProject()", "Unable to find JQL function 'currentProject()'."),
        ('project = "PAY', "The quoted string has not been completed."),
        ("project = PAY & status = Offen", "The character '&' is a reserved JQL character."),
        ("status is Offen", "Expecting EMPTY or NULL but got 'Offen'"),
    ],
)
def test_what_it_cannot_parse_is_refused_with_jiras_wording(text, message):
    with pytest.raises(JqlError) as refused:
        parse(text)
    assert message in str(refused.value)


def test_quoted_values_keep_their_spaces_and_escapes():
    assert [token.text for token in tokenize(r'status = "In \"Arbeit\""')] == [
        "status",
        "=",
        'In "Arbeit"',
        "EOF",
    ]


def test_dates_are_wall_times_in_the_users_zone_or_periods_from_now():
    berlin = moment("2026-01-05 09:30", field="updated", zone="Europe/Berlin", now=NOW)
    assert berlin.astimezone(UTC) == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert moment("2026/01/31", field="created", zone="UTC", now=NOW) == datetime(2026, 1, 31, tzinfo=UTC)
    assert moment("-2d", field="created", zone="UTC", now=NOW) == datetime(2026, 2, 27, 12, 0, tzinfo=UTC)
    assert moment("-1w 2d", field="created", zone="UTC", now=NOW) == datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
    with pytest.raises(JqlError, match=r"Date value '31\.01\.2026' for field 'created' is invalid"):
        moment("31.01.2026", field="created", zone="UTC", now=NOW)


def test_a_quoted_string_is_a_value_never_syntax():
    """As in Jira: "||", "," and ")" in quotes are values, not OR, a separator or a closing paren."""
    assert parse('project = "||"') == Query(Clause("project", "=", ("||",)), ())
    with pytest.raises(JqlError):
        parse('fixVersion in ("4.2" "," "4.3")')
    with pytest.raises(JqlError):
        parse('project = PAY "||" project = WEB')
