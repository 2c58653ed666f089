"""swarmmesh: a node of a hybrid peer-to-peer mesh carrying a small blockchain.

The hot paths (dedup filters, circuit breakers, routing scores) live in the Rust
extension ``swarmmesh._core``; this package is the public API. Import from here,
never from ``swarmmesh._core``.
"""

from __future__ import annotations

from swarmmesh._core import (
    BloomFilter,
    BreakerConfig,
    BreakerEvent,
    BreakerRegistry,
    BreakerSnapshot,
    DedupFilter,
    DedupStats,
    RoutePlan,
    Router,
    RouteStats,
    __version__,
)
from swarmmesh.errors import (
    ArgumentTypeError,
    ConfigError,
    DecodeError,
    InvalidArgumentError,
    KeyFileError,
    SwarmMeshError,
)
from swarmmesh.flags import FeatureFlags
from swarmmesh.identity import Keypair, address_of, public_key_of, verify, verify_batch

__all__ = [
    "ArgumentTypeError",
    "BloomFilter",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerRegistry",
    "BreakerSnapshot",
    "ConfigError",
    "DecodeError",
    "DedupFilter",
    "DedupStats",
    "FeatureFlags",
    "InvalidArgumentError",
    "KeyFileError",
    "Keypair",
    "RoutePlan",
    "RouteStats",
    "Router",
    "SwarmMeshError",
    "__version__",
    "address_of",
    "public_key_of",
    "verify",
    "verify_batch",
]
