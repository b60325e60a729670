"""The allowed range of every training setting that has one, checked as plain data before anything is built.

`lr=-1`, `data.num_workers=-1` or `seed=abc` otherwise fail deep inside torch or Lightning, one per attempt. Here
each bad value is one line naming the key and what it allows (`range_problems` returns them all). A key that the
composed config does not have (another recipe, a switched-off callback) is not checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

# What `setting` gives for a key the config does not have.
ABSENT = object()


@dataclass(frozen=True)
class Range:
    """Integers (`integer`) or numbers from `minimum` (exclusive when `above`) up to `below` (exclusive);
    `power_of_two` also asks for a power of two; `nullable` allows null."""

    integer: bool = True
    minimum: float | None = None
    above: bool = False
    below: float | None = None
    power_of_two: bool = False
    nullable: bool = False

    def allows(self, value: object) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.minimum is not None and (value <= self.minimum if self.above else value < self.minimum):
            return False
        if self.below is not None and value >= self.below:
            return False
        return not self.power_of_two or (int(value) & (int(value) - 1)) == 0

    def describe(self) -> str:
        """'integers >= 1', 'numbers > 0', 'powers of two >= 8', 'numbers within [0, 1)', '... or null'."""
        kind = "powers of two" if self.power_of_two else "integers" if self.integer else "numbers"
        if self.minimum is not None and self.below is not None:
            text = f"{kind} within [{self.minimum:g}, {self.below:g})"
        elif self.minimum is not None:
            text = f"{kind} {'>' if self.above else '>='} {self.minimum:g}"
        else:
            text = kind
        return text + (" or null" if self.nullable else "")


POSITIVE_INT = Range(minimum=1)
COUNT = Range(minimum=0)
LEARNING_RATE = Range(integer=False, minimum=0, above=True)
WEIGHT = Range(integer=False, minimum=0)

# Every training key with a meaningful range, in the order problems are listed.
SETTING_RANGES: dict[str, Range] = {
    "seed": Range(nullable=True),
    "threads": Range(minimum=1, nullable=True),
    "model.total_iter": POSITIVE_INT,
    "model.net_g.out_size": Range(minimum=8, power_of_two=True),
    "model.optimizer_g.lr": LEARNING_RATE,
    "model.optimizer_d.lr": LEARNING_RATE,
    "model.optimizer_component.lr": LEARNING_RATE,
    "model.ema_decay": Range(integer=False, minimum=0, below=1),
    "model.net_d_iters": POSITIVE_INT,
    "model.net_d_reg_every": POSITIVE_INT,
    "model.net_d_init_iters": COUNT,
    **{
        f"model.loss_weights.{name}": WEIGHT
        for name in ("pixel", "pyramid", "removed_pyramid", "gan", "component_gan", "comp_style", "identity", "r1")
    },
    "model.loss_weights.remove_pyramid_after": COUNT,
    "data.batch_size": POSITIVE_INT,
    "data.val_batch_size": POSITIVE_INT,
    "data.num_workers": Range(minimum=0, nullable=True),
    "data.prefetch_factor": Range(minimum=1, nullable=True),
    "trainer.log_every_n_steps": POSITIVE_INT,
    "trainer.val_check_interval": Range(integer=False, minimum=0, above=True, nullable=True),
    "callbacks.iteration_checkpoint.every_n_iter": POSITIVE_INT,
    "callbacks.image_grid.every_n_iter": POSITIVE_INT,
    "callbacks.progress_bar.print_every_n_iter": POSITIVE_INT,
    "callbacks.progress_bar.print_every_seconds": Range(integer=False, minimum=0, above=True),
}


def setting(cfg: DictConfig, key: str) -> object:
    """The value of `key` in `cfg`, or ABSENT when the config has no such key (or its parent is null)."""
    try:
        return OmegaConf.select(cfg, key, default=ABSENT)
    except Exception:  # an interpolation that does not resolve is left to the check that needs it
        return ABSENT


def range_problems(cfg: DictConfig) -> list[str]:
    """One line per key of SETTING_RANGES whose value is out of range: `data.num_workers=-1: allowed values are
    integers >= 0 or null`."""
    problems = []
    for key, allowed in SETTING_RANGES.items():
        value = setting(cfg, key)
        if value is not ABSENT and not allowed.allows(value):
            shown = "null" if value is None else value
            problems.append(f"{key}={shown}: allowed values are {allowed.describe()}")
    return problems
