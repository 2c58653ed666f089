"""Stubs of the private extension ``swarmmesh._core`` (hand-written; checked by stubtest)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, TypeAlias, final

import numpy as np
from numpy.typing import NDArray

__version__: Final[str]

#: What the core accepts as a message id or Bloom item: raw bytes, or text (hashed as UTF-8).
_Id: TypeAlias = bytes | bytearray | memoryview | str

# ---------------------------------------------------------------- errors

class SwarmMeshError(Exception):
    """Root of every error swarmmesh raises. `code` is a stable reason code."""

    code: str

class InvalidArgumentError(SwarmMeshError, ValueError):
    """An argument is outside its domain. `argument` names it."""

    argument: str

class ArgumentTypeError(SwarmMeshError, TypeError):
    """An argument has the wrong type. `argument` names it."""

    argument: str

class DecodeError(SwarmMeshError, ValueError):
    """Bytes could not be decoded. `reason` says why (e.g. 'truncated')."""

    reason: str
    what: str

# ---------------------------------------------------------------- bloom (section owner: bloom/dedup)

# ---------------------------------------------------------------- end bloom

# ---------------------------------------------------------------- dedup (section owner: bloom/dedup)

# ---------------------------------------------------------------- end dedup

# ---------------------------------------------------------------- breaker (section owner: breaker)

# ---------------------------------------------------------------- end breaker

# ---------------------------------------------------------------- routing (section owner: routing)

# ---------------------------------------------------------------- end routing
