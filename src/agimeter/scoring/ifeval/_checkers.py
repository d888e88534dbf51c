# Copyright 2023 The Google Research Authors.
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
# Modified for agimeter: the ``check_following`` logic of the registered classes of
# instruction_following_eval/instructions.py (as vendored in lm-eval 0.4.13), re-expressed as
# typed, validated pydantic models; the random fallbacks for missing arguments are gone.
"""One checker per registered IFEval instruction id; the keyword arguments are the model fields."""

from __future__ import annotations

import collections
import json
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agimeter.scoring.ifeval._text import count_sentences, count_words, detect_language, word_tokenize

Relation = Literal["less than", "at least"]
Count = Annotated[int, Field(ge=0)]
# Non-empty; a tuple is accepted too (rows that went through a frozen container).
Words = Annotated[list[str], Field(min_length=1, strict=False)]
# instructions_util.LANGUAGE_CODES: the reference raises KeyError for any other code.
Language = Literal[
    "en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th", "ur", "ta",
    "te", "bg", "ko", "pl", "he", "fa", "vi", "ne", "sw", "kn", "mr", "gu", "pa", "ml", "fi",
]  # fmt: skip

_CONSTRAINED_RESPONSE_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _compare(count: int, relation: Relation, threshold: int) -> bool:
    return count < threshold if relation == "less than" else count >= threshold


def _check_regex(pattern: str) -> None:
    # The reference splices these strings into regular expressions unescaped; a bad one would
    # only fail while scoring, so reject it while building the checker.
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"{pattern!r} is not a valid regular expression ({err})") from err


