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
from agimeter.backends.registry import create_backend, register

__all__ = [
    "Backend",
    "GenRequest",
    "GenResult",
    "LoglikRequest",
    "LoglikResult",
    "ModelInfo",
    "Timing",
    "Usage",
    "create_backend",
    "register",
]
