"""`facerevive-export weights=... out=...`: write a restoration network as ONNX
or TorchScript (options in configs/export.yaml), then check an ONNX file against PyTorch."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from facerevive.cli.hydra_app import run_hydra_app
from facerevive.cli.restore_options import renamed_keys
from facerevive.export.build import Export, write_export
from facerevive.export.options import export_options
from facerevive.paths import set_config_environment
from facerevive.restore.build import is_random_model
from facerevive.weights import set_pretrained_dir

log = logging.getLogger("export")


def run(cfg: DictConfig) -> Export:
    """Export `cfg.model` to `cfg.out`; a bad option or missing file is one line and exit status 2."""
    from facerevive.export.parity import onnx_max_abs_error
    from facerevive.restore.onnx_runtime import OnnxGenerator

    set_pretrained_dir(cfg.paths.pretrained_dir)
    try:
        options = export_options(cfg)
        export = write_export(replace(options, out=to_absolute_path(options.out)))
    except (OSError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        print(f"export: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if is_random_model(options.weights):
        log.warning(
            "weights=%s is RANDOMLY INITIALISED: the export is for testing a runtime, not for restoring",
            options.weights,
        )
    size_mb = export.path.stat().st_size / 1e6
    print(
        f"wrote {export.path} ({size_mb:.1f} MB, {export.info.architecture}, noise={export.info.noise}, "
        f"modconv={export.info.modconv}, batch={export.info.batch}, {export.info.dtype})"
    )
    if options.format == "onnx" and options.check_faces > 0:
        error = onnx_max_abs_error(OnnxGenerator(export.path), export.graph, options.check_faces)
        print(f"onnxruntime vs PyTorch on {options.check_faces} random faces: max abs error {error:.3g} on [-1, 1]")
    return export


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point on `argv` (default: the process's arguments): `model=` / `model_overrides=` are
    the weights keys (`renamed_keys`); Hydra runs `run` on the result, the command line itself untouched."""
    set_config_environment()
    run_hydra_app(run, "export.yaml", renamed_keys(list(sys.argv[1:] if argv is None else argv)))
