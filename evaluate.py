"""Benchmark report: every method on every metric of the protocol, side by side.

    python evaluate.py dataset=celeba_test methods=[input,gfpgan_v1.4,ours:path/to/last.ckpt,folder:/restored,gt]

See configs/evaluate.yaml for the methods, the metrics and the outputs (Markdown, CSV, JSON, HTML gallery).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))

import hydra
from omegaconf import DictConfig

log = logging.getLogger("evaluate")


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate.yaml")
def main(cfg: DictConfig) -> None:
    from facerevive.evaluation import EvaluationError, evaluate_methods

    try:
        _, out_dir = evaluate_methods(cfg)
    except EvaluationError as exc:
        log.error("%s", exc)
        print(f"evaluate: {exc}", file=sys.stderr)
        sys.exit(2)
    print((out_dir / "metrics.md").read_text(encoding="utf-8"))
    print(f"report: {out_dir}/metrics.md, metrics.csv, metrics.json, gallery.html")


if __name__ == "__main__":
    main()
