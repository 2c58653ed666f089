"""swarmmesh: a node of a hybrid peer-to-peer mesh carrying a small blockchain.

The hot paths (dedup filters, circuit breakers, routing scores) live in the Rust
extension ``swarmmesh._core``; this package is the public API. Import from here,
never from ``swarmmesh._core``.
"""

from __future__ import annotations

from swarmmesh._core import (
    Block,
    BlockHeader,
    BloomFilter,
    BreakerConfig,
    BreakerEvent,
    BreakerRegistry,
    BreakerSnapshot,
    DedupFilter,
    DedupStats,
    Envelope,
    RoutePlan,
    Router,
    RouteStats,
    Transaction,
    __version__,
    merkle_root,
    mine,
    token_id,
)
from swarmmesh.chain import AcceptResult, Chain, ChainConfig, Genesis, PoolLimits, RewardPool, TokenInfo
from swarmmesh.errors import (
    ArgumentTypeError,
    ConfigError,
    DecodeError,
    DeliveryError,
    InvalidArgumentError,
    KeyFileError,
    StoreError,
    StoreLockedError,
    SwarmMeshError,
)
from swarmmesh.flags import FeatureFlags
from swarmmesh.identity import (
    Keypair,
    address_of,
    key_cache_stats,
    public_key_of,
    reset_key_cache,
    verify,
    verify_batch,
)
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.gossip import Message, Receipt
from swarmmesh.mesh.orchestrator import Mesh
from swarmmesh.transports.memory import MemoryNetwork
from swarmmesh.transports.websocket import WebSocketConfig, WebSocketTransport

__all__ = [
    "AcceptResult",
    "ArgumentTypeError",
    "Block",
    "BlockHeader",
    "BloomFilter",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerRegistry",
    "BreakerSnapshot",
    "Chain",
    "ChainConfig",
    "ConfigError",
    "DecodeError",
    "DedupFilter",
    "DedupStats",
    "DeliveryError",
    "Envelope",
    "FeatureFlags",
    "Genesis",
    "InvalidArgumentError",
    "KeyFileError",
    "Keypair",
    "MemoryNetwork",
    "Mesh",
    "MeshConfig",
    "Message",
    "PoolLimits",
    "Receipt",
    "RewardPool",
    "RoutePlan",
    "RouteStats",
    "Router",
    "StoreError",
    "StoreLockedError",
    "SwarmMeshError",
    "TokenInfo",
    "Transaction",
    "WebSocketConfig",
    "WebSocketTransport",
    "__version__",
    "address_of",
    "key_cache_stats",
    "merkle_root",
    "mine",
    "public_key_of",
    "reset_key_cache",
    "token_id",
    "verify",
    "verify_batch",
]
