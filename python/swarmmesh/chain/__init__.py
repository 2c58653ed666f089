"""The SWARM chain, Python side: store, transaction pool, fork choice and orphans.

Validation and the ledger live in the Rust core (``swarmmesh._core``); this
package composes them with an SQLite store into :class:`~swarmmesh.chain.chain.Chain`.
"""

from __future__ import annotations
