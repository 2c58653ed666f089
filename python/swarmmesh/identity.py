"""Node and account identities: Ed25519 keypairs, signatures and addresses.

A :class:`Keypair` signs transactions on the chain and authenticates links in the
mesh; its :attr:`~Keypair.address` (``sw1...``, bech32m with a checksum) is both
the account address and the peer id. Verification follows the ZIP-215 rules in
single and batch form alike (see ``docs/chain.md``).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from swarmmesh._core import (
    SigningKey,
    address_of,
    key_cache_stats,
    public_key_of,
    reset_key_cache,
    verify,
    verify_batch,
)
from swarmmesh.errors import KeyFileError

__all__ = [
    "Keypair",
    "address_of",
    "key_cache_stats",
    "public_key_of",
    "reset_key_cache",
    "verify",
    "verify_batch",
]

_FORMAT: Final = "swarmmesh-keypair"
_VERSION: Final = 1
#: Largest key file we read: a valid one is about 200 bytes.
_MAX_FILE: Final = 4096


class Keypair:
    """An Ed25519 keypair: the identity of an account and of a mesh node.

    Build one with :meth:`generate`, :meth:`from_seed` or :meth:`load`. Two
    keypairs are equal when their public keys are; the secret never appears in
    ``repr`` and a keypair cannot be pickled.
    """

    __slots__ = ("_address", "_key", "_public_key")

    def __init__(self, signing_key: SigningKey) -> None:
        """Wrap a core signing key (use the classmethods instead)."""
        self._key = signing_key
        self._public_key: bytes = signing_key.public_key
        self._address: str = address_of(self._public_key)

    @classmethod
    def generate(cls) -> Keypair:
        """A fresh keypair from the operating system's CSPRNG."""
        return cls(SigningKey(secrets.token_bytes(32)))

    @classmethod
    def from_seed(cls, seed: bytes) -> Keypair:
        """The keypair whose RFC 8032 secret is the 32-byte ``seed`` (deterministic)."""
        return cls(SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key."""
        return self._public_key

    @property
    def address(self) -> str:
        """The address (``sw1`` + 58 characters, bech32m): account id and peer id."""
        return self._address

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def seed(self) -> bytes:
        """The 32-byte secret seed. Handle with care."""
        return self._key.seed()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the keypair to ``path`` with mode 0600, atomically.

        The file is written beside ``path`` under a temporary name and renamed
        over it, so a crash never leaves a half-written key. Raises
        :class:`~swarmmesh.errors.KeyFileError` if it cannot be written.
        """
        target = Path(path)
        body = json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "algorithm": "ed25519",
                "seed": self._key.seed().hex(),
                "address": self._address,
            },
            indent=2,
        ).encode()
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, body + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise KeyFileError(str(target), f"cannot write key file: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keypair:
        """Read a keypair written by :meth:`save`.

        Refuses (``KeyFileError``) a file that group or others may read or write
        (as ssh does), a file that is not a regular file, and a file whose stored
        address does not match its seed (corruption).
        """
        target = Path(path)
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise KeyFileError(str(target), f"cannot open key file: {exc}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KeyFileError(str(target), "not a regular file")
            if st.st_mode & 0o077:
                raise KeyFileError(
                    str(target),
                    f"permissions {stat.S_IMODE(st.st_mode):04o} are too open: "
                    "a key file must be readable by its owner only (chmod 600)",
                )
            raw = os.read(fd, _MAX_FILE + 1)
        finally:
            os.close(fd)
        if len(raw) > _MAX_FILE:
            raise KeyFileError(str(target), f"larger than {_MAX_FILE} bytes: not a key file")
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
                raise KeyFileError(str(target), "not a swarmmesh key file")
            if doc.get("version") != _VERSION or doc.get("algorithm") != "ed25519":
                raise KeyFileError(str(target), "unsupported key file version or algorithm")
            seed = bytes.fromhex(str(doc["seed"]))
            keypair = cls.from_seed(seed)
        except KeyFileError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(str(target), f"malformed key file: {exc}") from exc
        if doc.get("address") != keypair.address:
            raise KeyFileError(str(target), "stored address does not match the seed (corrupt file)")
        return keypair

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keypair) and other._public_key == self._public_key

    def __hash__(self) -> int:
        return hash(self._public_key)

    def __repr__(self) -> str:
        return f"Keypair(address={self._address!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Keypair holds a secret and is not picklable; use save() and load()")
