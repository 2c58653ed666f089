"""Transports: the contract (:mod:`.base`), the registry and the built-in implementations."""
