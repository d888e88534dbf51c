"""Model backends behind one small protocol; see ``base.Backend``."""

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult, Timing, Usage
from agimeter.backends.registry import BACKENDS, backend, create_backend
from agimeter.records.model import ModelInfo

__all__ = [
    "BACKENDS",
    "Backend",
    "GenRequest",
    "GenResult",
    "LoglikRequest",
    "LoglikResult",
    "ModelInfo",
    "Timing",
    "Usage",
    "backend",
    "create_backend",
]
