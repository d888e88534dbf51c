"""Retry policy for remote requests: exponential backoff with full jitter, honouring Retry-After.

Which failures are retried is decided by kind: transient ones (connection, timeout, 429, 5xx)
are; the caller's own mistakes (401/403, 404, other 4xx) and malformed answers are not.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from agimeter.backends.base import ErrorKind

RETRYABLE: frozenset[ErrorKind] = frozenset({"connection", "timeout", "rate_limit", "server_error"})


def classify_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server_error"
    return "bad_request"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (0-based): uniform in [0, min(cap, base * 2^attempt)]
    ("full jitter"), but never shorter than what the server asked for with Retry-After."""
    ceiling = min(cap_s, base_s * 2.0**attempt)
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay
