"""Networks that record their own constructor arguments as a `_target_` config.

A checkpoint or export stores `net.config`, so the network can be rebuilt from the file alone, whoever built it
(Hydra, a test, user code). The record is plain data (dicts, lists, numbers, strings, None) so that it loads
with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

ModuleType = TypeVar("ModuleType", bound=type[nn.Module])


def plain(value: Any) -> Any:
    """`value` with mappings as dicts, sequences (tuples included) as lists, paths as strings, classes by name."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"constructor argument {value!r} ({type(value).__name__}) cannot be recorded as plain data")


def recorded_target(cls: type) -> str:
    """The `_target_` a FaceRevive network records for its class (what checkpoints and exports carry)."""
    return f"facerevive.archs.{cls.__name__}"


def records_config(cls: ModuleType) -> ModuleType:
    """Class decorator: after `__init__`, `self.config` is `{'_target_': 'facerevive.archs.<Name>', **kwargs}`.

    Every constructor argument is recorded, defaults filled in. A subclass that is decorated too records its
    own arguments; the record of the class actually built wins.
    """
    init: Callable[..., None] = cls.__init__
    signature = inspect.signature(init)
    target = recorded_target(cls)

    @functools.wraps(init)
    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        built = type(self)
        if built is cls:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = {name: plain(value) for name, value in bound.arguments.items() if name != "self"}
            self.config = {"_target_": target, **arguments}

    cls.__init__ = recording_init  # type: ignore[method-assign]
    return cls
