"""Feature flags (swarmmesh.FeatureFlags): environment, file, runtime changes, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import swarmmesh
from swarmmesh import ConfigError, FeatureFlags
from swarmmesh.flags import ENV_VAR, FLAG_NAMES


def test_defaults_values_and_repr() -> None:
    flags = FeatureFlags()
    assert flags.hybrid_orchestrator is True
    assert flags.connection_resilience is True
    assert flags.as_dict() == {"hybrid_orchestrator": True, "connection_resilience": True}
    assert flags.snapshot() == flags.as_dict()
    assert FLAG_NAMES == ("hybrid_orchestrator", "connection_resilience")
    off = FeatureFlags(hybrid_orchestrator=False)
    assert repr(off) == "FeatureFlags(hybrid_orchestrator=False, connection_resilience=True)"
    assert eval(repr(off), {"FeatureFlags": FeatureFlags}) == off
    assert off != flags
    assert off.copy() == off
    assert off.copy() is not off
    assert swarmmesh.FeatureFlags is FeatureFlags
    with pytest.raises(TypeError):
        hash(flags)


def test_constructor_rejects_non_bools() -> None:
    with pytest.raises(ConfigError) as info:
        FeatureFlags(connection_resilience=1)  # type: ignore[arg-type]
    assert info.value.field == "connection_resilience"


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {"hybrid_orchestrator": True, "connection_resilience": True}),
        ("hybrid_orchestrator=off", {"hybrid_orchestrator": False, "connection_resilience": True}),
        (
            "hybrid_orchestrator=off,connection_resilience=on",
            {"hybrid_orchestrator": False, "connection_resilience": True},
        ),
        (" connection_resilience = NO , ", {"hybrid_orchestrator": True, "connection_resilience": False}),
        (
            "hybrid_orchestrator=0,connection_resilience=false",
            {"hybrid_orchestrator": False, "connection_resilience": False},
        ),
        (
            "hybrid_orchestrator=Yes,connection_resilience=1",
            {"hybrid_orchestrator": True, "connection_resilience": True},
        ),
        ("connection_resilience=TRUE", {"hybrid_orchestrator": True, "connection_resilience": True}),
    ],
)
def test_from_env_parses_every_accepted_spelling(value: str, expected: dict[str, bool]) -> None:
    assert FeatureFlags.from_env({ENV_VAR: value}).as_dict() == expected


def test_from_env_without_the_variable_keeps_the_base() -> None:
    base = FeatureFlags(connection_resilience=False)
    assert FeatureFlags.from_env({}) == FeatureFlags()
    got = FeatureFlags.from_env({"OTHER": "x"}, base=base)
    assert got == base
    assert got is not base
    assert FeatureFlags.from_env({ENV_VAR: "hybrid_orchestrator=off"}, base=base).as_dict() == {
        "hybrid_orchestrator": False,
        "connection_resilience": False,
    }


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "connection_resilience=off")
    assert FeatureFlags.from_env().connection_resilience is False


@pytest.mark.parametrize(
    ("value", "field", "fragment"),
    [
        ("hybrid=off", "hybrid", "unknown feature flag 'hybrid'"),
        ("hybrid_orchestrator=maybe", "hybrid_orchestrator", "invalid value 'maybe'"),
        ("hybrid_orchestrator=", "hybrid_orchestrator", "invalid value ''"),
        ("hybrid_orchestrator", ENV_VAR, "expected name=value"),
        ("hybrid_orchestrator=on,hybrid_orchestrator=off", "hybrid_orchestrator", "given twice"),
    ],
)
def test_from_env_is_strict(value: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        FeatureFlags.from_env({ENV_VAR: value})
    assert info.value.field == field
    assert fragment in str(info.value)


# ---------------------------------------------------------------- file


def test_from_file_reads_the_flags_table(tmp_path: Path) -> None:
    path = tmp_path / "swarmmesh.toml"
    path.write_text('[mesh]\nlegacy_transport = "peerjs"\n\n[flags]\nhybrid_orchestrator = false\n')
    assert FeatureFlags.from_file(path).as_dict() == {
        "hybrid_orchestrator": False,
        "connection_resilience": True,
    }
    path.write_text('[flags]\nconnection_resilience = "off"\n')
    assert FeatureFlags.from_file(str(path)).connection_resilience is False
    path.write_text("[other]\nx = 1\n")
    base = FeatureFlags(hybrid_orchestrator=False)
    assert FeatureFlags.from_file(path, base=base) == base


def test_file_then_environment_then_runtime(tmp_path: Path) -> None:
    path = tmp_path / "swarmmesh.toml"
    path.write_text("[flags]\nhybrid_orchestrator = false\nconnection_resilience = false\n")
    flags = FeatureFlags.from_env({ENV_VAR: "connection_resilience=on"}, base=FeatureFlags.from_file(path))
    assert flags.as_dict() == {"hybrid_orchestrator": False, "connection_resilience": True}
    flags.set("hybrid_orchestrator", True)
    assert flags == FeatureFlags()


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("[flags]\nturbo = true\n", "turbo", "unknown feature flag 'turbo'"),
        ("[flags]\nhybrid_orchestrator = 2\n", "hybrid_orchestrator", "invalid value 2"),
        ("[flags]\nhybrid_orchestrator = \n", "flags", "not valid TOML"),
        ('flags = "on"\n', "flags", "must be a table"),
    ],
)
def test_from_file_errors(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        FeatureFlags.from_file(path)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_from_file_missing_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        FeatureFlags.from_file(tmp_path / "absent.toml")


# ---------------------------------------------------------------- runtime


def test_set_notifies_subscribers_on_change_only(caplog: pytest.LogCaptureFixture) -> None:
    flags = FeatureFlags()
    seen: list[tuple[str, bool]] = []
    unsubscribe = flags.subscribe(lambda name, value: seen.append((name, value)))
    with caplog.at_level(logging.INFO, logger="swarmmesh.flags"):
        flags.set("hybrid_orchestrator", False)
    assert "feature flag hybrid_orchestrator off" in caplog.text
    flags.set("hybrid_orchestrator", False)  # no change: no notification
    flags.connection_resilience = False  # attribute assignment is set()
    assert seen == [("hybrid_orchestrator", False), ("connection_resilience", False)]
    assert flags.as_dict() == {"hybrid_orchestrator": False, "connection_resilience": False}
    unsubscribe()
    unsubscribe()  # idempotent
    flags.set("hybrid_orchestrator", True)
    assert len(seen) == 2
    assert flags.hybrid_orchestrator is True


def test_a_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    flags = FeatureFlags()
    seen: list[str] = []

    def broken(name: str, value: bool) -> None:
        raise RuntimeError("subscriber bug")

    flags.subscribe(broken)
    flags.subscribe(lambda name, value: seen.append(name))
    with caplog.at_level(logging.ERROR, logger="swarmmesh.flags"):
        flags.set("connection_resilience", False)
    assert seen == ["connection_resilience"]
    assert "subscriber" in caplog.text
    assert flags.connection_resilience is False


def test_set_rejects_unknown_flags_and_non_bools() -> None:
    flags = FeatureFlags()
    with pytest.raises(ConfigError) as info:
        flags.set("turbo", True)
    assert info.value.field == "turbo"
    with pytest.raises(ConfigError) as info:
        flags.set("hybrid_orchestrator", "off")  # type: ignore[arg-type]
    assert info.value.field == "hybrid_orchestrator"
    with pytest.raises(ConfigError):
        flags.hybrid_orchestrator = 0  # type: ignore[assignment]
    assert flags == FeatureFlags()
