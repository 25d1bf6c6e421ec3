"""Typed records from JSON objects: a dataclass's fields say what each key holds.

`load(cls, data, where, problems)` builds `cls` from a dict. Each field's type annotation
(`str | None`, `int | None`, `float | None`, `bool | None`, `list[float]`, `dict | None`, another
record, `list[Record]`) decides how the value is read: whole numbers are accepted for floats, whole
floats for ints, numbers for text; anything else is a *problem* -- the field takes its default and
`problems` gets one line naming the key. Keys the record does not name are kept in its `extra`
dict, so nothing a newer writer adds is lost. `dump(record)` gives the dict back (fields in
declaration order, then `extra`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any

_MISSING = object()


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load(cls: Any, data: Any, where: str, problems: list[str]) -> Any:
    """`cls` from the dict `data` (`where`: the key path for problem messages)."""
    if not isinstance(data, dict):
        problems.append(f"{where}: expected an object, got {_kind(data)}")
        data = {}
    hints = _hints(cls)
    values, names = {}, set()
    for f in dataclasses.fields(cls):
        names.add(f.name)
        if f.name == "extra" or not f.init:
            continue
        raw = data.get(f.name, _MISSING)
        if raw is _MISSING:
            continue
        ok, value = _convert(hints[f.name], raw, f"{where}.{f.name}", problems)
        if ok:
            values[f.name] = value
    if "extra" in names:
        values["extra"] = {k: v for k, v in data.items() if k not in names}
    return cls(**values)


def dump(record) -> dict:
    """The dict `record` was read from (or would be written as)."""
    out = {}
    for f in dataclasses.fields(record):
        if f.name == "extra" or not f.init:
            continue
        out[f.name] = _dump_value(getattr(record, f.name))
    out.update(getattr(record, "extra", {}) or {})
    return out


def _dump_value(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump(value)
    if isinstance(value, list):
        return [_dump_value(v) for v in value]
    return value


def _convert(hint, raw, where: str, problems: list[str]) -> tuple[bool, Any]:
    """(True, value) when `raw` fits `hint`, else (False, None) with a problem recorded."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw is None:
            return True, None
        if len(options) == 1:
            return _convert(options[0], raw, where, problems)
        for option in options:
            ok, value = _convert(option, raw, where, [])
            if ok:
                return True, value
        problems.append(f"{where}: expected {_describe(hint)}, got {_kind(raw)}")
        return False, None
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if not isinstance(raw, list):
            problems.append(f"{where}: expected a list, got {_kind(raw)}")
            return False, None
        out = []
        for i, v in enumerate(raw):
            ok, value = _convert(item, v, f"{where}[{i}]", problems)
            if ok:
                out.append(value)
        return True, out
    if origin is dict or hint is dict:
        if isinstance(raw, dict):
            return True, raw
        problems.append(f"{where}: expected an object, got {_kind(raw)}")
        return False, None
    if dataclasses.is_dataclass(hint):
        if isinstance(raw, dict):
            return True, load(hint, raw, where, problems)
        problems.append(f"{where}: expected an object, got {_kind(raw)}")
        return False, None
    ok, value = _scalar(hint, raw)
    if not ok:
        problems.append(f"{where}: expected {_describe(hint)}, got {_kind(raw)}")
    return ok, value


def _scalar(hint, raw) -> tuple[bool, Any]:
    if hint is Any:
        return True, raw
    if hint is bool:
        return (True, raw) if isinstance(raw, bool) else (False, None)
    if isinstance(raw, bool):
        return False, None
    if hint is int:
        if isinstance(raw, int):
            return True, raw
        if isinstance(raw, float) and raw.is_integer():
            return True, int(raw)
        return False, None
    if hint is float:
        if isinstance(raw, (int, float)) and raw == raw and abs(raw) != float("inf"):
            return True, float(raw)
        return False, None
    if hint is str:
        if isinstance(raw, str):
            return True, raw
        if isinstance(raw, (int, float)):
            return True, str(raw)
        return False, None
    return (True, raw) if isinstance(raw, hint) else (False, None)


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    names: dict[Any, str] = {str: "text", int: "a whole number", float: "a number", bool: "true/false", dict: "an object"}
    if origin is list:
        return "a list"
    return names[hint] if hint in names else getattr(hint, "__name__", str(hint))


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    kinds: dict[type, str] = {dict: "an object", list: "a list"}
    return kinds.get(type(value), type(value).__name__)
