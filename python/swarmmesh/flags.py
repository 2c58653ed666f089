"""Feature flags: the switches that roll the hybrid mesh out and back.

Two flags, both on by default:

* ``hybrid_orchestrator``: every send goes over the best transports for the peer, hedged and
  with fallbacks. Off, the mesh behaves like the legacy single-transport manager: one transport
  (``MeshConfig.legacy_transport``), sequential sends, no hedging.
* ``connection_resilience``: the circuit breakers refuse calls to failing peers and endpoints.
  Off, they run in metrics-only mode (they still count and report, and never refuse).

Flags come from the code (``FeatureFlags(hybrid_orchestrator=False)``), a TOML file's
``[flags]`` table (:meth:`FeatureFlags.from_file`), the ``SWARMMESH_FLAGS`` environment
variable (:meth:`FeatureFlags.from_env`), and change at runtime (:meth:`FeatureFlags.set`, or
assigning the attribute), which notifies every subscriber. See ``docs/migration.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from swarmmesh.errors import ConfigError

__all__ = ["ENV_VAR", "FLAG_NAMES", "FeatureFlags"]

logger = logging.getLogger(__name__)

#: The environment variable :meth:`FeatureFlags.from_env` reads.
ENV_VAR: Final = "SWARMMESH_FLAGS"
#: Every flag, in a stable order.
FLAG_NAMES: Final = ("hybrid_orchestrator", "connection_resilience")
#: The accepted spellings of a flag value (case-insensitive).
_VALUES: Final = {
    "on": True,
    "true": True,
    "1": True,
    "yes": True,
    "off": False,
    "false": False,
    "0": False,
    "no": False,
}

Subscriber = Callable[[str, bool], None]


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or name not in FLAG_NAMES:
        raise ConfigError(
            str(name), f"unknown feature flag {name!r} in {where} (known: {', '.join(FLAG_NAMES)})"
        )
    return name


def _parse_value(name: str, value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        parsed = _VALUES.get(value.strip().lower())
        if parsed is not None:
            return parsed
    raise ConfigError(
        name,
        f"invalid value {value!r} for feature flag {name} in {where} (use on/off, true/false, 1/0, yes/no)",
    )


class FeatureFlags:
    """The mesh's feature flags (both on by default); mutable at runtime, with subscribers.

    Compared by value; ``repr`` is valid Python. Assigning a flag attribute is the same as
    :meth:`set`: validated (a ``bool``) and announced to the subscribers when it changes.
    """

    __slots__ = ("_connection_resilience", "_hybrid_orchestrator", "_subscribers")

    def __init__(self, *, hybrid_orchestrator: bool = True, connection_resilience: bool = True) -> None:
        self._subscribers: list[Subscriber] = []
        self._hybrid_orchestrator = _require_bool("hybrid_orchestrator", hybrid_orchestrator)
        self._connection_resilience = _require_bool("connection_resilience", connection_resilience)

    @property
    def hybrid_orchestrator(self) -> bool:
        """Multi-transport sends with hedging and fallbacks; off: the legacy single-transport path."""
        return self._hybrid_orchestrator

    @hybrid_orchestrator.setter
    def hybrid_orchestrator(self, value: bool) -> None:
        self.set("hybrid_orchestrator", value)

    @property
    def connection_resilience(self) -> bool:
        """Breakers refuse calls to failing peers; off: breakers in metrics-only mode."""
        return self._connection_resilience

    @connection_resilience.setter
    def connection_resilience(self, value: bool) -> None:
        self.set("connection_resilience", value)

    # ------------------------------------------------------------ loading

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, base: FeatureFlags | None = None
    ) -> FeatureFlags:
        """Flags from ``SWARMMESH_FLAGS`` (``"hybrid_orchestrator=off,connection_resilience=on"``).

        ``env`` defaults to ``os.environ``. Flags the variable does not name keep their value
        from ``base`` (default: the defaults). Strict: an unknown flag, a bad value, a repeated
        flag or an item without ``=`` raises ``ConfigError`` naming it.
        """
        env = os.environ if env is None else env
        values = (base if base is not None else cls()).as_dict()
        raw = env.get(ENV_VAR, "")
        seen: set[str] = set()
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise ConfigError(ENV_VAR, f"expected name=value, got {item!r}")
            _check_name(name, ENV_VAR)
            if name in seen:
                raise ConfigError(name, f"feature flag {name} given twice in {ENV_VAR}")
            seen.add(name)
            values[name] = _parse_value(name, value, ENV_VAR)
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, base: FeatureFlags | None = None) -> FeatureFlags:
        """Flags from the ``[flags]`` table of a TOML file (booleans or on/off strings).

        Flags the table does not name keep their value from ``base`` (default: the defaults);
        a file without a ``[flags]`` table gives ``base``. An unreadable or invalid file, an
        unknown flag or a bad value raises ``ConfigError``.
        """
        where = str(path)
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("flags", f"cannot read {where}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("flags", f"{where} is not valid TOML: {exc}") from exc
        values = (base if base is not None else cls()).as_dict()
        table = document.get("flags", {})
        if not isinstance(table, dict):
            raise ConfigError("flags", f"[flags] in {where} must be a table, got {type(table).__name__}")
        for name, value in table.items():
            _check_name(name, where)
            values[name] = _parse_value(name, value, where)
        return cls(**values)

    # ------------------------------------------------------------ runtime changes

    def set(self, name: str, value: bool) -> None:
        """Change flag ``name`` at runtime; subscribers are called if the value changed.

        Raises ``ConfigError`` for an unknown flag or a value that is not a ``bool``. A
        subscriber that raises is logged and the others are still called.
        """
        _check_name(name, "FeatureFlags.set")
        value = _require_bool(name, value)
        attr = f"_{name}"
        if getattr(self, attr) == value:
            return
        setattr(self, attr, value)
        logger.info("feature flag %s %s", name, "on" if value else "off")
        for callback in list(self._subscribers):
            try:
                callback(name, value)
            except Exception:
                logger.exception("feature flag subscriber %r failed on %s=%s", callback, name, value)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(name, value)`` on every change; return the function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------ views

    def as_dict(self) -> dict[str, bool]:
        """The flags as ``{name: value}``."""
        return {
            "hybrid_orchestrator": self._hybrid_orchestrator,
            "connection_resilience": self._connection_resilience,
        }

    def snapshot(self) -> dict[str, bool]:
        """The same as :meth:`as_dict` (named like the other components' ``snapshot()``)."""
        return self.as_dict()

    def copy(self) -> FeatureFlags:
        """An independent copy with the same values and no subscribers."""
        return FeatureFlags(**self.as_dict())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureFlags):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"FeatureFlags({inner})"


def _require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"feature flag {name} must be a bool, got {value!r}")
    return value
