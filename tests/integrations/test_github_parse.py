"""The GitHub parsers read every GitHub payload in tests/fixtures/payloads/github."""

import json
from datetime import UTC, datetime

import pytest

from integrations.http import MAX_RETRY_AFTER
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
NOW = 1_749_000_000.0
API = "https://github.example.com/api/v3"


def _replay(name: str):
    return replay_exchanges(GITHUB / name)


def test_every_github_payload_is_read_by_a_test_here():
    read_here = {
        "check_runs_for_ref.replay.txt",
        "conditional_request_304.replay.txt",
        "latest_release.replay.txt",
        "list_deployment_statuses.replay.txt",
        "list_deployments.replay.txt",
        "list_pulls_state_all.json",
        "paginate_link_header.json",
        "rate_limit_exceeded_403.replay.txt",
        "webhook_deployment.json",
        "webhook_deployment_status.json",
        # The signed push body and the signature vectors are read by test_webhooks.py.
        "webhook_push.json",
        "webhook_signature_vectors.json",
    }
    assert {p.name for p in payload_files("github")} == read_here


def test_deployments_list():
    (exchange,) = _replay("list_deployments.replay.txt")
    deployments = [parse_deployment(d) for d in json.loads(exchange.body)]
    assert len(deployments) == 2
    first, second = deployments
    assert (first.id, first.environment, first.production) == (81000002, "uat", False)
    assert first.sha == first.ref == "7e3f1c2b9a8d4e6f0a1b2c3d4e5f60718293a4b5"
    assert first.created_at == datetime(2025, 6, 3, 14, 20, 11, tzinfo=UTC)
    assert first.statuses_url.endswith("/deployments/81000002/statuses")
    assert (second.environment, second.production, second.ref) == ("production", True, "v4.1.0")
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.etag == 'W/"4f1d2c0b9e8a7d6c5b4a39281706f5e4"'
    assert (meta.next_url, meta.retry_after, meta.not_modified) == ("", None, False)


def test_deployment_statuses_and_outcome():
    (exchange,) = _replay("list_deployment_statuses.replay.txt")
    statuses = [parse_deployment_status(s) for s in json.loads(exchange.body)]
    assert len(statuses) == 3
    assert {s.deployment_id for s in statuses} == {81000002}
    assert {s.status for s in statuses} == {"in_progress"}  # queued, pending, in_progress
    assert deployment_outcome(statuses) == "in_progress"
    assert deployment_outcome([]) == "in_progress"


def test_webhook_deployment_bodies_parse_like_the_api():
    status_body = load_json("github", "webhook_deployment_status.json")
    status = parse_deployment_status(status_body["deployment_status"])
    deployment = parse_deployment(status_body["deployment"])
    assert (status.deployment_id, status.status) == (deployment.id, "success") == (81000003, "success")
    body = load_json("github", "webhook_deployment.json")
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
    (exchange,) = _replay("latest_release.replay.txt")
    release = parse_release(json.loads(exchange.body))
    assert (release.id, release.tag, release.name) == (9100001, "v4.2.0", "Payments 4.2.0")
    assert not release.draft and not release.prerelease
    assert release.published_at == datetime(2025, 6, 4, 8, 30, tzinfo=UTC)
    assert release.url == "https://github.example.com/acme/payments/releases/tag/v4.2.0"
    assert release.shipped  # published, neither a draft nor a prerelease
    raw = json.loads(exchange.body)
    assert not parse_release(raw | {"draft": True, "published_at": None}).shipped
    assert not parse_release(raw | {"prerelease": True}).shipped


def test_pull_requests_merged_and_closed_unmerged():
    raw = load_json("github", "list_pulls_state_all.json")
    pulls = {p.number: p for p in map(parse_pull_request, raw)}
    assert set(pulls) == {21, 27}
    assert pulls[21].state == "closed" and pulls[21].merged_at is None
    assert pulls[21].closed_at == datetime(2025, 4, 20, 17, 45, 12, tzinfo=UTC)
    assert (pulls[21].author, pulls[21].head_ref, pulls[21].base_ref) == (
        "rhea",
        "spike/retry-budget",
        "main",
    )
    # A list item has no `merged` flag: "closed" with a merge time is merged.
    assert pulls[27].state == "merged"
    assert pulls[27].merged_at == pulls[27].closed_at == datetime(2025, 6, 3, 13, 58, 40, tzinfo=UTC)
    assert (pulls[27].head_sha, pulls[27].base_ref) == ("5d1e0b3c9a7f4e2d8c6b0a1f3e5d7c9b2a4f6e80", "main")
    assert pulls[27].url == "https://github.example.com/acme/payments/pull/27"
    assert pulls[27].milestone == "" and pulls[27].title.startswith("🚑")


