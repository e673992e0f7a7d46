"""Checking a raw setting value (from TOML or a flag) against its kind, and normalising it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dpmi.study.config.sections import SETTINGS, where


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def coerce_setting(name: str, value: Any) -> Any:
    """`value` for the setting with flat name `name`, type-checked against its kind and normalised (ints for
    integral floats where a float is asked, lists to tuples). ValueError naming the setting and its flag."""
    kind = SETTINGS[name].kind
    if value is None:
        if kind in ("path", "int?", "size"):
            return None
        raise ValueError(f"{name} ({where(name)}) must be set")
    if kind == "size":  # "64x64", 64 or [64, 64]: (height, width)
        return _size(name, value)
    if kind in ("floats", "ints", "strs"):
        if not isinstance(value, (list, tuple)):
            value = [value]
        if kind == "strs":
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} ({where(name)}) must be a list of names, got {value!r}")
            return tuple(value)
        if not all(_number(v) for v in value):
            raise ValueError(f"{name} ({where(name)}) must be a list of numbers, got {value!r}")
        if kind == "ints":
            if not all(float(v).is_integer() for v in value):
                raise ValueError(f"{name} ({where(name)}) must be a list of integers, got {value!r}")
            return tuple(int(v) for v in value)
        return tuple(float(v) for v in value)
    if kind == "options":
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            raise ValueError(f"attack options must be tables [attack.NAME] of key = value, got {value!r}")
        return {str(k): dict(v) for k, v in value.items()}
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} ({where(name)}) must be true or false, got {value!r}")
        return value
    if kind in ("int", "int?"):
        if not _number(value) or not float(value).is_integer() or isinstance(value, float):
            raise ValueError(f"{name} ({where(name)}) must be an integer, got {value!r}")
        return int(value)
    if kind == "float":
        if not _number(value):
            raise ValueError(f"{name} ({where(name)}) must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} ({where(name)}) must be a string, got {value!r}")  # noqa: TRY004 (one CLI line)
    return value


def _size(name: str, value: Any) -> tuple[int, int]:
    """An image size setting as (height, width): "HxW" or "N" text, an integer, or a [height, width] list."""
    import argparse

    from dpmi.flags import read_size

    if isinstance(value, str):
        try:
            return read_size(value)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"{name} ({where(name)}): {exc}") from exc
    size = [value] * 2 if _number(value) else list(value) if isinstance(value, (list, tuple)) else []
    if len(size) != 2 or not all(_number(v) and float(v).is_integer() and v >= 1 for v in size):
        raise ValueError(f"{name} ({where(name)}) must be HxW, N or [height, width] (pixels >= 1), got {value!r}")
    return int(size[0]), int(size[1])
