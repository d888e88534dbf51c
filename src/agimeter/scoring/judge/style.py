"""The style of an answer as Arena-Hard's style control sees it (``utils/add_markdown_info.py`` @
196f6b82): its length in o200k tokens (tiktoken's ``gpt-4o`` encoding) and its markdown headers,
list items and bold spans, counted after removing fenced code blocks."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

_CODE_BLOCK = re.compile("```([^`]*)```")
_HEADERS = tuple(re.compile(rf"^#{{{level}}}\s", re.MULTILINE) for level in range(1, 7))
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = (re.compile(r"\*\*[^*\n]+\*\*"), re.compile(r"__[^_\n]+__"))


class Style(BaseModel):
    """Arena-Hard's ``metadata`` of one answer, each count summed over its kinds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_len: int
    header_count: int
    list_count: int
    bold_count: int


@cache
def _encoding() -> Any:
    # bpe-openai ships tiktoken's o200k_base table (tiktoken itself downloads it at first use);
    # it reproduces the shipped baseline answers' token_len exactly.
    import bpe_openai

    return bpe_openai.encoding_for_model("gpt-4o")


def token_len(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def answer_style(answer: str) -> Style:
    """``count_markdown_elements(remove_pattern(answer, code blocks))`` plus the token length."""
    text = answer
    for block in _CODE_BLOCK.findall(answer):
        text = text.replace(block, "")
    return Style(
        token_len=token_len(answer),
        header_count=sum(len(p.findall(text)) for p in _HEADERS),
        list_count=len(_ORDERED.findall(text)) + len(_UNORDERED.findall(text)),
        bold_count=sum(len(p.findall(text)) for p in _BOLD),
    )
