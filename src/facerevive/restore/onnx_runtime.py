"""Run an ONNX export with onnxruntime behind the generator interface FaceRestorer calls, so detection,
alignment and paste-back are the same code as for PyTorch. Here in restore/ (export/ writes the files and checks
them with it), so restoring from an export needs nothing of export/."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facerevive.utils.device import resolve_device
from facerevive.weights.export_metadata import read_info

ORT_ERRORS_ONLY = 3  # onnxruntime's log severity: 0 verbose ... 3 error


def session_providers(device: torch.device) -> list[str]:
    """onnxruntime execution providers for `device`: CUDA (then CPU) on a GPU, else CPU."""
    import onnxruntime as ort

    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("device=cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device.type != "cpu":
        raise ValueError(f"device={device}: onnxruntime runs exports on cpu or cuda")
    return ["CPUExecutionProvider"]


class OnnxGenerator(nn.Module):
    """An exported restoration network (facerevive-export, format onnx) called like a GFPGAN generator."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        import onnxruntime as ort

        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        options.log_severity_level = ORT_ERRORS_ONLY  # not its notes on nodes it could not constant-fold in fp16
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=session_providers(resolve_device(device))
            )
        except Exception as exc:  # onnxruntime raises its own types for truncated or foreign files
            raise ValueError(f"{self.path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
        self.info = read_info(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.out_size = int(self.info["out_size"])
        self.noise_mode = self.info["noise"]
        self.noise_map_shapes = self.info["noise_shapes"] if self.noise_mode == "input" else []
        expected = 1 + len(self.noise_map_shapes)
        inputs = [i.name for i in self.session.get_inputs()]
        if len(inputs) != expected:
            raise ValueError(f"{self.path}: {len(inputs)} graph inputs, its metadata describes {expected}")
        self.input_names = inputs

    def forward(
        self,
        x: torch.Tensor,
        return_rgb: bool = False,
        randomize_noise: bool = False,
        fidelity: float = 1.0,
        noise: list[torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(restored faces, []) for faces `x` (B, 3, S, S) in [-1, 1]; fidelity and noise are the export's."""
        if not math.isclose(fidelity, self.info["fidelity"]):
            raise ValueError(
                f"{self.path} was exported with fidelity={self.info['fidelity']:g}: restore with that fidelity, "
                f"or export again with fidelity={fidelity:g}"
            )
        if self.noise_mode == "fixed" and noise is not None:
            raise ValueError(
                f"{self.path} was exported with noise=fixed (the stored noise maps): restore with noise=fixed, or "
                "export with noise=input for the official random noise"
            )
        if self.noise_mode == "input" and noise is None:
            raise ValueError(f"{self.path} takes its noise maps as inputs: restore with noise=random")
        arrays = [x, *(noise or [])]
        feeds = {name: t.detach().float().cpu().numpy() for name, t in zip(self.input_names, arrays, strict=True)}
        out = self.session.run(["output"], feeds)[0]
        return torch.from_numpy(out).to(x.device), []
