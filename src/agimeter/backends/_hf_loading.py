"""Resolve, fingerprint and load a transformers model without touching the network unless needed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agimeter.backends._hashing import file_sha256
from agimeter.backends.gguf_file import check_gguf_file
from agimeter.errors import ModelError

# Files whose bytes decide what the model computes; hashed into the identity.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt")
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py"]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: torch.device
    name: str
    identity: str
    revision: str | None


def resolve_device(device: str) -> torch.device:
    """``auto`` means the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ModelError(f"unknown device {device!r}") from err


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or os.path.exists(model)


def resolve_model_dir(model: str, revision: str | None) -> tuple[Path, str | None]:
    """Local directory for ``model`` and the hub commit it came from (None for local dirs)."""
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelError(f"model directory not found: {path}")
        return path, None
    from huggingface_hub import snapshot_download

    try:
        snapshot = snapshot_download(model, revision=revision, local_files_only=True)
    except Exception as offline_err:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise ModelError(
                f"model {model!r} is neither a local directory nor in the Hugging Face cache (HF_HUB_OFFLINE is set)"
            ) from offline_err
        try:
            snapshot = snapshot_download(model, revision=revision, allow_patterns=_HUB_PATTERNS)
        except Exception as err:
            raise ModelError(
                f"model {model!r} is neither a local directory nor in the Hugging Face cache, "
                f"and downloading it failed ({type(err).__name__})"
            ) from err
    path = Path(str(snapshot))
    return path, path.name


def local_identity(path: Path, gguf_file: str | None) -> str:
    """sha256 over config, tokenizer and weight files (names and content hashes)."""
    names = ["config.json", *_TOKENIZER_FILES]
    names += sorted(p.name for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    if gguf_file:
        names = [n for n in names if not n.endswith(".gguf")] + [gguf_file]
    outer = hashlib.sha256()
    for name in names:
        file = path / name
        if file.is_file():
            outer.update(f"{name}\0{file_sha256(file)}\n".encode())
    return "sha256:" + outer.hexdigest()


def load_model(
    model: str,
    *,
    dtype: str,
    device: str,
    gguf_file: str | None,
    revision: str | None,
    trust_remote_code: bool,
) -> LoadedModel:
    """Load tokenizer and causal LM in eval mode on ``device`` with sdpa attention."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # agimeter shows its own spinner; transformers' per-tensor bars would only add noise.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call,unused-ignore]

    path, commit = resolve_model_dir(model, revision)
    target = resolve_device(device)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        if (path / gguf_file).is_file():  # else transformers says what is missing
            check_gguf_file(path / gguf_file)
        common["gguf_file"] = gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **common)
        torch_dtype: Any = "auto" if dtype == "auto" else _DTYPES[dtype]
        try:
            lm = AutoModelForCausalLM.from_pretrained(
                str(path), dtype=torch_dtype, attn_implementation="sdpa", **common
            )
        except ValueError:
            # Architectures without sdpa support; eager takes the same 4D masks (as floats).
            lm = AutoModelForCausalLM.from_pretrained(
                str(path), dtype=torch_dtype, attn_implementation="eager", **common
            )
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load model {model!r}: {first}") from err
    model_obj: Any = lm
    lm = model_obj.to(target).eval()
    lm.requires_grad_(False)
    identity = f"hf:{model}@{commit}" if commit else local_identity(path, gguf_file)
    return LoadedModel(lm, tokenizer, target, model, identity, commit)
