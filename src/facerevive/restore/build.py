"""Build the restoration pipeline from the `pipeline` node of configs/restore.yaml.

The command line (`facerevive.cli.restore`) and the Python API (`build_pipeline`) instantiate the same
node, so every option and its default is described once, in that file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from facerevive.cli import CONFIG_DIR
from facerevive.restore.pipeline import RestorePipeline
from facerevive.utils.device import resolve_device
from facerevive.weights import build_generator
from facerevive.weights.build import RANDOM_PREFIX

RESTORE_CONFIG = CONFIG_DIR / "restore.yaml"


def is_random_model(spec: str) -> bool:
    """Whether `spec` names a randomly initialised architecture ('random:<name>')."""
    return str(spec).startswith(RANDOM_PREFIX)


def build_network(
    spec: str, device: str | torch.device = "auto", overrides: Mapping[str, Any] | None = None, init_seed: int = 0
) -> nn.Module:
    """The generator for `spec` (official name, checkpoint path, an ONNX export run by onnxruntime, or
    'random:<name>'); random init is seeded."""
    target = resolve_device(device)
    if str(spec).lower().endswith(".onnx"):
        from facerevive.export.runtime import OnnxGenerator

        return OnnxGenerator(spec, target)
    if is_random_model(spec):
        state = torch.random.get_rng_state()
        torch.manual_seed(init_seed)
        try:
            net = build_generator(spec, device="cpu", overrides=overrides or None)
        finally:
            torch.random.set_rng_state(state)
        return net.to(target)
    return build_generator(spec, device=target, overrides=overrides or None)


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
    `weights='random:gfpgan_v1.4', weights_overrides={'out_size': 64}, device='cpu', upscale=1`)."""
    cfg = restore_config()
    known = pipeline_options(cfg)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"unknown restore options {unknown}; the pipeline of {RESTORE_CONFIG} reads {known}")
    merged = OmegaConf.merge(cfg, options)
    assert isinstance(merged, DictConfig)
    return instantiate_pipeline(merged.pipeline)
