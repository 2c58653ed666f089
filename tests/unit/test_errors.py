from __future__ import annotations

import pickle

import pytest

import swarmmesh
from swarmmesh import errors


def test_hierarchy_is_rooted_at_swarmmesh_error() -> None:
    for cls in (
        errors.InvalidArgumentError,
        errors.ArgumentTypeError,
        errors.DecodeError,
        errors.ConfigError,
    ):
        assert issubclass(cls, errors.SwarmMeshError)
    assert issubclass(errors.SwarmMeshError, Exception)
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert issubclass(errors.DecodeError, ValueError)
    assert issubclass(errors.ArgumentTypeError, TypeError)
    assert issubclass(errors.ConfigError, ValueError)


def test_errors_module_reexports_the_core_classes() -> None:
    assert errors.SwarmMeshError is swarmmesh._core.SwarmMeshError
    assert errors.InvalidArgumentError is swarmmesh._core.InvalidArgumentError
    assert errors.DecodeError is swarmmesh._core.DecodeError
    assert swarmmesh.SwarmMeshError is errors.SwarmMeshError
    for name in ("SwarmMeshError", "InvalidArgumentError", "ArgumentTypeError", "DecodeError"):
        assert getattr(errors, name).__module__ == "swarmmesh"


def test_core_error_carries_code_and_argument() -> None:
    with pytest.raises(swarmmesh.SwarmMeshError) as exc:
        swarmmesh.BloomFilter(0, 0.01)
    err = exc.value
    assert type(err) is errors.InvalidArgumentError
    assert err.code == "invalid_argument"
    assert err.argument == "capacity"
    assert "`capacity`" in str(err)


def test_config_error_names_the_field() -> None:
    e = errors.ConfigError("port", "must be in [0, 65535]")
    assert e.field == "port"
    assert e.code == "config"
    assert "`port`" in str(e)
    with pytest.raises(swarmmesh.SwarmMeshError):
        raise e


def test_error_classes_pickle_by_name() -> None:
    assert pickle.loads(pickle.dumps(errors.InvalidArgumentError)) is errors.InvalidArgumentError
    assert pickle.loads(pickle.dumps(errors.SwarmMeshError)) is errors.SwarmMeshError
