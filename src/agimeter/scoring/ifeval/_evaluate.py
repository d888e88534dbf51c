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
# Modified for agimeter: test_instruction_following_strict/_loose of
# instruction_following_eval/evaluation_lib.py (lm-eval 0.4.13: tasks/ifeval/utils.py),
# returning a typed result and raising DataError on bad input.
"""Strict and loose IFEval verdicts for one response."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from agimeter.errors import DataError, first_problem
from agimeter.scoring.ifeval._checkers import CHECKERS, Checker


class IFEvalResult(BaseModel):
    """Per-instruction verdicts for one response, strict and loose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction_ids: list[str]
    follow_strict: list[bool]
    follow_loose: list[bool]

    @model_validator(mode="after")
    def _same_lengths(self) -> IFEvalResult:
        if not len(self.instruction_ids) == len(self.follow_strict) == len(self.follow_loose):
            raise ValueError("instruction_ids, follow_strict and follow_loose differ in length")
        return self

    @property
    def prompt_strict(self) -> bool:
        """Every instruction followed by the response as it is."""
        return all(self.follow_strict)

    @property
    def prompt_loose(self) -> bool:
        """Every instruction followed by at least one loose variant of the response."""
        return all(self.follow_loose)


def supported_instructions() -> list[str]:
    """The instruction ids ``evaluate`` can check (lm-eval's registry, in its order)."""
    return list(CHECKERS)


def build_checker(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> Checker:
    """The checker for one instruction; None-valued arguments are dropped as lm-eval does."""
    checker_cls = CHECKERS.get(instruction_id)
    if checker_cls is None:
        raise DataError(f"unknown IFEval instruction id {instruction_id!r}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping):
        raise DataError(f"IFEval instruction {instruction_id!r}: kwargs must be an object, not {type(kwargs).__name__}")
    arguments = {key: value for key, value in kwargs.items() if value is not None}
    try:
        return checker_cls.model_validate(arguments)
    except ValidationError as err:
        where, message = first_problem(err)
        what = f"bad argument {where!r}" if where else "bad arguments"
        raise DataError(f"IFEval instruction {instruction_id!r}: {what}: {message}") from None


def loose_variants(response: str) -> list[str]:
    """The reference's eight loose variants: first/last/both lines dropped, with and without ``*``."""
    lines = response.split("\n")
    remove_first = "\n".join(lines[1:]).strip()
    remove_last = "\n".join(lines[:-1]).strip()
    remove_both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        remove_first,
        remove_last,
        remove_both,
        remove_first.replace("*", ""),
        remove_last.replace("*", ""),
        remove_both.replace("*", ""),
    ]


def _record_instructions(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any] | None]]:
    ids = record.get("instruction_id_list")
    if not isinstance(ids, Sequence) or isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise DataError(f"IFEval record {record.get('key', '?')}: instruction_id_list must be a list of strings")
    kwargs = record.get("kwargs")
    if not isinstance(kwargs, Sequence) or isinstance(kwargs, str) or len(kwargs) != len(ids):
        raise DataError(
            f"IFEval record {record.get('key', '?')}: kwargs must be a list with one entry per instruction id"
        )
    return list(zip(ids, kwargs, strict=True))


def evaluate(record: Mapping[str, Any], response: str) -> IFEvalResult:
    """Strict and loose verdicts of ``response`` for one IFEval row (``instruction_id_list``, ``kwargs``)."""
    instructions = _record_instructions(record)
    checkers = [build_checker(instruction_id, kwargs) for instruction_id, kwargs in instructions]
    # Checks are pure, so each distinct non-blank variant is checked once.
    variants = list(dict.fromkeys(variant for variant in loose_variants(response) if variant.strip()))
    return IFEvalResult(
        instruction_ids=[instruction_id for instruction_id, _ in instructions],
        follow_strict=[bool(response.strip()) and checker.check(response) for checker in checkers],
        follow_loose=[any(checker.check(variant) for variant in variants) for checker in checkers],
    )
