"""The restore command line before Hydra sees it: `--help` from the option comments of configs/restore.yaml,
the official `inference_gfpgan.py` flags as aliases, and the checks that run before any model is built."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from facerevive.utils.cpu_threads import ThreadSettingError, thread_setting

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
_OPTION_LINE = re.compile(r"^(\w+):\s*(.*?)\s*(?:#\s*(.*))?$")


class OptionError(ValueError):
    """A restore option that cannot work, said in one line."""


def official_version(value: str) -> str:
    """'-v 1.4' -> 'gfpgan_v1.4' (the official script's version names); other values are kept."""
    return f"gfpgan_v{value}" if re.fullmatch(r"1(\.\d)?", value) else value


def translate_official_flags(args: list[str]) -> list[str]:
    """`-i photo.jpg -v 1.4 -s 2 --only_center_face` -> `input=photo.jpg weights=gfpgan_v1.4 upscale=2
    only_center_face=true`; key=value arguments pass through. A flag without its value, or one FaceRevive does
    not have, is an OptionError saying what to do."""
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
    return out


def option_help(config_file: Path) -> str:
    """Every user option of `config_file` (the top-level keys before the `pipeline` node) with its default
    and its comment, as `--help` prints them."""
    lines = [
        "usage: facerevive-restore input=<photo|folder|glob|video> [output=results] [key=value ...]",
        "       (python restore.py takes the same; the official -i -o -v -s -w --only_center_face --aligned --ext",
        "       --bg_upsampler --bg_tile flags work too)",
        "",
        "options (configs/restore.yaml):",
    ]
    pending: list[str] = []
    for raw in config_file.read_text(encoding="utf-8").splitlines():
        if raw.startswith("pipeline:"):
            break
        if raw.startswith("#"):
            pending.append(raw.lstrip("# ").rstrip())
            continue
        match = _OPTION_LINE.match(raw)
        if not match or match.group(1) in ("defaults", "task_name"):
            pending = [] if not raw.strip() else pending
            continue
        key, default, comment = match.groups()
        text = " ".join([*pending, comment or ""]).strip()
        lines += textwrap.wrap(
            text, width=118, initial_indent=f"  {key + '=' + default:<30} ", subsequent_indent=" " * 33
        ) or [f"  {key}={default}"]
        pending = []
    lines += ["", "Paths and run folders: the shared paths/ and hydra/ groups (python restore.py --hydra-help)."]
    return "\n".join(lines)


def check_options(cfg: DictConfig) -> None:
    """The options that must be right before the model is built; OptionError names the key and the value."""
    if OmegaConf.is_missing(cfg, "input"):
        raise OptionError("input= is required: a photo, a folder, a glob ('old/*.jpg') or a video")
    for key, low, high in (("upscale", 0.0, None), ("fidelity", 0.0, 1.0)):
        value = cfg[key]
        if key == "fidelity" and value is None:  # the model's own default
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise OptionError(f"{key}={value!r} is not a number") from None
        if number < low or (key == "upscale" and number == 0) or (high is not None and number > high):
            allowed = f"within [{low:g}, {high:g}]" if high is not None else f"> {low:g}"
            raise OptionError(f"{key}={value}: allowed values are {allowed}")
    weight = cfg.smooth_landmarks
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight < 1:
        raise OptionError(f"smooth_landmarks={weight!r}: allowed values are numbers within [0, 1) (0 = off)")
    for key, minimum in (("batch_size", 1), ("bg_tile", 0), ("min_side", 1), ("max_side", 1)):
        value = cfg[key]
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
            raise OptionError(f"{key}={value!r}: allowed values are integers >= {minimum}")
    switches = ("aligned", "only_center_face", "keep_gray", "save_faces", "save_comparison", "comparison_boxes")
    for key in (*switches, "progress"):
        if not isinstance(cfg[key], bool):
            raise OptionError(f"{key}={cfg[key]!r}: allowed values are true or false")
    if cfg.compile != "auto" and not isinstance(cfg.compile, bool):
        raise OptionError(f"compile={cfg.compile!r}: allowed values are auto | true | false")
    try:
        thread_setting(cfg.threads)
    except ThreadSettingError as exc:
        raise OptionError(str(exc)) from None
    check_precision(cfg.precision, cfg.device)


def check_precision(precision: object, device: object) -> None:
    """`precision=` is one of auto | fp32 | bf16 | fp16 and runs on `device` (an unavailable device is left to
    the device check, which names it)."""
    from facerevive.restore.network import PRECISIONS, precision_problem
    from facerevive.utils.device import resolve_device

    if precision != "auto" and precision not in PRECISIONS:
        raise OptionError(f"precision={precision!r}: allowed values are auto | {' | '.join(PRECISIONS)}")
    try:
        target = resolve_device(str(device))
    except ValueError:
        return
    problem = precision_problem(str(precision), target)
    if problem is not None:
        raise OptionError(f"precision={precision}: {problem}")
