"""Retry policy: classification, Retry-After parsing, backoff with full jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agimeter.backends._retry import RETRYABLE, backoff_delay, classify_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (404, "not_found"), (408, "timeout"), (429, "rate_limit"), (500, "server_error"),
     (503, "server_error"), (400, "bad_request"), (422, "bad_request")],
)  # fmt: skip
def test_classify(status: int, kind: str) -> None:
    assert classify_status(status) == kind


def test_only_transient_failures_are_retried() -> None:
    assert {"connection", "timeout", "rate_limit", "server_error"} == RETRYABLE


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_is_jittered_capped_and_honours_retry_after() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(a, base_s=0.5, cap_s=4.0, rng=rng) for a in range(8) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    first = [backoff_delay(0, base_s=0.5, cap_s=4.0, rng=rng) for _ in range(200)]
    assert max(first) <= 0.5 and len(set(first)) > 150  # jitter: no two clients retry in lockstep
    late = [backoff_delay(6, base_s=0.5, cap_s=4.0, rng=rng) for _ in range(200)]
    assert max(late) > 3.0  # the ceiling grows to the cap
    assert backoff_delay(0, base_s=0.5, cap_s=4.0, retry_after_s=7.0, rng=rng) == 7.0
