"""The GitHub parsers read every recorded GitHub payload in ../shared/payloads/github."""

import json
from datetime import UTC, datetime

import pytest

from integrations.parse import ParseError
from integrations.parse.github import (
    deployment_outcome,
    page_meta,
    parse_deployment,
    parse_deployment_status,
    parse_link_header,
    parse_pull_request,
    parse_release,
    retry_after,
)
from integrations.sandbox.github import GithubDataset
from releases.models import Deployment
from tests.integrations.payloads import PAYLOADS, load_json, payload_files, replay_exchanges

GITHUB = PAYLOADS / "github"
NOW = 1_600_000_000.0


def _replay(name: str):
    return replay_exchanges(GITHUB / name)


def test_every_github_payload_is_read_by_a_test_here():
    read_here = {
        "github_check_runs_for_ref.pygithub-replay.txt",
        "github_conditional_request_304.pygithub-replay.txt",
        "github_latest_release.pygithub-replay.txt",
        "github_list_deployment_statuses.pygithub-replay.txt",
        "github_list_deployments.pygithub-replay.txt",
        "github_list_pulls_state_all.devlake.json",
        "github_paginate_link_header_etag.octokit-fixtures.json",
        "github_primary_rate_limit_exceeded_403.pygithub-replay.txt",
        # The webhook bodies and signature vectors are read by test_webhooks.py.
        "github_webhook_deployment_body.octokit-webhooks.json",
        "github_webhook_deployment_status_body.octokit-webhooks.json",
        "github_webhook_push_body_signed_mysecret.adnanh-webhook.json",
        "github_webhook_signature_vectors.assembled.json",
    }
    assert {p.name for p in payload_files("github")} == read_here


def test_deployments_list():
    (exchange,) = _replay("github_list_deployments.pygithub-replay.txt")
    deployments = [parse_deployment(d) for d in json.loads(exchange.body)]
    assert len(deployments) == 2
    first = deployments[0]
    assert (first.id, first.environment, first.production) == (263877258, "test", False)
    assert first.sha == first.ref == "743f5a58b0bce91c4eab744ff7e39dfca9e6e8a5"
    assert first.created_at == datetime(2020, 8, 26, 11, 44, 53, tzinfo=UTC)
    assert first.statuses_url.endswith("/deployments/263877258/statuses")
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.etag == 'W/"38512da93238689c49f6a4fab46c4650"'
    assert (meta.next_url, meta.retry_after, meta.not_modified) == ("", None, False)


def test_deployment_statuses_and_outcome():
    (exchange,) = _replay("github_list_deployment_statuses.pygithub-replay.txt")
    statuses = [parse_deployment_status(s) for s in json.loads(exchange.body)]
    assert len(statuses) == 3
    assert {s.deployment_id for s in statuses} == {263877258}
    assert {s.status for s in statuses} == {"in_progress"}  # all "queued"
    assert deployment_outcome(statuses) == "in_progress"
    assert deployment_outcome([]) == "in_progress"


def test_webhook_deployment_bodies_parse_like_the_api():
    status_body = load_json("github", "github_webhook_deployment_status_body.octokit-webhooks.json")
    status = parse_deployment_status(status_body["deployment_status"])
    deployment = parse_deployment(status_body["deployment"])
    assert (status.deployment_id, status.status) == (deployment.id, "success") == (145988746, "success")
    body = load_json("github", "github_webhook_deployment_body.octokit-webhooks.json")
    assert parse_deployment(body["deployment"]).environment == "production"


def test_newest_status_wins_and_every_state_maps_to_a_domain_status():
    statuses = [
        parse_deployment_status(
            {"id": n, "state": state, "deployment_url": "https://x/deployments/9", "created_at": at}
        )
        for n, (state, at) in enumerate(
            [("pending", "2024-01-01T10:00:00Z"), ("failure", "2024-01-01T10:05:00Z")]
        )
    ]
    assert deployment_outcome(statuses) == "failure"
    for state in ("success", "inactive", "failure", "error", "queued", "pending", "in_progress"):
        status = parse_deployment_status(
            {"id": 1, "state": state, "deployment_url": "https://x/deployments/9", "created_at": None}
        )
        assert status.status in Deployment.Status.values
    with pytest.raises(ParseError, match="unknown state 'exploded'"):
        parse_deployment_status({"id": 1, "state": "exploded", "deployment_url": "x/1", "created_at": None})


def test_latest_release():
    (exchange,) = _replay("github_latest_release.pygithub-replay.txt")
    release = parse_release(json.loads(exchange.body))
    assert (release.id, release.tag, release.name) == (28524234, "v1.0", "Test")
    assert not release.draft and not release.prerelease
    assert release.published_at == datetime(2020, 7, 14, 0, 58, 20, tzinfo=UTC)
    assert release.url == "https://github.com/rickrickston123/RepoTest/releases/tag/v1.0"
    assert release.shipped  # published, neither a draft nor a prerelease
    raw = json.loads(exchange.body)
    assert not parse_release(raw | {"draft": True, "published_at": None}).shipped
    assert not parse_release(raw | {"prerelease": True}).shipped


