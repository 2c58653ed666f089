"""The SWARM chain, Python side: store, transaction pool, fork choice and orphans.

Validation and the ledger live in the Rust core (``swarmmesh._core``); this
package composes them with an SQLite store into :class:`Chain`. See
``docs/chain-api.md``.
"""

from __future__ import annotations

from swarmmesh.chain.chain import Chain
from swarmmesh.chain.genesis import Genesis
from swarmmesh.chain.mempool import PoolLimits
from swarmmesh.chain.values import AcceptResult, ChainConfig, RewardPool, TokenInfo

__all__ = ["AcceptResult", "Chain", "ChainConfig", "Genesis", "PoolLimits", "RewardPool", "TokenInfo"]
