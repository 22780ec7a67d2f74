"""The Jira answers a sync pages through besides issue searches: id-only searches (the reconcile's
sweep), Cloud version pages, the API user's time zone, the approximate count. Pure parsing, no HTTP."""

import pytest

from integrations.http import BadPayload
from integrations.parse import ParseError
from integrations.parse.jira import (
    parse_approximate_count,
    parse_id_page,
    parse_time_zone,
    parse_version_page,
)

VERSION = {"id": "10000", "name": "4.2", "released": False, "archived": False}


def test_a_cloud_id_page_follows_its_token_until_the_last():
    page = parse_id_page({"issues": [{"id": 7}, {"id": "8"}], "nextPageToken": "t2", "isLast": False})
    assert (page.ids, page.next_token) == (["7", "8"], "t2")
    assert parse_id_page({"issues": [{"id": "9"}], "nextPageToken": "t3", "isLast": True}).next_token is None
    assert parse_id_page({"issues": []}).next_token is None  # no isLast: nothing more to ask


def test_a_data_center_id_page_ends_at_the_total():
    page = parse_id_page({"issues": [{"id": "1"}, {"id": "2"}], "total": 5}, start_at=2)
    assert (page.ids, page.next_token) == (["1", "2"], "4")
    assert parse_id_page({"issues": [{"id": "5"}], "total": 5}, start_at=4).next_token is None
    assert parse_id_page({"issues": [], "total": 9}, start_at=4).next_token is None  # never loops


@pytest.mark.parametrize("payload", [[], {"total": 1}, {"issues": [{"key": "A-1"}]}, {"issues": [None]}])
def test_an_unreadable_id_page_is_a_bad_payload_naming_jira(payload):
    with pytest.raises(ParseError, match="Jira") as raised:
        parse_id_page(payload)
    assert isinstance(raised.value, BadPayload)  # a sync fails readably instead of crashing


def test_cloud_version_pages_end_on_is_last_or_an_empty_page():
    assert parse_version_page({"values": [VERSION], "isLast": False})[1] is False
    versions, last = parse_version_page({"values": [VERSION], "isLast": True})
    assert ([v.name for v in versions], last) == (["4.2"], True)
    assert parse_version_page({"values": [], "isLast": False}) == ([], True)


def test_the_time_zone_and_the_count_default_when_jira_says_nothing_usable():
    assert parse_time_zone({"timeZone": "Europe/Berlin"}) == "Europe/Berlin"
    assert parse_time_zone({}) == parse_time_zone(None) == "UTC"
    assert parse_approximate_count({"count": 1200}) == 1200
    assert parse_approximate_count({"count": "many"}) is None
    assert parse_approximate_count(None) is None