class Checker(BaseModel):
    """An instruction with its arguments; ``check`` says whether a response follows it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def check(self, response: str) -> bool:
        raise NotImplementedError


# --- keywords ------------------------------------------------------------------------------------


class KeywordExistence(Checker):
    keywords: Words

    @field_validator("keywords")
    @classmethod
    def _regexes(cls, keywords: list[str]) -> list[str]:
        for keyword in keywords:
            _check_regex(keyword)
        return keywords

    def check(self, response: str) -> bool:
        return all(re.search(keyword, response, flags=re.IGNORECASE) for keyword in self.keywords)


class KeywordFrequency(Checker):
    keyword: Annotated[str, Field(min_length=1)]
    frequency: Count
    relation: Relation

    @field_validator("keyword")
    @classmethod
    def _regex(cls, keyword: str) -> str:
        _check_regex(keyword.strip())
        return keyword

    def check(self, response: str) -> bool:
        occurrences = len(re.findall(self.keyword.strip(), response, flags=re.IGNORECASE))
        return _compare(occurrences, self.relation, self.frequency)


class ForbiddenWords(Checker):
    forbidden_words: Words

    @field_validator("forbidden_words")
    @classmethod
    def _regexes(cls, words: list[str]) -> list[str]:
        for word in words:
            _check_regex(rf"\b{word}\b")
        return words

    def check(self, response: str) -> bool:
        return not any(re.search(rf"\b{word}\b", response, flags=re.IGNORECASE) for word in self.forbidden_words)


class LetterFrequency(Checker):
    # The reference swaps anything but one ASCII letter for a random letter; row 1122 asks for
    # "#" (hashtags), so count whatever single character is given.
    letter: Annotated[str, Field(min_length=1, max_length=1)]
    let_frequency: Count
    let_relation: Relation

    def check(self, response: str) -> bool:
        occurrences = collections.Counter(response.lower())[self.letter.lower()]
        return _compare(occurrences, self.let_relation, self.let_frequency)


# --- language and case ---------------------------------------------------------------------------


class ResponseLanguage(Checker):
    language: Language

    def check(self, response: str) -> bool:
        detected = detect_language(response)
        return detected is None or detected == self.language  # undetectable counts as followed


class EnglishCapital(Checker):
    def check(self, response: str) -> bool:
        return response.isupper() and detect_language(response) in (None, "en")


class EnglishLowercase(Checker):
    def check(self, response: str) -> bool:
        return response.islower() and detect_language(response) in (None, "en")


class CapitalWordFrequency(Checker):
    capital_frequency: int
    capital_relation: Relation

    def check(self, response: str) -> bool:
        capital_words = sum(1 for word in word_tokenize(response) if word.isupper())
        return _compare(capital_words, self.capital_relation, self.capital_frequency)


# --- length --------------------------------------------------------------------------------------


class NumberOfSentences(Checker):
    num_sentences: Count
    relation: Relation

    def check(self, response: str) -> bool:
        return _compare(count_sentences(response), self.relation, self.num_sentences)


class NumberOfWords(Checker):
    num_words: Count
    relation: Relation

    def check(self, response: str) -> bool:
        return _compare(count_words(response), self.relation, self.num_words)


class NumberOfParagraphs(Checker):
    num_paragraphs: Count

    def check(self, response: str) -> bool:
        paragraphs = re.split(r"\s?\*\*\*\s?", response)
        count = len(paragraphs)
        for index, paragraph in enumerate(paragraphs):
            if not paragraph.strip():
                if index in (0, len(paragraphs) - 1):
                    count -= 1
                else:
                    return False
        return count == self.num_paragraphs


class NthParagraphFirstWord(Checker):
    num_paragraphs: Count
    nth_paragraph: Annotated[int, Field(ge=1)]
    first_word: str

    @model_validator(mode="after")
    def _nth_within_count(self) -> NthParagraphFirstWord:
        if self.nth_paragraph > self.num_paragraphs:
            raise ValueError(f"nth_paragraph {self.nth_paragraph} > num_paragraphs {self.num_paragraphs}")
        return self

    def check(self, response: str) -> bool:
        paragraphs = re.split(r"\n\n", response)
        count = sum(1 for paragraph in paragraphs if paragraph.strip())
        # Like the reference, index the raw split list with the count of non-empty paragraphs.
        if self.nth_paragraph > count:
            return False
        paragraph = paragraphs[self.nth_paragraph - 1].strip()
        if not paragraph:
            return False
        word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
        first_word = ""
        for letter in word:
            if letter in {".", ",", "?", "!", "'", '"'}:
                break
            first_word += letter.lower()
        return count == self.num_paragraphs and first_word == self.first_word.lower()


# --- content and format --------------------------------------------------------------------------


class Placeholders(Checker):
    num_placeholders: Count

    def check(self, response: str) -> bool:
        return len(re.findall(r"\[.*?\]", response)) >= self.num_placeholders


class Postscript(Checker):
    postscript_marker: str

    @field_validator("postscript_marker")
    @classmethod
    def _regex(cls, marker: str) -> str:
        _check_regex(marker.strip().lower())
        return marker

    def check(self, response: str) -> bool:
        marker = self.postscript_marker.strip()
        if marker == "P.P.S":
            pattern = r"\s*p\.\s?p\.\s?s.*$"
        elif marker == "P.S.":
            pattern = r"\s*p\.\s?s\..*$"
        else:
            pattern = r"\s*" + marker.lower() + r".*$"
        return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


class BulletLists(Checker):
    num_bullets: Count

    def check(self, response: str) -> bool:
        stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
        return len(stars) + len(dashes) == self.num_bullets


class ConstrainedResponse(Checker):
    def check(self, response: str) -> bool:
        response = response.strip()
        return any(option in response for option in _CONSTRAINED_RESPONSE_OPTIONS)


class HighlightedSections(Checker):
    num_highlights: Count

    def check(self, response: str) -> bool:
        count = sum(1 for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip())
        doubles = re.findall(r"\*\*[^\n\*]*\*\*", response)
        count += sum(1 for h in doubles if h.removeprefix("**").removesuffix("**").strip())
        return count >= self.num_highlights


class MultipleSections(Checker):
    section_spliter: str  # sic: the dataset's spelling
    num_sections: Count

    @field_validator("section_spliter")
    @classmethod
    def _regex(cls, spliter: str) -> str:
        _check_regex(spliter.strip())
        return spliter

    def check(self, response: str) -> bool:
        sections = re.split(r"\s?" + self.section_spliter.strip() + r"\s?\d+\s?", response)
        return len(sections) - 1 >= self.num_sections


class JsonFormat(Checker):
    def check(self, response: str) -> bool:
        value = response.strip()
        for prefix in ("```json", "```Json", "```JSON", "```"):
            value = value.removeprefix(prefix)
        value = value.removesuffix("```").strip()
        try:
            json.loads(value)
        except ValueError:
            return False
        return True


class Title(Checker):
    def check(self, response: str) -> bool:
        return any(title.lstrip("<").rstrip(">").strip() for title in re.findall(r"<<[^\n]+>>", response))


class TwoResponses(Checker):
    def check(self, response: str) -> bool:
        parts = response.split("******")
        valid: list[str] = []
        for index, part in enumerate(parts):
            if part.strip():
                valid.append(part)
            elif index not in (0, len(parts) - 1):
                return False
        return len(valid) == 2 and valid[0].strip() != valid[1].strip()


class RepeatPrompt(Checker):
    prompt_to_repeat: Annotated[str, Field(min_length=1)]

    def check(self, response: str) -> bool:
        return response.strip().lower().startswith(self.prompt_to_repeat.strip().lower())


class EndPhrase(Checker):
    end_phrase: str

    def check(self, response: str) -> bool:
        return response.strip().strip('"').lower().endswith(self.end_phrase.strip().lower())


class NoComma(Checker):
    def check(self, response: str) -> bool:
        return "," not in response


class Quotation(Checker):
    def check(self, response: str) -> bool:
        value = response.strip()
        return len(value) > 1 and value[0] == '"' and value[-1] == '"'


CHECKERS: dict[str, type[Checker]] = {
    "keywords:existence": KeywordExistence,
    "keywords:frequency": KeywordFrequency,
    "keywords:forbidden_words": ForbiddenWords,
    "keywords:letter_frequency": LetterFrequency,
    "language:response_language": ResponseLanguage,
    "length_constraints:number_sentences": NumberOfSentences,
    "length_constraints:number_paragraphs": NumberOfParagraphs,
    "length_constraints:number_words": NumberOfWords,
    "length_constraints:nth_paragraph_first_word": NthParagraphFirstWord,
    "detectable_content:number_placeholders": Placeholders,
    "detectable_content:postscript": Postscript,
    "detectable_format:number_bullet_lists": BulletLists,
    "detectable_format:constrained_response": ConstrainedResponse,
    "detectable_format:number_highlighted_sections": HighlightedSections,
    "detectable_format:multiple_sections": MultipleSections,
    "detectable_format:json_format": JsonFormat,
    "detectable_format:title": Title,
    "combination:two_responses": TwoResponses,
    "combination:repeat_prompt": RepeatPrompt,
    "startend:end_checker": EndPhrase,
    "change_case:capital_word_frequency": CapitalWordFrequency,
    "change_case:english_capital": EnglishCapital,
    "change_case:english_lowercase": EnglishLowercase,
    "punctuation:no_comma": NoComma,
    "startend:quotation": Quotation,
}
"""The instruction ids of lm-eval's ``instructions_registry.INSTRUCTION_DICT``, in its order."""
