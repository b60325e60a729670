"""`facerevive-restore` / `python restore.py input=photo.jpg output=results/`: restore old photos.

Options are in configs/restore.yaml; the pipeline and the output writer are instantiated from its
`pipeline` and `runner` nodes.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

from facerevive.cli.restore_options import OptionError, check_options, option_help, translate_official_flags
from facerevive.paths import CONFIG_DIR, set_config_environment
from facerevive.restore.build import instantiate_pipeline, model_caveat
from facerevive.restore.runner import OutputError, RestoreRunner, Summary
from facerevive.utils.cpu_threads import use_cpu_threads
from facerevive.utils.device import resolve_device
from facerevive.weights import set_pretrained_dir
from facerevive.weights.hint import weights_command
from facerevive.weights.provenance import provenance

log = logging.getLogger("restore")

# Command-line keys from before the weight selector was renamed (`model` is the training config group).
ALIASES = {"model": "weights", "model_overrides": "weights_overrides"}


def rewrite_aliases(args: list[str]) -> list[str]:
    """`model=x` / `model_overrides=x` -> `weights=x` / `weights_overrides=x`; other arguments unchanged."""
    rewritten = []
    for arg in args:
        key, sep, value = arg.partition("=")
        rewritten.append(f"{ALIASES[key]}={value}" if sep and key in ALIASES else arg)
    return rewritten


def run(cfg: DictConfig) -> Summary:
    """Build the pipeline of `cfg`, restore every input and return the run summary.

    A setting that cannot work here (missing weights, unavailable device, bad option or constructor override)
    is one logged error and exit status 2; a run that restored nothing, or whose outputs could not be written
    (read-only or full output folder), ends with one line saying why and exit status 1.
    """
    set_pretrained_dir(cfg.paths.pretrained_dir)
    try:
        check_options(cfg)
    except OptionError as exc:
        _usage_error(str(exc))
    use_cpu_threads(cfg.threads)
    try:
        resolve_device(cfg.device)
        pipeline = instantiate_pipeline(cfg.pipeline)
    except (OSError, RuntimeError, ValueError, InstantiationException) as exc:
        log.error("%s", exc)
        if weights_command() in str(exc):
            log.error("no weights here? weights=random:gfpgan_v1.4 runs the whole pipeline with random weights")
        raise SystemExit(2) from exc
    record = provenance(cfg.weights, resolve_device(cfg.device))
    caveat = model_caveat(cfg.weights, pipeline.face_size, record["weights"]["source"])
    if caveat is not None:
        log.warning("%s", caveat.message)
    record["caveat"] = caveat.label if caveat else None
    output = to_absolute_path(cfg.output)
    make_runner = instantiate(cfg.runner, _partial_=True)
    runner: RestoreRunner = make_runner(
        pipeline=pipeline, output=output, note=caveat.label if caveat else None, provenance=record
    )
    try:
        summary = runner.run(to_absolute_path(str(cfg.input)))
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


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="restore.yaml")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    """The console entry point: `--help` lists the options; the official flags (-i, -v 1.4, ...) and the old
    `model=` spellings are rewritten; then Hydra parses the command line."""
    set_config_environment()
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(option_help(CONFIG_DIR / "restore.yaml"))
        raise SystemExit(0)
    try:
        args = translate_official_flags(args)
    except OptionError as exc:
        _usage_error(str(exc))
    sys.argv[1:] = rewrite_aliases(args)
    _hydra_main()
