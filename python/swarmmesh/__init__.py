"""swarmmesh: a node of a hybrid peer-to-peer mesh carrying a small blockchain.

The hot paths (dedup filters, circuit breakers, routing scores) live in the Rust
extension ``swarmmesh._core``; this package is the public API. Import from here,
never from ``swarmmesh._core``.
"""

from __future__ import annotations

from swarmmesh._core import (
    BreakerConfig,
    BreakerEvent,
    BreakerRegistry,
    BreakerSnapshot,
    __version__,
)
from swarmmesh.errors import (
    ArgumentTypeError,
    ConfigError,
    DecodeError,
    InvalidArgumentError,
    SwarmMeshError,
)

__all__ = [
    "ArgumentTypeError",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerRegistry",
    "BreakerSnapshot",
    "ConfigError",
    "DecodeError",
    "InvalidArgumentError",
    "SwarmMeshError",
    "__version__",
]
