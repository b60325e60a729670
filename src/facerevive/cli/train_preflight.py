"""The training preflight as a Hydra callback: it runs on the composed config before Hydra creates the run folder.

Hydra makes `hydra.run.dir` (and writes .hydra/ and the log file into it) before the task function starts, so a
check inside `run(cfg)` would leave an empty run folder behind each failed attempt. `on_run_start` comes first:
a config with problems prints them all (`report`) and exits with status 2, and no folder is made. The config's
`hydra:` and `paths.output_dir` (which names the folder still to come) are not read here.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from facerevive.training.preflight import PreflightError, preflight
from facerevive.weights import set_pretrained_dir

# The exit status of a run that did not start because of its configuration.
USAGE_EXIT = 2


def report(error: PreflightError, before_folder: bool = False) -> NoReturn:
    """Print the problems (stderr, one line each, with the fix) and exit with USAGE_EXIT; `before_folder`: the
    run folder does not exist yet, and the heading says so."""
    count = len(error.problems)
    heading = "1 problem" if count == 1 else f"{count} problems"
    made = "nothing was built and no run folder was made" if before_folder else "nothing was built"
    lines = [f"train: {heading}; {made}:"]
    lines += [f"  - {problem}" for problem in error.problems]
    print("\n".join(lines), file=sys.stderr)
    raise SystemExit(USAGE_EXIT)


class TrainPreflight(Callback):
    """Runs `preflight` on the training config before Hydra creates the run folder (single runs)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        set_pretrained_dir(config.paths.pretrained_dir)  # where `model.init` names are looked up, as run() sets it
        try:
            preflight(config)
        except PreflightError as exc:
            report(exc, before_folder=True)
