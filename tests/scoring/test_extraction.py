"""Answer extraction and exact match, checked against lm-eval's own filter and metric."""

from __future__ import annotations

import pytest

from agimeter.scoring import exact_match, last_number, normalize_for_match, regex_extract

STRICT = r"The answer is (\-?[0-9\.\,]+)."
IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]

GENERATIONS = [
    "She makes 9 * 2 = $18. The answer is 18.",
    "Total is 1,234 dollars. The answer is 1,234.",
    "So the answer is $5. The answer is $5.",  # "$5" does not match the strict pattern
    "The answer is -3.5. Then more text. The answer is 7.",
    "I think it is 42",
    "The answer is 18",  # nothing after the number: the pattern's final '.' eats the last digit
    "",
    "#### 72",
]


def test_regex_extract_cases() -> None:
    assert regex_extract(GENERATIONS[0], STRICT) == "18"
    assert regex_extract(GENERATIONS[1], STRICT) == "1,234"
    assert regex_extract(GENERATIONS[2], STRICT) == "[invalid]"  # regex miss
    # take_first; the greedy class also eats the period (removed later by the "\\.$" ignore regex)
    assert regex_extract(GENERATIONS[3], STRICT) == "-3.5."
    assert regex_extract(GENERATIONS[5], STRICT) == "1"  # lm-eval's quirk, reproduced
    assert regex_extract("x", STRICT, fallback="none") == "none"


def test_last_number_cases() -> None:
    assert last_number("Costs $1,200. Then 5 more, total $1,205.") == "$1,205."
    assert last_number("I think it is 42") == "42"
    assert last_number("no digits") == "[invalid]"
    assert last_number("-7 apples") == "-7"


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("18", "18", True),
        ("1,234", "1234", True),  # commas ignored
        ("$18", "18", True),  # dollar signs ignored
        ("18.", "18", True),  # trailing period ignored
        ("$1,205.", "1205", True),
        ("[invalid]", "18", False),
        ("18.0", "18", False),  # exact match, not numeric equality
        ("The answer is 5", "the answer is 5", True),  # ignore_case
    ],
)
def test_gsm8k_exact_match(prediction: str, reference: str, expected: bool) -> None:
    assert exact_match(prediction, reference, ignore_regexes=IGNORE, ignore_case=True) is expected


def test_normalize_removes_solution_prefix() -> None:
    assert normalize_for_match("Step 1\n#### 1,000", IGNORE, True) == "1000"


def test_matches_lm_eval_filters_and_metric() -> None:
    extraction = pytest.importorskip("lm_eval.filters.extraction")
    metrics = pytest.importorskip("lm_eval.api.metrics")
    strict = extraction.RegexFilter(regex_pattern=STRICT)
    flexible = extraction.RegexFilter(regex_pattern=r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1)
    lm_strict = [r[0] for r in strict.apply([[g] for g in GENERATIONS], [])]
    lm_flex = [r[0] for r in flexible.apply([[g] for g in GENERATIONS], [])]
    assert [regex_extract(g, STRICT) for g in GENERATIONS] == lm_strict
    assert [last_number(g) for g in GENERATIONS] == lm_flex
    references = ["18", "1234", "5", "-3.5", "42", "18", "0", "72"]
    for preds in (lm_strict, lm_flex):
        for pred, ref in zip(preds, references, strict=True):
            theirs = metrics.exact_match_hf_evaluate(
                predictions=[pred], references=[ref], regexes_to_ignore=IGNORE, ignore_case=True
            )["exact_match"]
            assert float(exact_match(pred, ref, ignore_regexes=IGNORE, ignore_case=True)) == theirs