def test_an_open_pull_request_has_no_close_or_merge_time_and_an_unknown_state_is_refused():
    (raw, _) = load_json("github", "list_pulls_state_all.json")
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
    """Every key the sandbox sends is one GitHub's answers have, and the parsers read it (the same
    check against recorded GitHub answers is in test_payload_fidelity.py)."""
    dataset = GithubDataset(repos={"acme/pay": 1}, pulls={"acme/pay": 3})
    dataset.publish("acme/pay", "v4.2", at=datetime(2026, 1, 9, tzinfo=UTC))
    (sample_pull, _) = load_json("github", "list_pulls_state_all.json")
    (sample_release,) = _replay("latest_release.replay.txt")
    pull = dataset.pull("acme/pay", 2, "http://sandbox")
    (release,) = dataset.release_list("acme/pay", "http://sandbox")
    assert set(pull) <= set(sample_pull)
    assert set(release) <= set(json.loads(sample_release.body))
    assert parse_pull_request(pull).state == "merged"
    assert parse_release(release).shipped


def test_link_pagination_follows_next_until_the_last_page():
    exchanges = load_json("github", "paginate_link_header.json")
    by_path = {e["path"]: e for e in exchanges}
    path, pages, etags = exchanges[0]["path"], [], []
    while path:
        exchange = by_path[path]
        pages.append([issue["number"] for issue in exchange["response"]])
        meta = page_meta(exchange["status"], exchange["headers"], now=NOW)
        etags.append(meta.etag)
        path = meta.next_url.removeprefix("https://github.example.com")
    assert pages == [[5, 4], [3, 2], [1]]
    assert etags == [f'"{digit * 32}"' for digit in "123"]


def test_check_runs_link_header_names_next_and_last():
    first, second = _replay("check_runs_for_ref.replay.txt")
    links = parse_link_header(first.headers["link"])
    assert links["next"].startswith(f"{API}/repositories/4711/")  # the repository's id, not its name
    assert links["next"].endswith("check-runs?per_page=1&page=2")
    assert links["last"].endswith("check-runs?per_page=1&page=3")
    assert page_meta(second.status, second.headers, now=NOW).next_url == ""
    assert json.loads(second.body)["total_count"] == len(json.loads(second.body)["check_runs"]) == 3


def test_304_is_not_modified_and_asks_for_no_wait():
    (exchange,) = _replay("conditional_request_304.replay.txt")
    assert exchange.request_headers["If-None-Match"] == '"5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b"'
    meta = page_meta(exchange.status, exchange.headers, now=NOW)
    assert meta.not_modified and meta.retry_after is None and exchange.body == ""
    assert meta.etag == '"5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b"'


def test_primary_rate_limit_403():
    ok, refused = _replay("rate_limit_exceeded_403.replay.txt")
    # The last allowed request already says 0 remain, but it succeeded: no wait for its own answer.
    assert retry_after(ok.status, ok.headers, now=NOW) is None
    assert refused.status == 403 and "Rate Limit Exceeded" in refused.body
    # This old-style answer carries no reset time: wait the minute GitHub asks for.
    assert retry_after(refused.status, refused.headers, now=NOW) == 60
    with_reset = refused.headers | {"x-ratelimit-reset": str(int(NOW) + 125)}
    assert retry_after(403, with_reset, now=NOW) == 125


def test_secondary_rate_limit_and_plain_403():
    assert retry_after(403, {"retry-after": "30"}, now=NOW) == 30
    assert retry_after(429, {}, now=NOW) == 60
    assert retry_after(403, {"x-ratelimit-remaining": "4000"}, now=NOW) is None
    assert retry_after(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, now=NOW) is None


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "²", "1e400", "soon", "Wed, 21 Oct 2026 07:28 GMT"])
def test_a_retry_after_that_is_not_a_number_of_seconds_falls_back_to_the_limit_headers(value):
    assert retry_after(403, {"retry-after": value}, now=NOW) is None
    assert retry_after(429, {"retry-after": value}, now=NOW) == 60
    assert retry_after(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "²"}, now=NOW) == 60


def test_a_retry_after_is_capped_at_what_the_broker_can_wait():
    assert retry_after(403, {"retry-after": "1e9"}, now=NOW) == MAX_RETRY_AFTER
    assert retry_after(403, {"retry-after": "0"}, now=NOW) == 1
