"""The transport registry: built-ins by name, third-party registration, clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swarmmesh import Keypair, WebSocketTransport
from swarmmesh.transports import registry
from swarmmesh.transports.base import TransportError
from swarmmesh.transports.registry import (
    UnknownTransportError,
    create_transport,
    register_transport,
    transport_factory,
    transport_names,
    unregister_transport,
)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    factories, lazy = dict(registry._factories), dict(registry._lazy)
    yield
    registry._factories.clear()
    registry._factories.update(factories)
    registry._lazy.clear()
    registry._lazy.update(lazy)


def test_websocket_is_built_in() -> None:
    assert "websocket" in transport_names()
    transport = create_transport("websocket", keypair=Keypair.generate(), listen=None)
    assert isinstance(transport, WebSocketTransport)
    assert transport_factory("websocket") is WebSocketTransport
    assert transport_names() == tuple(sorted(transport_names()))


def test_third_party_registration_and_removal() -> None:
    def factory(*, keypair: Keypair) -> WebSocketTransport:
        return WebSocketTransport(keypair, listen=None, name="radio")

    register_transport("radio", factory)
    assert "radio" in transport_names()
    made = create_transport("radio", keypair=Keypair.generate())
    assert made.name == "radio"
    with pytest.raises(TransportError) as info:
        register_transport("radio", factory)
    assert info.value.code == "already_registered"
    register_transport("radio", factory, replace=True)
    unregister_transport("radio")
    assert "radio" not in transport_names()
    with pytest.raises(UnknownTransportError):
        unregister_transport("radio")


def test_a_built_in_can_be_replaced_or_removed() -> None:
    with pytest.raises(TransportError) as info:
        register_transport("websocket", WebSocketTransport)
    assert info.value.code == "already_registered"
    unregister_transport("websocket")
    assert "websocket" not in transport_names()
    register_transport("websocket", WebSocketTransport)
    assert transport_factory("websocket") is WebSocketTransport


def test_unknown_names_and_bad_registrations() -> None:
    with pytest.raises(UnknownTransportError) as info:
        create_transport("carrier-pigeon")
    assert info.value.code == "unknown_transport"
    assert "websocket" in info.value.known
    assert "carrier-pigeon" in str(info.value)
    assert "websocket" in str(info.value)
    for bad in ("", "Upper", "-dash", "a b", "x" * 65):
        with pytest.raises(TransportError) as err:
            register_transport(bad, WebSocketTransport)
        assert err.value.code == "bad_name"
    with pytest.raises(TransportError) as err:
        register_transport("notcallable", 42)  # type: ignore[arg-type]
    assert err.value.code == "bad_factory"
    register_transport("liar", lambda: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(TransportError) as err:
        create_transport("liar")
    assert err.value.code == "bad_factory"
