"""Answer extraction and exact match, as lm-eval 0.4.13's RegexFilter + exact_match metric."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

INVALID = "[invalid]"
# lm-eval gsm8k flexible-extract: the last number-like run in the output.
LAST_NUMBER_PATTERN = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex_extract(text: str, pattern: str, *, group_select: int = 0, fallback: str = INVALID) -> str:
    """lm-eval ``RegexFilter``: ``findall``, pick match ``group_select``, first non-empty group, strip."""
    matches = _compile(pattern).findall(text)
    if not matches:
        return fallback
    try:
        match = matches[group_select]
    except IndexError:
        return fallback
    if isinstance(match, tuple):
        non_empty = [m for m in match if m]
        if not non_empty:
            return fallback
        match = non_empty[0]
    return str(match).strip()


def last_number(text: str, *, fallback: str = INVALID) -> str:
    """lm-eval's gsm8k ``flexible-extract``: the last number in ``text``."""
    return regex_extract(text, LAST_NUMBER_PATTERN, group_select=-1, fallback=fallback)


def normalize_for_match(text: str, ignore_regexes: Sequence[str] = (), ignore_case: bool = False) -> str:
    """Apply ``regexes_to_ignore`` in order (each removed), then lower-case if asked."""
    for pattern in ignore_regexes:
        text = re.sub(pattern, "", text)
    return text.lower() if ignore_case else text


def exact_match(
    prediction: str, reference: str, *, ignore_regexes: Sequence[str] = (), ignore_case: bool = False
) -> bool:
    """lm-eval ``exact_match`` (hf-evaluate) on one pair: normalise both sides, compare exactly."""
    return normalize_for_match(prediction, ignore_regexes, ignore_case) == normalize_for_match(
        reference, ignore_regexes, ignore_case
    )