def test_pull_requests_merged_and_closed_unmerged():
    raw = load_json("github", "github_list_pulls_state_all.devlake.json")
    pulls = {p.number: p for p in map(parse_pull_request, raw)}
    assert set(pulls) == {8, 13}
    assert pulls[8].state == "closed" and pulls[8].merged_at is None
    assert pulls[8].closed_at == datetime(2018, 10, 30, 0, 12, 13, tzinfo=UTC)
    assert (pulls[8].author, pulls[8].head_ref, pulls[8].base_ref) == ("hongli-my", "dev", "master")
    # A list item has no `merged` flag: "closed" with a merge time is merged.
    assert pulls[13].state == "merged"
    assert pulls[13].merged_at == pulls[13].closed_at == datetime(2018, 9, 29, 11, 29, 54, tzinfo=UTC)
    assert (pulls[13].head_sha, pulls[13].base_ref) == ("1846b4392a3a20e6bf1a7431b67f86bd43e0f0b9", "master")
    assert pulls[13].url == "https://github.com/panjf2000/ants/pull/13"
    assert pulls[13].milestone == "" and pulls[13].title.startswith("❓")


def test_an_open_pull_request_has_no_close_or_merge_time_and_an_unknown_state_is_refused():
    (raw, _) = load_json("github", "github_list_pulls_state_all.devlake.json")
    reopened = parse_pull_request(raw | {"state": "open", "milestone": {"title": "v4.2"}})
    assert (reopened.state, reopened.closed_at, reopened.merged_at, reopened.milestone) == (
        "open",
        None,
        None,
        "v4.2",
    )
    with pytest.raises(ParseError, match="unknown state 'locked'"):
        parse_pull_request(raw | {"state": "locked"})


def test_the_sandbox_answers_in_the_recorded_shapes():
    """Every key the sandbox sends is one the recorded GitHub answers have, and the parsers read it."""
    dataset = GithubDataset(repos={"acme/pay": 1}, pulls={"acme/pay": 3})
    dataset.publish("acme/pay", "v4.2", at=datetime(2026, 1, 9, tzinfo=UTC))
    (recorded_pull, _) = load_json("github", "github_list_pulls_state_all.devlake.json")
    (recorded_release,) = _replay("github_latest_release.pygithub-replay.txt")
    pull = dataset.pull("acme/pay", 2, "http://sandbox")
    (release,) = dataset.release_list("acme/pay", "http://sandbox")
    assert set(pull) <= set(recorded_pull)
    assert set(release) <= set(json.loads(recorded_release.body))
    assert parse_pull_request(pull).state == "merged"
    assert parse_release(release).shipped


def test_link_pagination_follows_next_until_the_last_page():
    exchanges = load_json("github", "github_paginate_link_header_etag.octokit-fixtures.json")
    by_path = {e["path"]: e for e in exchanges}
    path, pages = exchanges[0]["path"], []
    while path:
        exchange = by_path[path]
        pages.append(len(exchange["response"]))
        meta = page_meta(exchange["status"], exchange["headers"], now=NOW)
        assert meta.etag == '"00000000000000000000000000000000"'
        path = meta.next_url.removeprefix("https://api.github.com")
    assert pages == [3, 3, 3, 3, 1]


def test_check_runs_link_header_names_next_and_last():
    first, second = _replay("github_check_runs_for_ref.pygithub-replay.txt")
    links = parse_link_header(first.headers["link"])
    assert links["next"].endswith("check-runs?per_page=1&page=2")
    assert links["last"].endswith("check-runs?per_page=1&page=4")
    assert page_meta(second.status, second.headers, now=NOW).next_url == ""
    assert json.loads(second.body)["total_count"] == 4


def test_304_is_not_modified_and_asks_for_no_wait():
    (exchange,) = _replay("github_conditional_request_304.pygithub-replay.txt")
    assert "If-None-Match" in exchange.request_headers
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.not_modified and meta.retry_after is None
    assert meta.etag == '"8600bedcb7fed1d8065e1693e05529ce"'


def test_primary_rate_limit_403():
    ok, refused = _replay("github_primary_rate_limit_exceeded_403.pygithub-replay.txt")
    # The last allowed request already says 0 remain, but it succeeded: no wait for its own answer.
    assert retry_after(ok.status, ok.headers, now=NOW) is None
    assert refused.status == 403 and "Rate Limit Exceeded" in refused.body
    # This old recording carries no reset time: wait the minute GitHub asks for.
    assert retry_after(refused.status, refused.headers, now=NOW) == 60
    with_reset = refused.headers | {"x-ratelimit-reset": str(int(NOW) + 125)}
    assert retry_after(403, with_reset, now=NOW) == 125


def test_secondary_rate_limit_and_plain_403():
    assert retry_after(403, {"retry-after": "30"}, now=NOW) == 30
    assert retry_after(429, {}, now=NOW) == 60
    assert retry_after(403, {"x-ratelimit-remaining": "4000"}, now=NOW) is None
    assert retry_after(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, now=NOW) is None
