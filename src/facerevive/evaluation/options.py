"""The evaluate command's own options as one typed schema (the test set, metrics and logger are config groups with
their own checks): `EvaluateOptions` says each option's type, range and meaning; configs/evaluate.yaml gives the
defaults. `evaluate_options` checks them once, before any data set, network or metric is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from facerevive.utils.option_schema import OptionError, checked_values, option


class SettingError(ValueError):
    """A setting of configs/evaluate.yaml that cannot be used here; the message names the key."""


@dataclass(frozen=True)
class EvaluateOptions:
    """The options of facerevive-evaluate outside its config groups, checked (`evaluate_options`)."""

    methods: list[str] = option(  # noqa: RUF009 - `option` is dataclasses.field
        "rows of the report: input, gt, gfpgan_v1[.2|.3|.4], ours:<checkpoint> or ours:latest, "
        "folder:<restored images>, random:<name>"
    )
    seed: int = option("seed of the restorations' random noise", 0, 2**63 - 1)
    device: str = option("auto | cpu | cuda | cuda:N | mps")
    threads: int | None = option(
        "CPU threads (torch, BLAS); null = the CPUs this process may use (or env FACEREVIVE_THREADS)", 1
    )
    batch_size: int = option("images per forward", 1)
    num_workers: int = option("data-loader processes", 0)
    save_restored: bool = option("keep every restored image under restored/<method>/")
    gallery_size: int | None = option("images in the HTML gallery (null = all)", 0)
    progress: bool = option("progress bar over the methods and images")
    random_overrides: dict[str, Any] | None = option(  # noqa: RUF009 - `option` is dataclasses.field
        "constructor overrides for random:<name> methods, e.g. {out_size:64}"
    )


def evaluate_options(cfg: DictConfig) -> EvaluateOptions:
    """The options of `cfg` checked against `EvaluateOptions`; a SettingError names the first key that cannot
    work."""
    try:
        return EvaluateOptions(**checked_values(EvaluateOptions, cfg))
    except OptionError as exc:
        raise SettingError(str(exc)) from None
