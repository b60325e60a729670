"""`facerevive-restore` / `python restore.py input=photo.jpg output=results/`: restore old photos.

Options are in configs/restore.yaml (their schema: facerevive.restore.options.RestoreOptions, checked once before
anything is built); the pipeline and the output writer are instantiated from its `pipeline` and `runner` nodes.
The official flags (`-i photo.jpg -v 1.4`) and the old `model=` keys become Hydra overrides
(`cli.restore_options.command_overrides`), handed to Hydra as a list: the command line is not rewritten.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from hydra.errors import InstantiationException
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

from facerevive.cli.hydra_app import run_hydra_app
from facerevive.cli.restore_options import command_overrides, option_help
from facerevive.paths import set_config_environment
from facerevive.restore.build import instantiate_pipeline, model_caveat, restore_config
from facerevive.restore.options import OptionError, checked_config
from facerevive.restore.runner import OutputError, RestoreRunner, Summary
from facerevive.utils.cpu_threads import use_cpu_threads
from facerevive.weights import set_pretrained_dir
from facerevive.weights.hint import weights_command
from facerevive.weights.provenance import provenance

log = logging.getLogger("restore")


def run(cfg: DictConfig) -> Summary:
    """Build the pipeline of `cfg`, restore every input and return the run summary.

    A setting that cannot work here (missing weights, unavailable device, bad option or constructor override)
    is one logged error and exit status 2; a run that restored nothing, or whose outputs could not be written
    (read-only or full output folder), ends with one line saying why and exit status 1.
    """
    set_pretrained_dir(cfg.paths.pretrained_dir)
    try:
        options, cfg = checked_config(cfg)
    except OptionError as exc:
        _usage_error(str(exc))
    use_cpu_threads(options.threads)
    try:
        pipeline = instantiate_pipeline(cfg.pipeline)
    except (OSError, RuntimeError, ValueError, InstantiationException) as exc:
        log.error("%s", exc)
        if weights_command() in str(exc):
            log.error("no weights here? weights=random:gfpgan_v1.4 runs the whole pipeline with random weights")
        raise SystemExit(2) from exc
    record = provenance(options.weights, options.target)
    caveat = model_caveat(options.weights, pipeline.face_size, record["weights"]["source"])
    if caveat is not None:
        log.warning("%s", caveat.message)
    record["caveat"] = caveat.label if caveat else None
    output = to_absolute_path(options.output)
    make_runner = instantiate(cfg.runner, _partial_=True)
    runner: RestoreRunner = make_runner(
        pipeline=pipeline, output=output, note=caveat.label if caveat else None, provenance=record
    )
    try:
        summary = runner.run(to_absolute_path(options.input))
    except OutputError as exc:
        _fail(str(exc))
    print("\n".join(summary.lines()))
    print(f"outputs in {output}")
    if summary.problem is not None:
        _fail(summary.problem)
    return summary


def _usage_error(reason: str) -> NoReturn:
    """One line naming the option, then exit status 2 (nothing was built or read)."""
    print(f"restore: {reason} (facerevive-restore --help lists the options)", file=sys.stderr)
    raise SystemExit(2)


def _fail(reason: str) -> NoReturn:
    """One line saying why the run failed, then exit status 1 (nothing restored, or outputs not written)."""
    log.error("%s", reason)
    print(f"restore: {reason}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point on `argv` (default: the process's arguments): `--help` lists the options; the
    official flags (-i, -v 1.4, ...) and the old `model=` spellings become overrides; then Hydra runs `run`."""
    args = list(sys.argv[1:] if argv is None else argv)
    set_config_environment()
    if "-h" in args or "--help" in args:
        print(option_help(restore_config()))
        raise SystemExit(0)
    try:
        overrides = command_overrides(args)
    except OptionError as exc:
        _usage_error(str(exc))
    run_hydra_app(run, "restore.yaml", overrides)
