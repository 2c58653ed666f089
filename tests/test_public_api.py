"""Keeps `swarmmesh.__all__` honest (after websockets' test_exports)."""

from __future__ import annotations

import dataclasses
import inspect

import swarmmesh
import swarmmesh.errors


def test_all_names_exist_and_are_documented() -> None:
    assert len(set(swarmmesh.__all__)) == len(swarmmesh.__all__)
    for name in swarmmesh.__all__:
        obj = getattr(swarmmesh, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_all_is_sorted_and_complete() -> None:
    assert swarmmesh.__all__ == sorted(swarmmesh.__all__)
    public = {
        n
        for n, v in vars(swarmmesh).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
    }
    assert public == set(swarmmesh.__all__) - {"__version__"}


def test_public_methods_have_docstrings() -> None:
    for name in swarmmesh.__all__:
        obj = getattr(swarmmesh, name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        # Slotted dataclass fields cannot carry docstrings: the class docstring documents them.
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
        for name_ in fields:
            # Documented in the class docstring, or by the slot itself (a ``__slots__`` dict).
            slot_doc = inspect.getdoc(vars(obj).get(name_)) if name_ in vars(obj) else None
            in_class_doc = f"``{name_}``" in (obj.__doc__ or "")
            assert in_class_doc or slot_doc, f"{name}.{name_} is not documented"
        for attr, member in vars(obj).items():
            if attr.startswith("_") or attr in fields:
                continue
            assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_errors_all() -> None:
    for name in swarmmesh.errors.__all__:
        assert getattr(swarmmesh, name) is getattr(swarmmesh.errors, name)


def test_version_comes_from_cargo() -> None:
    import pathlib
    import tomllib

    cargo = pathlib.Path(__file__).resolve().parents[1] / "Cargo.toml"
    assert swarmmesh.__version__ == tomllib.loads(cargo.read_text())["package"]["version"]
