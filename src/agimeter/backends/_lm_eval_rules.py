"""lm-eval's rules for splitting context/continuation and cutting generations, shared by every
backend (torch-free), so that all of them see exactly the tokens and text lm-eval would."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agimeter.errors import ConfigError

Encode = Callable[..., list[int]]


def move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Trailing whitespace of the context belongs to the continuation (``Instance`` args)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(
    tok_encode: Encode, prefix_token_id: int, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """Context and continuation tokens exactly as lm-eval's ``loglikelihood`` makes them:
    the continuation is what encoding the whole adds after the encoded context; an empty context
    becomes the prefix token (BOS, else EOS). ``tok_encode(text, add_special_tokens=...)``."""
    if context == "":
        cont = tok_encode(continuation, add_special_tokens=False)
        if cont and cont[0] == prefix_token_id:
            return cont[:1], cont[1:]
        return [prefix_token_id], cont
    context, continuation = move_trailing_space(context, continuation)
    whole = tok_encode(context + continuation)
    context_enc = tok_encode(context)
    return context_enc, whole[len(context_enc) :]


def scoring_window(context_enc: list[int], cont_enc: list[int], max_length: int, continuation: str) -> list[int]:
    """The tokens one log-likelihood request feeds (context + continuation, the last one only as
    a target), left-truncated as lm-eval does so that the model sees at most ``max_length``."""
    if not cont_enc or len(cont_enc) > max_length:
        raise ConfigError(
            f"continuation {continuation[:40]!r} has {len(cont_enc)} tokens; 1 to {max_length} are supported"
        )
    return (context_enc + cont_enc)[-(max_length + 1) :]


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Truncate at the earliest occurrence of any stop string (lm-eval's post-processing)."""
    found = [at for at in (text.find(stop) for stop in stops if stop) if at >= 0]
    return (text[: min(found)], True) if found else (text, False)
