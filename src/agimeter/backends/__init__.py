"""Model backends behind one small protocol; see ``base.Backend``."""

from agimeter.backends.base import (
    Backend,
    GenRequest,
    GenResult,
    LoglikRequest,
    LoglikResult,
    ModelInfo,
    Timing,
    Usage,
)
from agimeter.backends.registry import BACKENDS, backend, create_backend

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
