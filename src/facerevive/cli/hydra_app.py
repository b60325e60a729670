"""Run a Hydra app on a given argument list, for the entry points that read flags of their own first.

`@hydra.main` parses `sys.argv`; restore and export first turn the official inference flags and the old key
names into the Hydra overrides they stand for, and hand Hydra that list here instead of rewriting `sys.argv`.
This is the call `hydra.main` makes itself (hydra-core is pinned to 1.3.x in pyproject.toml), so Hydra's own flags
(`--cfg job`, `--config-dir`, `--hydra-help`, `-m`) work as on any Hydra command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hydra import version
from hydra._internal.utils import _run_hydra, get_args_parser
from omegaconf import DictConfig

from facerevive.paths import CONFIG_DIR


def run_hydra_app(task: Callable[[DictConfig], Any], config_name: str, args: Sequence[str]) -> None:
    """Compose `config_name` (configs/) with the Hydra command line `args` and run `task` as `@hydra.main` does."""
    version.setbase("1.3")
    parser = get_args_parser()
    _run_hydra(
        args=parser.parse_args(list(args)),
        args_parser=parser,
        task_function=task,
        config_path=str(CONFIG_DIR),
        config_name=config_name,
    )
