"""Checkpoint loading and the official weight files (`make weights`)."""

from facerevive.weights.checkpoint import CheckpointError, extract_state_dict, load_checkpoint, read_checkpoint

__all__ = ["CheckpointError", "extract_state_dict", "load_checkpoint", "read_checkpoint"]
