"""Build the restoration pipeline from the `pipeline` node of configs/restore.yaml.

The command line (`facerevive.cli.restore`) and the Python API (`build_pipeline`) instantiate the same
node, so every option and its default is described once, in that file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from facerevive.paths import CONFIG_DIR
from facerevive.restore.network import check_network_output
from facerevive.restore.options import checked_config
from facerevive.restore.pipeline import RestorePipeline
from facerevive.weights import build_generator
from facerevive.weights.build import RANDOM_PREFIX
from facerevive.weights.checkpoint import CheckpointError
from facerevive.weights.foreign import ForeignModelError, build_foreign, is_foreign_spec

RESTORE_CONFIG = CONFIG_DIR / "restore.yaml"
# The `input=` of a pipeline built for the Python API, which restores images in memory.
IN_MEMORY_INPUT = "<in memory>"


# The face size of every official release; a smaller model's faces come out blurry once pasted into a photo.
RELEASE_FACE_SIZE = 512
# The folder of train.py's quickstart runs (experiments/<task_name>/runs/...; configs/experiment/quickstart.yaml).
QUICKSTART_TASK = "quickstart"


def is_random_model(spec: str) -> bool:
    """Whether `spec` names a randomly initialised architecture ('random:<name>')."""
    return str(spec).startswith(RANDOM_PREFIX)


@dataclass(frozen=True)
class ModelCaveat:
    """Why a restoration model is not a full release: `label` marks the comparison images, `message` is the
    one-line warning of the command and the Python API."""

    label: str
    message: str


def model_caveat(spec: str, face_size: int, source: str | None = None) -> ModelCaveat | None:
    """The caveat of the weights `spec` restoring `face_size` px faces: random weights, a quickstart checkpoint
    (a run folder of the quickstart), or a model smaller than the releases; None for a full model. `source` is
    what an export (ONNX, safetensors) records it was made from: an export of random or quickstart weights gets
    the caveat of those weights."""
    spec = str(spec)
    origin = str(source or spec)
    exported = f" (exported from {origin})" if origin != spec else ""
    if is_random_model(origin):
        message = f"weights={spec}{exported} is RANDOMLY INITIALISED: the outputs show the pipeline, not a restoration"
        return ModelCaveat("RANDOM WEIGHTS", message)
    if QUICKSTART_TASK in Path(origin).parts:
        return ModelCaveat(
            "QUICKSTART MODEL",
            f"weights={spec}{exported} is a quickstart checkpoint ({face_size} px, trained minutes on a few faces): "
            "its faces show the training machinery, not a usable restoration",
        )
    if face_size < RELEASE_FACE_SIZE:
        return ModelCaveat(
            f"{face_size} PX MODEL",
            f"weights={spec} restores {face_size} px faces (the releases restore {RELEASE_FACE_SIZE} px): "
            "pasted into the photo they are blurry",
        )
    return None


def build_network(
    spec: str, device: str | torch.device = "cpu", overrides: Mapping[str, Any] | None = None, init_seed: int = 0
) -> nn.Module:
    """The generator for `spec` (official name, checkpoint path, an ONNX export run by onnxruntime, or
    'random:<name>'), or another project's face network (CodeFormer, RestoreFormer: weights.foreign, by name,
    'random:<name>' or a release file that is no FaceRevive/GFPGAN file); random init is seeded. A network read
    from a file must restore a probe face into a finite, non-flat image (`check_network_output`, one forward),
    else BrokenNetworkError names the file. `device` is a resolved one (the restore options resolve `auto`)."""
    target = torch.device(device)
    if str(spec).lower().endswith(".onnx"):
        from facerevive.restore.onnx_runtime import OnnxGenerator

        onnx_net = OnnxGenerator(spec, target)
        check_network_output(onnx_net, str(spec))
        return onnx_net
    if is_foreign_spec(str(spec)):
        if overrides:
            raise ValueError(f"weights_overrides: {spec} is built in its release shape only (got {dict(overrides)})")
        foreign = _seeded(lambda: build_foreign(spec), init_seed).to(target)
        if not is_random_model(spec):
            check_network_output(foreign, str(spec))
        return foreign
    if is_random_model(spec):
        return _seeded(lambda: build_generator(spec, device="cpu", overrides=overrides or None), init_seed).to(target)
    try:
        net = build_generator(spec, device=target, overrides=overrides or None)
    except CheckpointError as exc:
        if not Path(spec).is_file():
            raise
        try:  # not a FaceRevive or GFPGAN file: perhaps another project's face network
            net = build_foreign(spec, target)
        except ForeignModelError as foreign_error:
            raise CheckpointError(f"{exc}; {foreign_error}") from foreign_error
    check_network_output(net, str(spec))
    return net


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """`build()` with torch's global generator seeded by `seed` (its state restored afterwards)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.random.set_rng_state(state)


def instantiate_pipeline(node: DictConfig) -> RestorePipeline:
    """Instantiate a `pipeline` node; a factory's own error (missing weights, bad option) is raised as it is,
    not wrapped in Hydra's InstantiationException, so it reads as one line naming the file or option."""
    try:
        pipeline = instantiate(node, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, OSError | RuntimeError | ValueError):
            raise exc.__cause__ from None
        raise
    if not isinstance(pipeline, RestorePipeline):
        raise TypeError(f"the pipeline node builds {node.get('_target_')!r}, not a RestorePipeline")
    return pipeline


def restore_config() -> DictConfig:
    """configs/restore.yaml as data (without its Hydra defaults list): the options and the `pipeline` node."""
    cfg = OmegaConf.load(RESTORE_CONFIG)
    assert isinstance(cfg, DictConfig)
    cfg.pop("defaults", None)
    return cfg


def pipeline_options(cfg: DictConfig) -> list[str]:
    """The top-level options the `pipeline` node reads (the `${key}` values inside it)."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, str) and node.startswith("${") and node.endswith("}"):
            keys.add(node[2:-1])

    walk(OmegaConf.to_container(cfg.pipeline, resolve=False))
    return sorted(keys)


def build_pipeline(**options: Any) -> RestorePipeline:
    """The pipeline of configs/restore.yaml with `options` (the same keys as on the command line, e.g.
    `weights='random:gfpgan_v1.4', weights_overrides={'out_size': 64}, device='cpu', upscale=1`), checked by the
    options' schema (an OptionError names the key) before anything is built."""
    cfg = restore_config()
    known = pipeline_options(cfg)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"unknown restore options {unknown}; the pipeline of {RESTORE_CONFIG} reads {known}")
    merged = OmegaConf.merge(cfg, options, {"input": IN_MEMORY_INPUT})
    assert isinstance(merged, DictConfig)
    return instantiate_pipeline(checked_config(merged)[1].pipeline)
