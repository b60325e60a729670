"""Deployable exports of the restoration networks: ONNX (onnxruntime, TensorRT-ready with the activation form of
the modulated convolution) and TorchScript, each with its metadata and measured parity."""

from facerevive.export.build import export_model
from facerevive.export.graph import RestorationGraph
from facerevive.restore.onnx_runtime import OnnxGenerator

__all__ = ["OnnxGenerator", "RestorationGraph", "export_model"]
