"""The checks behind the entry points' option schemas (restore, export and evaluate `options` modules).

A schema is a frozen dataclass whose fields are made with `option(meaning, low, high)`: the type hint says the
kind (bool, int, float, str, a list of one kind, a mapping, a Literal of allowed values, or a union of these
with None), the metadata the allowed range and the `--help` text. `checked_values` checks a composed config (or
any mapping) against it once, before anything is built, and raises an OptionError naming the first key that
cannot work.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import field
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from omegaconf import OmegaConf


class OptionError(ValueError):
    """An option that cannot work, said in one line."""


def option(
    meaning: str,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Any:
    """A schema field: what the option means (`--help`) and, for numbers, its allowed range."""
    return field(metadata={"help": meaning, "low": low, "high": high, "open_low": open_low, "open_high": open_high})


def checked_values(schema: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the dataclass `schema`, read from `values` (a DictConfig is resolved) and checked."""
    hints = get_type_hints(schema)
    checked = {}
    for spec in dataclasses.fields(schema):
        if OmegaConf.is_config(values) and OmegaConf.is_missing(values, spec.name):
            raise OptionError(f"{spec.name}= is required: {spec.metadata['help']}")
        raw = values[spec.name]
        plain = OmegaConf.to_container(raw, resolve=True) if OmegaConf.is_config(raw) else raw
        checked[spec.name] = check_value(spec.name, plain, hints[spec.name], spec.metadata)
    return checked


def _kinds(hint: Any) -> tuple[Any, ...]:
    """`float | None` -> (float, None) (`Literal[...] | int` is a typing.Union); any other hint is one kind."""
    if get_origin(hint) in (UnionType, Union):
        return tuple(None if kind is NoneType else kind for kind in get_args(hint))
    return (hint,)


def check_value(name: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    """`value` of option `name` as its type hint and range allow it; OptionError names the key and the allowed
    values. A union of kinds takes the first kind that accepts the value."""
    kinds = _kinds(hint)
    if value is None:
        if None in kinds:
            return None
        raise OptionError(f"{name}=null: a value is required")
    errors: list[OptionError] = []
    for kind in (kind for kind in kinds if kind is not None):
        try:
            return _check_kind(name, value, kind, meta)
        except OptionError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    prefix, allowed = f"{name}={value!r}: ", "allowed values are "
    raise OptionError(prefix + allowed + " or ".join(str(e).removeprefix(prefix).removeprefix(allowed) for e in errors))


def _check_kind(name: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """`value` as the one kind `kind` allows it (see check_value)."""
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        shown = " | ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
        raise OptionError(f"{name}={value!r}: allowed values are {shown}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise OptionError(f"{name}={value!r}: allowed values are true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return _in_range(name, value, meta, "integers ")
        raise OptionError(f"{name}={value!r}: allowed values are integers {_range_text(meta)}".rstrip())
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise OptionError(f"{name}={value}: not a finite number")
            return _in_range(name, value, meta, "")
        raise OptionError(f"{name}={value!r} is not a number")
    if kind is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise OptionError(f"{name}={value!r}: a text value is required")
    if get_origin(kind) is list:
        if isinstance(value, list):
            (item,) = get_args(kind)
            return [_check_kind(f"{name}[{index}]", entry, item, {}) for index, entry in enumerate(value)]
        raise OptionError(f"{name}={value!r}: a list is required, e.g. [a,b]")
    if get_origin(kind) is dict:
        if isinstance(value, dict):
            return value
        raise OptionError(f"{name}={value!r}: a mapping is required, e.g. {{out_size:64}}")
    raise OptionError(f"{name}={value!r}: not an allowed value")


def _range_text(meta: Mapping[str, Any]) -> str:
    """'within [0, 1]', '> 0', '>= 1' or '' for a field without a range."""
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        right = ")" if meta.get("open_high") else "]"
        left = "(" if meta.get("open_low") else "["
        return f"within {left}{_number(low)}, {_number(high)}{right}"
    if low is not None:
        return f"> {_number(low)}" if meta.get("open_low") else f">= {_number(low)}"
    return ""


def _number(value: float) -> str:
    """A bound as written: whole numbers in full (2^63 - 1 is not 9.22e+18), others as `:g`."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _in_range(name: str, value: float, meta: Mapping[str, Any], what: str) -> Any:
    """`value` when it lies in the field's range; else OptionError ("allowed values are <what><range>")."""
    low, high = meta.get("low"), meta.get("high")
    below = low is not None and (value < low or (meta.get("open_low") and value == low))
    above = high is not None and (value > high or (meta.get("open_high") and value == high))
    if below or above:
        raise OptionError(f"{name}={value:g}: allowed values are {what}{_range_text(meta)}")
    return value
