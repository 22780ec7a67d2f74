"""A thin httpx client shared by the tool clients: timeouts, a request budget, readable errors.

Every error a sync can meet is one of four kinds, and the task decides from the kind alone:
RateLimited (retry the task after `retry_after`), ToolUnavailable (5xx, timeouts, dropped
connections: retried here with a short backoff, then by the task), BadCredentials (401/403: fail at
once, retrying only locks the account) and BadPayload (the answer is not the JSON it should be).
The client never sleeps for a Retry-After: it raises, and the task is retried later.
"""

import json
import math
import time
from dataclasses import dataclass

import httpx

from releases.errors import DomainError

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
RETRIES = 3  # attempts per request on 5xx / timeouts before the task takes over
BACKOFF_SECONDS = 0.5  # 0.5 s, 1 s between attempts
MAX_RETRY_AFTER = 50 * 60  # the broker's visibility timeout is an hour: a retry must come back before


class SyncError(DomainError):
    """A failure with a message an admin can act on (the tool failed us: 502)."""

    status = 502


class RateLimited(SyncError):
    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ToolUnavailable(SyncError):
    pass


class BadCredentials(SyncError):
    pass


class BadPayload(SyncError):
    pass


class BudgetExhausted(SyncError):
    pass


@dataclass
class RequestBudget:
    """How many requests one sync run may still make (Connection.request_budget)."""

    limit: int
    used: int = 0

    def spend(self, url: str) -> None:
        if self.used >= self.limit:
            raise BudgetExhausted(
                f"Request budget of {self.limit} used up before {url}; raise the connection's budget "
                "or narrow its scope."
            )
        self.used += 1


def retry_after_seconds(value: str | None, default: int | None = 60) -> int | None:
    """Retry-After in whole seconds, from 1 to MAX_RETRY_AFTER; `default` when it is missing or not a
    finite number (the HTTP-date form is rare from these tools: the default covers it)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(seconds):  # "inf" and "nan" parse as floats
        return default
    return min(max(int(seconds), 1), MAX_RETRY_AFTER)


class ToolClient:
    """GET JSON from one tool, spending the run's budget; subclasses add the tool's endpoints."""

    tool = "tool"

    def __init__(
        self,
        *,
        base_url: str,
        auth: tuple[str, str] | None = None,
        headers: dict | None = None,
        budget: RequestBudget | None = None,
        timeout: httpx.Timeout = TIMEOUT,
        backoff_seconds: float | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.budget = budget or RequestBudget(limit=5000)
        self.backoff_seconds = BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
        self.http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers={"Accept": "application/json", **(headers or {})},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def get_json(self, path: str, params: dict | None = None):
        return self.json_of(self.get(path, params), path)

    def get(self, path: str, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        """The response once it is not an error (a 304 is not), retried on 5xx and timeouts."""
        return self._retried(lambda: self._send_once(path, params, headers))

    def post_json(self, path: str, body: dict):
        """A read-only POST (Jira's approximate count): the same budget, errors and retries as a GET."""
        return self.json_of(self._retried(lambda: self._send_once(path, None, None, body=body)), path)

    def _retried(self, send) -> httpx.Response:
        for attempt in range(RETRIES):
            try:
                return send()
            except ToolUnavailable:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(self.backoff_seconds * 2**attempt)
        raise AssertionError("unreachable")

    def json_of(self, response: httpx.Response, url: str):
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise BadPayload(
                f"{self.tool} answered {url} with invalid JSON ({len(response.content)} bytes, {exc}); "
                "the response was probably cut off."
            ) from exc

    def _send_once(self, path: str, params, headers, *, body: dict | None = None) -> httpx.Response:
        url = path  # messages name the endpoint; the page shows which connection
        self.budget.spend(url)
        try:
            if body is None:
                response = self.http.get(path, params=params, headers=headers)
            else:
                response = self.http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise ToolUnavailable(
                f"{self.tool} did not answer {url} in time ({type(exc).__name__})."
            ) from exc
        except httpx.TransportError as exc:
            raise ToolUnavailable(f"{self.tool} dropped the connection on {url}: {exc}") from exc
        self._raise_for_status(response, url)
        return response

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        if status == 429:
            seconds = retry_after_seconds(response.headers.get("Retry-After"))
            raise RateLimited(
                f"{self.tool} rate-limited {url}; retrying after {seconds} s.", retry_after=seconds
            )
        if status in (401, 403):
            raise BadCredentials(
                f"{self.tool} refused the credentials ({status}) on {url}: check the user and API token."
            )
        if status >= 500:
            raise ToolUnavailable(f"{self.tool} failed with {status} on {url}.")
        if status >= 400:
            raise BadPayload(f"{self.tool} answered {status} on {url}: {response.text[:300]}")
