"""Helpers of the training entry point: instantiation, pre-flight checks, resume lookup, run summary."""

from facerevive.utils.instantiate import instantiate_callbacks, instantiate_loggers
from facerevive.utils.preflight import MissingPretrainedError, check_pretrained_paths, log_random_inits
from facerevive.utils.run_files import find_last_checkpoint, run_summary

__all__ = [
    "MissingPretrainedError",
    "check_pretrained_paths",
    "find_last_checkpoint",
    "instantiate_callbacks",
    "instantiate_loggers",
    "log_random_inits",
    "run_summary",
]
