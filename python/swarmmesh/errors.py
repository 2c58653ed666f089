"""The swarmmesh error hierarchy.

Every error swarmmesh raises derives from :class:`SwarmMeshError`. The classes that
the Rust core raises are born there and re-exported here; the errors that only the
Python layer raises (configuration, and later transports) are defined here under
the same root. Each instance carries ``code``, a stable reason code to match on.
"""

from __future__ import annotations

from swarmmesh._core import ArgumentTypeError, DecodeError, InvalidArgumentError, SwarmMeshError

__all__ = [
    "ArgumentTypeError",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "InvalidArgumentError",
    "KeyFileError",
    "StoreError",
    "StoreLockedError",
    "SwarmMeshError",
]


class ConfigError(SwarmMeshError, ValueError):
    """A configuration value is invalid; ``field`` names it."""

    code: str
    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid config field `{field}`: {message}")
        self.field = field
        self.code = "config"


class KeyFileError(SwarmMeshError, OSError):
    """A key file cannot be read or written, or is unsafe; ``path`` names it."""

    code: str
    path: str

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"key file {path}: {message}")
        self.path = path
        self.code = "key_file"


class DeliveryError(SwarmMeshError):
    """A mesh ``send`` was not acknowledged: every route failed, or no route was left.

    ``code`` says why: ``"no_route"`` (no transport can reach the peer, or all are
    refused), ``"failed"`` (every attempt failed), ``"timeout"`` (the send's deadline
    passed), ``"backpressure"`` (no send slot freed in time), ``"rejected"`` (the peer
    refused the message) or ``"stopped"`` (the mesh stopped). ``peer_id`` names the
    destination, ``attempts`` counts the attempts made and ``reasons`` lists
    ``(transport, reason)`` for each failed one.
    """

    code: str
    peer_id: str
    attempts: int
    reasons: tuple[tuple[str, str], ...]

    def __init__(
        self,
        peer_id: str,
        message: str,
        *,
        code: str = "failed",
        attempts: int = 0,
        reasons: tuple[tuple[str, str], ...] = (),
    ) -> None:
        detail = "; ".join(f"{t}: {r}" for t, r in reasons)
        super().__init__(
            f"delivery to {peer_id} failed ({code}): {message}" + (f" [{detail}]" if detail else "")
        )
        self.peer_id = peer_id
        self.code = code
        self.attempts = attempts
        self.reasons = reasons


class StoreError(SwarmMeshError, OSError):
    """A chain store cannot be opened or used; ``path`` names it (``None`` in memory)."""

    code: str
    path: str

    def __init__(self, path: str, message: str, *, code: str = "store") -> None:
        super().__init__(f"chain store {path}: {message}")
        self.path = path
        self.code = code


class StoreLockedError(StoreError):
    """Another process (or another open ``Chain``) holds the chain store."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "already opened by another process (lock held)", code="store_locked")
