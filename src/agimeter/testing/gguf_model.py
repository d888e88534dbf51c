"""Write a transformers Qwen2 checkpoint (the tiny random one) as an all-F32 GGUF file.

Tests of the ``gguf:`` backend need a model that llama.cpp and transformers both run, so that
their log-probs and greedy tokens can be compared exactly; quantized real models cannot give
that. The conversion is the subset of llama.cpp's ``convert_hf_to_gguf.py`` that a Qwen2 with a
byte-level BPE tokenizer needs, written with the ``gguf`` package.

The tokenizer is written with llama.cpp pre-tokenizer ``qwen2``. The tiny tokenizer.json itself
splits text with the plain ByteLevel (GPT-2) regex, but transformers 5 loads every ``qwen2``
checkpoint's tokenizer as ``Qwen2Tokenizer``, which replaces that with Qwen2's regex (digits one
by one). What HF and lm-eval actually tokenize with is therefore Qwen2's split, and ``qwen2`` is the
value whose tokens equal theirs; ``gpt-2`` would match the raw tokenizer.json instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from safetensors.numpy import load_file

ARCH = "qwen2"
TOKENIZER_PRE = "qwen2"


def build_tiny_gguf(hf_dir: Path, out_path: Path, cast: Mapping[str, str] | None = None) -> Path:
    """Convert the Qwen2 checkpoint in ``hf_dir`` to ``out_path`` (F32 weights, tokenizer, chat
    template); the file appears only once complete. ``cast`` stores the named GGUF tensors in
    another numpy dtype (``{"blk.0.attn_q.weight": "int32"}``), for files llama.cpp treats differently."""
    config = json.loads((hf_dir / "config.json").read_text())
    if config.get("model_type") != ARCH:
        raise ValueError(f"{hf_dir}: expected a {ARCH} checkpoint, got {config.get('model_type')!r}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    writer = gguf.GGUFWriter(tmp, ARCH)
    try:
        _add_hparams(writer, config, hf_dir.name)
        _add_tokenizer(writer, hf_dir, config)
        for name, tensor in _gguf_tensors(hf_dir, config):
            writer.add_tensor(name, tensor.astype((cast or {}).get(name, "float32")))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _add_hparams(writer: Any, config: dict[str, Any], name: str) -> None:
    rope = config.get("rope_parameters") or {}
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    # transformers 5 nests rope_theta in rope_parameters; 4.x keeps it at the top level.
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])


def _add_tokenizer(writer: Any, hf_dir: Path, config: dict[str, Any]) -> None:
    tokenizer = json.loads((hf_dir / "tokenizer.json").read_text())
    model = tokenizer["model"]
    if model["type"] != "BPE" or model.get("byte_fallback") or model.get("ignore_merges"):
        raise ValueError(f"{hf_dir}: only plain byte-level BPE tokenizers are supported")
    vocab: dict[str, int] = dict(model["vocab"])
    special = {added["id"] for added in tokenizer["added_tokens"] if added["special"]}
    for added in tokenizer["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError(f"{hf_dir}: token ids are not contiguous from 0")
    # llama.cpp sizes the vocab from this list, which must cover every embedding row.
    if len(tokens) != config["vocab_size"]:
        raise ValueError(f"{hf_dir}: {len(tokens)} tokens but vocab_size {config['vocab_size']}")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(TOKENIZER_PRE)
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))]
    )
    writer.add_token_merges(merges)
    for key, add in (
        ("bos_token_id", writer.add_bos_token_id),
        ("eos_token_id", writer.add_eos_token_id),
        ("pad_token_id", writer.add_pad_token_id),
    ):
        if config.get(key) is not None:
            add(int(config[key]))
    # Like Qwen's HF tokenizer: nothing is prepended on encode.
    writer.add_add_bos_token(False)
    template = _chat_template(hf_dir)
    if template is not None:
        writer.add_chat_template(template)


def _chat_template(hf_dir: Path) -> str | None:
    jinja = hf_dir / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text()
    template = json.loads((hf_dir / "tokenizer_config.json").read_text()).get("chat_template")
    return template if isinstance(template, str) else None


def _gguf_tensors(hf_dir: Path, config: dict[str, Any]) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """(GGUF name, F32 array) for every weight. Qwen2 uses NEOX rope in llama.cpp, the same
    rotate-half layout as transformers, so q/k rows keep their order."""
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, config["num_hidden_layers"])
    weights: dict[str, np.ndarray[Any, Any]] = {}
    for shard in sorted(hf_dir.glob("*.safetensors")):
        weights.update(load_file(str(shard)))
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)
    converted = []
    for hf_name, tensor in sorted(weights.items()):
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"{hf_dir}: no GGUF name for tensor {hf_name}")
        converted.append((name, np.ascontiguousarray(tensor, dtype=np.float32)))
    return converted


__all__ = ["TOKENIZER_PRE", "build_tiny_gguf"]
