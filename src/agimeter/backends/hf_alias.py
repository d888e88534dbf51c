"""``hf:<alias>``: a real model from the alias catalog, dequantized from its GGUF and cached.

Anything that is not an alias (a hub id or a local directory) goes straight to ``hf.create``.
The model identity of an alias is the GGUF's sha256, so the result cache follows the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agimeter.backends.aliases import load_catalog, resolve_alias
from agimeter.backends.gguf_convert import ensure_converted
from agimeter.backends.hf import HFBackend
from agimeter.backends.hf import create as create_plain
from agimeter.errors import ModelError


def create(spec: str, **options: Any) -> HFBackend:
    alias = resolve_alias(spec)
    if alias is None:
        if "/" not in spec and not Path(spec).expanduser().exists():
            # Not a path and not an org/name hub id: most likely a mistyped alias.
            known = ", ".join(sorted(load_catalog()))
            raise ModelError(
                f"unknown model {spec!r}: not an alias ({known}), a hub id (org/name) or a local directory"
            )
        return create_plain(spec, **options)
    directory, sha = ensure_converted(alias)
    backend = create_plain(str(directory), **options)
    backend.info = backend.info.model_copy(
        update={
            "name": alias.alias,
            "identity": f"gguf-sha256:{sha}",
            "revision": alias.hf_id,
            "extra": {**backend.info.extra, "gguf": alias.file, "quantization": alias.quantization},
        }
    )
    return backend
