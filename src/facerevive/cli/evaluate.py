"""`facerevive-evaluate` / `python evaluate.py`: the benchmark report of every method on every metric.

    python evaluate.py dataset=celeba_test methods=[input,gfpgan_v1.4,ours:path/to/last.ckpt,folder:/restored,gt]

See configs/evaluate.yaml for the methods, the metrics and the outputs (Markdown, CSVs, JSON, HTML gallery).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from facerevive.cli.command_help import CommandHelp, print_help, wants_help
from facerevive.evaluation import EvaluationError, Results, evaluate_methods
from facerevive.evaluation.options import EvaluateOptions
from facerevive.paths import CONFIG_DIR, set_config_environment
from facerevive.utils.cpu_threads import ThreadSettingError
from facerevive.weights import set_pretrained_dir

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> tuple[Results, Path]:
    """Evaluate as `cfg` says, with `paths.pretrained_dir` as the weights folder; returns the results and the
    report folder."""
    set_pretrained_dir(cfg.paths.pretrained_dir)
    return evaluate_methods(cfg)


# The meaning of each schema-checked key, said once in EvaluateOptions.
SCHEMA_HELP = {spec.name: spec.metadata["help"] for spec in dataclasses.fields(EvaluateOptions)}
EVALUATE_HELP = CommandHelp(
    config_name="evaluate.yaml",
    usage=(
        "usage: python evaluate.py [dataset=<test set>] [methods=[...]] [key=value ...]",
        '       (the same: facerevive-evaluate ..., make evaluate ARGS="...")',
    ),
    intro=(
        "Scores every method on every metric of a test set and writes the report (metrics.md, metrics.csv, "
        "per_image.csv, metrics.json, gallery.html) into the run folder. A bare `python evaluate.py` scores the "
        "latest quickstart run on the sample faces."
    ),
    groups=("dataset", "logger"),
    keys={
        "methods": SCHEMA_HELP["methods"],
        "dataset.root": "the test set's folder",
        **{
            key: SCHEMA_HELP[key]
            for key in ("device", "batch_size", "num_workers", "threads", "save_restored", "gallery_size")
        },
        "paths.pretrained_dir": "the weights folder (make weights fills it)",
    },
)


def main() -> None:
    """Console entry point: `--help` prints the short help, else Hydra runs the evaluation."""
    set_config_environment()
    if wants_help(sys.argv[1:]):
        print_help(EVALUATE_HELP, sys.argv[1:])
        raise SystemExit(0)
    _hydra_main()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="evaluate.yaml")
def _hydra_main(cfg: DictConfig) -> None:
    """The command: the report printed and written, or one `evaluate: <reason>` line and exit status 2."""
    try:
        results, out_dir = run(cfg)
    except (*EvaluationError, ThreadSettingError) as exc:
        log.error("%s", exc)
        print(f"evaluate: {exc}", file=sys.stderr)
        sys.exit(2)
    print((out_dir / "metrics.md").read_text(encoding="utf-8"))
    print(f"report: {out_dir}/metrics.md, metrics.tex, metrics.csv, per_image.csv, metrics.json, gallery.html")
    if results.note:
        print(f"NOTE: {results.dataset}: {results.note}")
