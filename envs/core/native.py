"""Pickling for classes that setup.py compiles with mypyc.

A compiled class keeps its attributes in C slots, not in `__dict__`, and its `__new__` runs `__init__`, so the
default pickle protocol cannot rebuild it. Such a class defines `__reduce__` as `(type(self), <its __init__
arguments>, attributes(self))` and `__setstate__` as `restore(self, state)`: unpickling constructs the object
again, then puts back every attribute. The same two methods work when the module runs uncompiled.
"""

from __future__ import annotations

from typing import Any


def attributes(obj: object) -> dict[str, Any]:
    """Every attribute of `obj` that is set: mypyc lists a compiled class's in `__mypyc_attrs__`."""
    names = getattr(type(obj), "__mypyc_attrs__", None)
    if names is None:
        return dict(vars(obj))
    return {name: getattr(obj, name) for name in names if name != "__dict__" and hasattr(obj, name)}


def restore(obj: object, state: dict[str, Any]) -> None:
    """Put back the attributes `attributes` took."""
    for name, value in state.items():
        setattr(obj, name, value)
