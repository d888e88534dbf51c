"""Conversations (MT-Bench): each later user turn follows the model's own earlier answers.

Turn k's prompt is the chat of the item's system message (if any), user turn 1, the model's
answer 1, ..., user turn k, rendered with the model's chat template and ending in the generation
prompt, as FastChat's ``gen_model_answer.py`` builds it with the model's conversation template.
Without a chat template the turns are appended to the plain prompt, each answer and user turn
after a blank line.
"""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.backends.base import Backend
from agimeter.tasks.item import Item

Messages = tuple[tuple[str, str], ...]


def turn_messages(item: Item, answers: Sequence[str]) -> Messages:
    """The chat for the turn after ``answers`` (the model's answers to the turns before it)."""
    messages = list(item.chat_messages)
    users = [i for i, (role, _) in enumerate(messages) if role == "user"]
    history = messages[: users[-1] + 1] if users else messages
    for answer, user in zip(answers, item.followups, strict=False):
        history += [("assistant", answer), ("user", user)]
    return tuple(history)


def turn_prompt(backend: Backend, item: Item, answers: Sequence[str], *, chat: bool) -> tuple[str, Messages]:
    """The rendered prompt (and its messages) of turn ``len(answers) + 1`` (``answers`` not empty)."""
    messages = turn_messages(item, answers)
    if chat:
        rendered = backend.apply_chat_template([{"role": r, "content": c} for r, c in messages])
        if rendered is not None:
            return rendered, messages
    plain = item.context
    for answer, user in zip(answers, item.followups, strict=False):
        plain += f"{answer}\n\n{user}\n\n"
    return plain, messages
