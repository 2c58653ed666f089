"""The transport registry: build transports by name, including third-party ones.

A deployment names its transports in configuration (``"websocket"``, ``"memory"``, a
plugin's ``"my-radio"``); the registry turns a name into a :class:`Transport` through a
factory, a callable taking keyword arguments. The built-in transports are registered
lazily: their modules are imported only when one is created (or its factory looked up),
so naming a transport that needs an optional dependency costs nothing until it is used.

Typical use::

    from swarmmesh.transports.registry import create_transport, register_transport

    register_transport("my-radio", MyRadioTransport)     # a third-party transport
    ws = create_transport("websocket", keypair=keypair, listen="127.0.0.1:0")

The registry is process-wide and meant to be filled at import or start-up time, from
one thread (the event loop's).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from typing import Final

from swarmmesh.transports.base import Transport, TransportError

__all__ = [
    "TransportFactory",
    "UnknownTransportError",
    "create_transport",
    "register_transport",
    "transport_factory",
    "transport_names",
    "unregister_transport",
]

_log = logging.getLogger(__name__)

#: A factory builds a transport from keyword arguments (``keypair=...`` and its options).
TransportFactory = Callable[..., Transport]

#: Names: lower-case letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit.
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

#: Built-in transports, imported on first use: name -> (module, attribute).
_BUILTINS: Final[dict[str, tuple[str, str]]] = {
    "websocket": ("swarmmesh.transports.websocket", "WebSocketTransport"),
    # create_transport("memory", keypair=..., network=MemoryNetwork(), name="gun")
    "memory": ("swarmmesh.transports.memory", "create_memory_transport"),
}

_factories: dict[str, TransportFactory] = {}
_lazy: dict[str, tuple[str, str]] = dict(_BUILTINS)


class UnknownTransportError(TransportError):
    """No transport is registered under ``name``; ``known`` lists the registered names."""

    name: str
    known: tuple[str, ...]

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(name, f"no transport registered under {name!r} (registered: {listed})")
        self.code = "unknown_transport"
        self.name = name
        self.known = known


def register_transport(name: str, factory: TransportFactory, *, replace: bool = False) -> None:
    """Register ``factory`` under ``name``.

    ``name`` must match ``[a-z0-9][a-z0-9._-]*`` (at most 64 characters). Registering a
    name that is taken (a built-in included) raises :class:`TransportError` with code
    ``already_registered`` unless ``replace=True``.
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise TransportError(
            str(name), "a transport name must match [a-z0-9][a-z0-9._-]* (1-64 chars)", code="bad_name"
        )
    if not callable(factory):
        raise TransportError(
            name, f"factory must be callable, got {type(factory).__name__}", code="bad_factory"
        )
    if not replace and (name in _factories or name in _lazy):
        raise TransportError(
            name,
            "a transport is already registered under this name (pass replace=True)",
            code="already_registered",
        )
    _lazy.pop(name, None)
    _factories[name] = factory
    _log.debug("transport %r registered", name)


def unregister_transport(name: str) -> None:
    """Remove the transport registered under ``name`` (a built-in included).

    Raises :class:`UnknownTransportError` if there is none.
    """
    if _factories.pop(name, None) is None and _lazy.pop(name, None) is None:
        raise UnknownTransportError(name, transport_names())
    _log.debug("transport %r unregistered", name)


def transport_names() -> tuple[str, ...]:
    """The registered names, sorted (built-ins included, loaded or not)."""
    return tuple(sorted({*_factories, *_lazy}))


def transport_factory(name: str) -> TransportFactory:
    """The factory registered under ``name`` (imports a built-in on first use).

    Raises :class:`UnknownTransportError` for an unknown name.
    """
    factory = _factories.get(name)
    if factory is not None:
        return factory
    target = _lazy.get(name)
    if target is None:
        raise UnknownTransportError(name, transport_names())
    module_name, attribute = target
    loaded: TransportFactory = getattr(importlib.import_module(module_name), attribute)
    # Another registration may have happened during the import; keep it if so.
    if _lazy.get(name) == target:
        del _lazy[name]
        _factories[name] = loaded
    return _factories.get(name, loaded)


def create_transport(name: str, /, **kwargs: object) -> Transport:
    """Build the transport registered under ``name`` with ``factory(**kwargs)``.

    Raises :class:`UnknownTransportError` for an unknown name and
    :class:`TransportError` (code ``bad_factory``) if the factory returns something that
    does not implement :class:`~swarmmesh.transports.base.Transport`.
    """
    transport = transport_factory(name)(**kwargs)
    if not isinstance(transport, Transport):
        raise TransportError(
            name, f"factory returned {type(transport).__name__}, not a Transport", code="bad_factory"
        )
    return transport
