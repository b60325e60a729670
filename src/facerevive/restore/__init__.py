"""Whole-photo face restoration: detection, 5-point alignment, batched restoration, soft paste-back; `Restorer`
is the in-memory Python API over the same pipeline."""

from facerevive.restore.api import Restoration, Restorer
from facerevive.restore.background import make_background_upsampler
from facerevive.restore.build import build_pipeline
from facerevive.restore.comparison import comparison_image, face_comparison
from facerevive.restore.detection import FacexlibRetinaFaceDetector, TinyRetinaFaceDetector, make_detector
from facerevive.restore.images import BadInputError, Photo, photo_from_array, read_photo, write_image
from facerevive.restore.network import FaceRestorer
from facerevive.restore.pasteback import make_parser
from facerevive.restore.pipeline import RestorePipeline, RestoreResult
from facerevive.restore.runner import RestoreRunner, Summary

__all__ = [
    "BadInputError",
    "FaceRestorer",
    "FacexlibRetinaFaceDetector",
    "Photo",
    "Restoration",
    "RestorePipeline",
    "RestoreResult",
    "RestoreRunner",
    "Restorer",
    "Summary",
    "TinyRetinaFaceDetector",
    "build_pipeline",
    "comparison_image",
    "face_comparison",
    "make_background_upsampler",
    "make_detector",
    "make_parser",
    "photo_from_array",
    "read_photo",
    "write_image",
]
