"""`--help` of train and evaluate: what to run, the main config groups and keys, and where the full config is.

Hydra's own `--help` prints the whole composed config (hundreds of lines). This short text instead lists each
group's choices (the files of its folder under configs/) and the main keys with the value they have in the config
the command line composes (so `python train.py experiment=gfpgan_v1 --help` shows that recipe's values); what a key
means is the short description given here. `--hydra-help` still shows Hydra's options.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from facerevive.paths import CONFIG_DIR

HELP_FLAGS = ("-h", "--help")
WIDTH = 118
# Where the meaning of a key starts.
KEY_COLUMN = 48


@dataclass(frozen=True)
class CommandHelp:
    """The parts of one command's help; `keys`: dotted key -> what it means."""

    config_name: str
    usage: tuple[str, ...]
    intro: str
    groups: tuple[str, ...]
    keys: Mapping[str, str]

    def text(self, overrides: Sequence[str] = ()) -> str:
        """The help, with key values from the config that `overrides` compose."""
        values = composed_values(self.config_name, list(overrides), tuple(self.keys))
        lines = [*self.usage, "", *textwrap.wrap(self.intro, WIDTH), "", "config groups (group=choice):"]
        for group in self.groups:
            choices = " | ".join(group_choices(group))
            lines += textwrap.wrap(choices, WIDTH, initial_indent=f"  {group:<15} ", subsequent_indent=" " * 18)
        lines += ["", "main keys (key=value; the value shown is the one this command line composes):"]
        for key, meaning in self.keys.items():
            setting = f"{key}={values[key]}"
            if len(setting) > KEY_COLUMN - 3:  # a long value gets its own line
                lines.append(f"  {setting}")
                setting = ""
            lines += textwrap.wrap(
                meaning, WIDTH, initial_indent=f"  {setting:<{KEY_COLUMN - 3}} ", subsequent_indent=" " * KEY_COLUMN
            )
        footer = (
            f"The full config: configs/{self.config_name} and the groups above ({CONFIG_DIR}); `--cfg job` prints it "
            "resolved, `--hydra-help` lists Hydra's own options."
        )
        # Options and paths stay whole on a line: no break at their hyphens.
        return "\n".join([*lines, "", *textwrap.wrap(footer, WIDTH, break_on_hyphens=False)])


def group_choices(group: str) -> list[str]:
    """The choices of a config group: the YAML files of its folder under configs/."""
    return sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))


def composed_values(config_name: str, overrides: list[str], keys: tuple[str, ...]) -> dict[str, str]:
    """`key -> value` (YAML-style, `???` for a required value) in `config_name` composed with `overrides`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides)
    values = {}
    for key in keys:
        if OmegaConf.is_missing(cfg, key):
            values[key] = "???"
            continue
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        values[key] = "null" if plain is None else str(plain).lower() if isinstance(plain, bool) else str(plain)
    return values


def wants_help(args: Sequence[str]) -> bool:
    """Whether the command line asks for the short help (`-h` / `--help`)."""
    return any(arg in HELP_FLAGS for arg in args)


def print_help(command: CommandHelp, args: Sequence[str]) -> None:
    """Print `command`'s help for the key=value arguments among `args`."""
    print(command.text([arg for arg in args if "=" in arg and not arg.startswith("-")]))
