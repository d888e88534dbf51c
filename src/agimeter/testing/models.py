"""Random-weight models built locally (no network) for tests and benchmarks.

Both builders train the same small byte-level BPE tokenizer on an embedded English corpus, so a
build is a pure function of ``seed``: the same seed gives byte-identical weights and vocab.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

TOKENIZER_VOCAB_SIZE = 768
EOS_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<|startoftext|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (EOS_TOKEN, BOS_TOKEN, PAD_TOKEN, "<|im_start|>", "<|im_end|>")

# ChatML, the format Qwen models use; enough to exercise apply_chat_template.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_PARAGRAPHS = (
    "The quick brown fox jumps over the lazy dog. A man is sitting on a roof and removing old "
    "shingles. She bends down, grabs the bar and lifts the weight over her head.",
    "Question: Which planet is closest to the sun?\nA. Venus\nB. Mercury\nC. Mars\nD. Earth\nAnswer: B",
    "The following are multiple choice questions (with answers) about high school biology, "
    "chemistry, physics, history, law, medicine and mathematics.",
    "Water boils at 100 degrees Celsius at sea level. Plants use sunlight, water and carbon "
    "dioxide to make sugar and oxygen. Energy can change form but is never lost.",
    "In 1969, two astronauts walked on the Moon; the mission lasted 8 days, 3 hours and 18 "
    "minutes. Prices rose by 3.5% in 2021, then fell (slightly) in 2022!",
    "def add(a, b):\n    return a + b  # numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2048\n",
    "Q: What is 12 + 30? A: 42. Q: Is it raining? A: No, it's sunny; take a hat & some water.",
)
_SUBJECTS = ("the man", "a woman", "the child", "two dogs", "the teacher", "a student", "the team")
_VERBS = ("walks to", "looks at", "talks about", "runs past", "picks up", "paints", "studies")
_OBJECTS = ("the river", "a red mat", "the old book", "a small boat", "the answer", "the window")
_ENDINGS = (".", "!", "?", ", then stops.", " and smiles.", " again.")


def tiny_corpus() -> list[str]:
    """The fixed training text for the tokenizer (a few KB, deterministic)."""
    rng = random.Random(1234)
    lines = list(_PARAGRAPHS)
    for _ in range(300):
        subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
        sentence = f"{subject.capitalize()} {verb} {obj}{rng.choice(_ENDINGS)}"
        lines.append(f"{sentence} {rng.randint(0, 9999)} {rng.choice('ABCD')}.")
    return lines


def build_tokenizer(path: str | Path, model_max_length: int = 2048) -> int:
    """Train the byte-level BPE tokenizer and save it as a transformers tokenizer; returns its size.

    Like Qwen's, it adds no BOS on encode; a BOS token is defined, so lm-eval uses it as the
    prefix for empty contexts."""
    from transformers import PreTrainedTokenizerFast

    tokenizer_cls: Any = PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tiny_corpus(), trainer)
    fast = tokenizer_cls(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=model_max_length,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    return int(tok.get_vocab_size())


def _build_qwen2(
    path: str | Path,
    *,
    seed: int,
    hidden: int,
    layers: int,
    heads: int,
    kv_heads: int,
    intermediate: int,
    vocab_size: int | None,
    max_positions: int,
    init_std: float,
) -> Path:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    config_cls: Any = Qwen2Config
    model_cls: Any = Qwen2ForCausalLM

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_size = build_tokenizer(out, model_max_length=max_positions)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    config = config_cls(
        vocab_size=vocab_size or tokenizer_size,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        initializer_range=init_std,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_theta=1_000_000.0,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def build_tiny_qwen2(path: str | Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2 (hidden 64) with the small BPE vocab; builds in about a second.

    Weights use a wider init (std 0.1) than real models so the next-token distribution is peaked
    enough that argmax ties (and so flaky ``is_greedy`` comparisons) do not occur."""
    return _build_qwen2(
        path,
        seed=seed,
        hidden=64,
        layers=2,
        heads=4,
        kv_heads=2,
        intermediate=128,
        vocab_size=None,
        max_positions=2048,
        init_std=0.1,
    )


def build_qwen25_05b_shaped(path: str | Path, seed: int = 0) -> Path:
    """A random model with Qwen2.5-0.5B's shapes (494M parameters, fp32, ~2 GB on disk).

    The tokenizer is the small BPE one, but ``vocab_size`` is Qwen's 151936 so the embedding and
    tied lm-head cost what they cost in the real model; ids above the tokenizer's are never fed."""
    return _build_qwen2(
        path,
        seed=seed,
        hidden=896,
        layers=24,
        heads=14,
        kv_heads=2,
        intermediate=4864,
        vocab_size=151936,
        max_positions=32768,
        init_std=0.02,
    )
