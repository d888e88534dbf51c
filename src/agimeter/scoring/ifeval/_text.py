# Copyright (C) 2001-2026 NLTK Project (NLTKWordTokenizer: Liling Tan, Tom Aarsen)
# Copyright 2023 The Google Research Authors (count_words, count_sentences)
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Modified for agimeter: offline replacements for the nltk and langdetect calls of
# instruction_following_eval/instructions_util.py (as vendored in lm-eval 0.4.13).
"""Word, sentence and language helpers for the IFEval checkers, all offline."""

from __future__ import annotations

import functools
import re
from typing import Any

from agimeter.errors import ConfigError
from agimeter.scoring.ifeval._punkt import PunktSentenceSplitter

_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of ``\\w+`` runs: what ``nltk.tokenize.RegexpTokenizer(r"\\w+")`` counts."""
    return len(_WORD.findall(text))


@functools.cache
def _sentence_splitter() -> PunktSentenceSplitter:
    return PunktSentenceSplitter()


def split_sentences(text: str) -> list[str]:
    """Sentences as NLTK's English Punkt model splits them (see ``_punkt`` for the one gap)."""
    return _sentence_splitter().tokenize(text)


def count_sentences(text: str) -> int:
    """Number of Punkt sentences in ``text``."""
    return len(split_sentences(text))


# NLTKWordTokenizer (nltk/tokenize/destructive.py, NLTK 3.10), convert_parentheses=False.
_Rule = tuple["re.Pattern[str]", str]
_STARTING_QUOTES: list[_Rule] = [
    (re.compile("([«“‘„]|[`]+)", re.U), r" \1 "),
    (re.compile(r"^\""), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", re.U), r"\1 "),
]
_PUNCTUATION: list[_Rule] = [
    (re.compile(r'([^\.])(\.)([\]\)}>"\'»”’ ]*+)\s*$', re.U), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}", re.U), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"[\u2012-\u2015]", re.U), r" \g<0> "),
    (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[*]", re.U), r" \g<0> "),
]
_PARENS_BRACKETS: _Rule = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
_DOUBLE_DASHES: _Rule = (re.compile(r"--"), r" -- ")
_ENDING_QUOTES: list[_Rule] = [
    (re.compile("([»”’])", re.U), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]
_CONTRACTIONS = [
    re.compile(pattern)
    for pattern in (
        r"(?i)\b(can)(?#X)(not)\b",
        r"(?i)\b(d)(?#X)('ye)\b",
        r"(?i)\b(gim)(?#X)(me)\b",
        r"(?i)\b(gon)(?#X)(na)\b",
        r"(?i)\b(got)(?#X)(ta)\b",
        r"(?i)\b(lem)(?#X)(me)\b",
        r"(?i)\b(more)(?#X)('n)\b",
        r"(?i)\b(wan)(?#X)(na)(?=\s)",
        r"(?i) ('t)(?#X)(is)\b",
        r"(?i) ('t)(?#X)(was)\b",
    )
]


def _treebank_tokenize(text: str) -> list[str]:
    for pattern, replacement in _STARTING_QUOTES:
        text = pattern.sub(replacement, text)
    for pattern, replacement in _PUNCTUATION:
        text = pattern.sub(replacement, text)
    for pattern, replacement in (_PARENS_BRACKETS, _DOUBLE_DASHES):
        text = pattern.sub(replacement, text)
    text = " " + text + " "
    for pattern, replacement in _ENDING_QUOTES:
        text = pattern.sub(replacement, text)
    for pattern in _CONTRACTIONS:
        text = pattern.sub(r" \1 \2 ", text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``: Punkt sentences, then the improved Treebank tokenizer on each."""
    return [token for sentence in split_sentences(text) for token in _treebank_tokenize(sentence)]


@functools.cache
def _language_factory() -> Any:
    try:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    except ImportError as err:
        raise ConfigError("IFEval language checks need the langdetect package: pip install langdetect") from err
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)  # langdetect samples n-grams at random; a fixed seed makes verdicts repeatable
    return factory


@functools.lru_cache(maxsize=128)  # seeded, hence pure; loose variants and paired checks repeat texts
def detect_language(text: str) -> str | None:
    """langdetect's language code for ``text`` (e.g. ``en``, ``zh-cn``), None where it finds no features."""
    factory = _language_factory()  # first: it turns a missing langdetect into a ConfigError
    from langdetect.lang_detect_exception import LangDetectException

    detector = factory.create()
    detector.append(text)
    try:
        return str(detector.detect())
    except LangDetectException:
        return None
