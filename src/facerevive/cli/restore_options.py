"""The restore command line: `command_overrides` turns the official `inference_gfpgan.py` flags and the old key
names into the Hydra overrides they stand for (the command line itself is left as it is), and `option_help` is
`--help`, written from the options' schema (facerevive.restore.options.RestoreOptions)."""

from __future__ import annotations

import dataclasses
import re
import textwrap

from omegaconf import DictConfig, OmegaConf

from facerevive.restore.options import OptionError, RestoreOptions

# Official inference_gfpgan.py flag -> FaceRevive key (the flag's value follows it on the command line).
VALUE_FLAGS = {
    "-i": "input",
    "--input": "input",
    "-o": "output",
    "--output": "output",
    "-v": "weights",
    "--version": "weights",
    "-s": "upscale",
    "--upscale": "upscale",
    "-w": "fidelity",
    "--weight": "fidelity",
    "--ext": "ext",
    "--bg_upsampler": "bg_upsampler",
    "--bg_tile": "bg_tile",
}
SWITCH_FLAGS = {"--only_center_face": "only_center_face", "--aligned": "aligned"}
UNSUPPORTED_FLAGS = {
    "--suffix": "FaceRevive names every output after its input (restored_imgs/<name>.<ext>); there is no suffix",
}
# Options that were replaced, with what to write now.
RENAMED_OPTIONS = {"bf16": "precision=bf16 (precision=fp32 | bf16 | fp16)"}
# Command-line keys from before the weight selector was renamed (`model` is the training config group); restore
# and export take both spellings.
ALIASES = {"model": "weights", "model_overrides": "weights_overrides"}
WIDTH = 118


def official_version(value: str) -> str:
    """'-v 1.4' -> 'gfpgan_v1.4' (the official script's version names); other values are kept."""
    return f"gfpgan_v{value}" if re.fullmatch(r"1(\.\d)?", value) else value


def renamed_keys(args: list[str]) -> list[str]:
    """`model=x` / `model_overrides=x` -> `weights=x` / `weights_overrides=x`; other arguments unchanged."""
    renamed = []
    for arg in args:
        key, sep, value = arg.partition("=")
        renamed.append(f"{ALIASES[key]}={value}" if sep and key in ALIASES else arg)
    return renamed


def command_overrides(args: list[str]) -> list[str]:
    """The Hydra arguments a restore command line stands for: `-i photo.jpg -v 1.4 -s 2 --only_center_face` ->
    `input=photo.jpg weights=gfpgan_v1.4 upscale=2 only_center_face=true`, `model=` -> `weights=`; key=value
    arguments and Hydra's own flags pass through. A flag without its value, or one FaceRevive does not have, is
    an OptionError saying what to do."""
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        flag, sep, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag in UNSUPPORTED_FLAGS:
            raise OptionError(f"{flag}: {UNSUPPORTED_FLAGS[flag]}")
        renamed = RENAMED_OPTIONS.get(arg.partition("=")[0])
        if renamed is not None:
            raise OptionError(f"{arg}: this option is now {renamed}")
        if flag in SWITCH_FLAGS:
            out.append(f"{SWITCH_FLAGS[flag]}=true")
        elif flag in VALUE_FLAGS:
            if sep:
                value = inline
            elif index + 1 < len(args):
                index += 1
                value = args[index]
            else:
                raise OptionError(f"{flag} needs a value ({VALUE_FLAGS[flag]}=...)")
            key = VALUE_FLAGS[flag]
            out.append(f"{key}={official_version(value) if key == 'weights' else value}")
        else:
            out.append(arg)
        index += 1
    return renamed_keys(out)


def option_help(defaults: DictConfig) -> str:
    """`--help`: every option of `RestoreOptions` with its default (from `defaults`, configs/restore.yaml) and
    what it means."""
    lines = [
        "usage: facerevive-restore input=<photo|folder|glob|video> [output=results] [key=value ...]",
        "       (python restore.py takes the same; the official -i -o -v -s -w --only_center_face --aligned --ext",
        "       --bg_upsampler --bg_tile flags work too)",
        "",
        "options (defaults from configs/restore.yaml):",
    ]
    for spec in dataclasses.fields(RestoreOptions):
        default = "???" if OmegaConf.is_missing(defaults, spec.name) else defaults[spec.name]
        plain = OmegaConf.to_container(default) if OmegaConf.is_config(default) else default
        shown = "null" if plain is None else str(plain).lower() if isinstance(plain, bool) else str(plain)
        lines += textwrap.wrap(
            spec.metadata["help"],
            width=WIDTH,
            initial_indent=f"  {spec.name + '=' + shown:<30} ",
            subsequent_indent=" " * 33,
        )
    lines += ["", "Paths and run folders: the shared paths/ and hydra/ groups (python restore.py --hydra-help)."]
    return "\n".join(lines)
