"""MeshConfig: defaults, validation naming the field, priors merged over the seed design's."""

from __future__ import annotations

import dataclasses

import pytest

from swarmmesh import MeshConfig
from swarmmesh.errors import ConfigError
from swarmmesh.mesh.config import DEFAULT_PRIORS
from swarmmesh.mesh.health import HealthConfig
from swarmmesh.mesh.resilience import ResilienceConfig


def test_defaults_are_valid_and_compose_the_sub_configs() -> None:
    cfg = MeshConfig()
    assert cfg.resilience == ResilienceConfig()
    assert cfg.health == HealthConfig()
    assert cfg.legacy_transport is None
    assert dict(cfg.priors) == {"integrated": 1.0, "gun": 0.8, "peerjs": 0.6}
    assert cfg.attempt_timeout_s <= cfg.send_timeout_s
    assert hash(cfg) == hash(MeshConfig())
    assert cfg == MeshConfig()


def test_frozen() -> None:
    cfg = MeshConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.send_timeout_s = 1.0  # type: ignore[misc]


def test_priors_merge_over_the_defaults() -> None:
    cfg = MeshConfig(priors={"gun": 0.9, "memory": 0.7})
    assert dict(cfg.priors) == {"integrated": 1.0, "gun": 0.9, "peerjs": 0.6, "memory": 0.7}
    assert dict(DEFAULT_PRIORS)["gun"] == 0.8  # the defaults are not changed
    with pytest.raises(TypeError):
        cfg.priors["gun"] = 0.1  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("send_timeout_s", 0),
        ("send_timeout_s", -1.0),
        ("send_timeout_s", float("inf")),
        ("attempt_timeout_s", float("nan")),
        ("dial_timeout_s", "1"),
        ("send_wait_s", True),
        ("maintenance_interval_s", 0.0),
        ("dedup_ttl_s", 100_000.0),
        ("max_parallel", 0),
        ("max_parallel", 1.5),
        ("broadcast_ttl", 256),
        ("dedup_capacity", 10),
        ("dedup_fp_rate", 0.0),
        ("dedup_fp_rate", 0.5),
        ("verify_batch_size", 0),
        ("verify_threads", 0),
        ("verify_offload_min", 0),
        ("verify_offload_min", True),
        ("verify_offload_min", 65_537),
        ("max_pending_sends", 0),
        ("max_inflight_per_peer", 0),
        ("gossip_queue_per_peer", 0),
        ("gossip_queue_per_transport", 0),
        ("subscription_queue", 0),
        ("legacy_attempts", 0),
        ("legacy_transport", ""),
        ("max_peers", 0),
        ("reassembly_max_bytes", 10),
        ("router_exploration", 1.5),
        ("seed", -1),
        ("seed", 2**64),
        ("resilience", object()),
        ("health", None),
        ("priors", {"gun": 2.0}),
        ("priors", {"": 0.5}),
        ("priors", [("gun", 0.5)]),
    ],
)
def test_invalid_values_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        MeshConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.code == "config"


def test_attempt_timeout_may_not_exceed_the_send_timeout() -> None:
    with pytest.raises(ConfigError) as info:
        MeshConfig(send_timeout_s=1.0, attempt_timeout_s=2.0)
    assert info.value.field == "attempt_timeout_s"


def test_replace_validates() -> None:
    cfg = MeshConfig().replace(send_timeout_s=3.0, seed=7)
    assert cfg.send_timeout_s == 3.0
    assert cfg.seed == 7
    with pytest.raises(ConfigError):
        cfg.replace(max_parallel=0)


def test_min_attempt_timeout_may_not_exceed_the_attempt_timeout() -> None:
    with pytest.raises(ConfigError) as info:
        MeshConfig(attempt_timeout_s=1.0, min_attempt_timeout_s=1.5)
    assert info.value.field == "min_attempt_timeout_s"
    assert MeshConfig(attempt_timeout_s=1.0, min_attempt_timeout_s=1.0).min_attempt_timeout_s == 1.0
