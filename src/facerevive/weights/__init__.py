"""Checkpoint loading, generator building and the official weight files (`make weights`); the file formats FaceRevive
writes (export metadata) and the provenance record of the weights a command used."""

from facerevive.weights.build import build_generator, generator_from_config, official_name
from facerevive.weights.checkpoint import (
    CheckpointError,
    extract_state_dict,
    load_checkpoint,
    read_checkpoint,
    save_export_safetensors,
)
from facerevive.weights.registry import OFFICIAL_MODELS, WEIGHT_FILES, pretrained_dir, set_pretrained_dir, weight_path

__all__ = [
    "OFFICIAL_MODELS",
    "WEIGHT_FILES",
    "CheckpointError",
    "build_generator",
    "extract_state_dict",
    "generator_from_config",
    "load_checkpoint",
    "official_name",
    "pretrained_dir",
    "read_checkpoint",
    "save_export_safetensors",
    "set_pretrained_dir",
    "weight_path",
]
