"""The networks of a training module and their parameter counts, printed once at the start of training.

Lightning's own summary adds a FLOPs column (always 0: a GAN module has no single example input) and counts the
modules in eval mode (the frozen EMA and loss networks, on purpose); this one shows what a user reads it for.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count

SHOWN_COLUMNS = ("Name", "Type", "Params")


def summary_table(columns: list[tuple[str, list[str]]], trainable: int, total: int, size_mb: float) -> str:
    """Name | Type | Params rows (of Lightning's summary columns), then the trainable, frozen and total counts."""
    shown = [(name, [str(v) for v in values]) for name, values in columns if name in SHOWN_COLUMNS]
    widths = [max(len(name), *(len(v) for v in values)) for name, values in shown]
    lines = ["  ".join(name.ljust(width) for (name, _), width in zip(shown, widths, strict=True))]
    rows = len(shown[0][1]) if shown else 0
    for row in range(rows):
        lines.append("  ".join(values[row].ljust(width) for (_, values), width in zip(shown, widths, strict=True)))
    lines += [
        f"{get_human_readable_count(trainable):>8} trainable params",
        f"{get_human_readable_count(total - trainable):>8} frozen params",
        f"{get_human_readable_count(total):>8} total params ({get_formatted_model_size(size_mb)} MB)",
    ]
    return "\n".join(lines)


class NetworkSummary(ModelSummary):
    """Lightning's ModelSummary (top-level networks by default) as a plain Name | Type | Params table on stdout."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        del total_training_modes, total_flops, summarize_kwargs  # Lightning's eval-mode count and FLOPs: left out
        print(summary_table(summary_data, trainable_parameters, total_parameters, model_size), flush=True)
