"""agimeter: what an open LLM can do, dimension by dimension, and what it costs to run.

The public API is small; the CLI (``agimeter``) is the main entry point.
"""

from agimeter.backends._threads import prefer_passive_waits
from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.errors import AgimeterError
from agimeter.records.model import ModelInfo

# Before anything imports torch: libgomp reads its wait policy only when it is loaded.
prefer_passive_waits()

__version__ = "0.1.0"

__all__ = [
    "AgimeterError",
    "Backend",
    "GenRequest",
    "GenResult",
    "LoglikRequest",
    "LoglikResult",
    "ModelInfo",
    "__version__",
]
