"""LPIPS (Zhang et al. 2018, v0.1) with the `lpips` package's learned linear layers, VGG16 or AlexNet.

Convention: inputs RGB, [0, 1], NCHW (mapped to [-1, 1] inside, as `lpips.LPIPS(...)(x, y, normalize=True)`);
the result is one distance per image, (N,).

Weights: the linear layers ship inside the `lpips` wheel (`lpips/weights/v0.1/{vgg,alex}.pth`) and are read
from there. The backbone is torchvision's ImageNet VGG16 / AlexNet, which `lpips.LPIPS()` downloads through
torchvision at construction time (so `lpips.LPIPS()` fails offline unless torch's hub cache already holds
the file). Here the backbone file is looked up locally (see `facerevive.metrics.assets`) and a missing one
raises `MissingWeightsError`; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torchvision
from torch import nn

from facerevive.metrics.assets import MissingWeightsError, find_weight
from facerevive.utils.images import unit_to_signed


# Feature taps (end index of each slice in torchvision's `.features`) and their channel counts.
@dataclass(frozen=True)
class _Backbone:
    taps: tuple[int, ...]
    channels: tuple[int, ...]
    weights: str


_BACKBONES = {
    "vgg": _Backbone(taps=(4, 9, 16, 23, 30), channels=(64, 128, 256, 512, 512), weights="vgg16"),
    "alex": _Backbone(taps=(2, 5, 8, 10, 12), channels=(64, 192, 384, 256, 256), weights="alexnet"),
}
# LPIPS' input scaling layer: ImageNet statistics expressed for [-1, 1] inputs.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def lpips_linear_weights(net: str) -> Path:
    """The v0.1 linear-layer file shipped inside the installed `lpips` package."""
    import lpips as lpips_package

    path = Path(lpips_package.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    if not path.is_file():
        raise MissingWeightsError(str(path))
    return path


def _backbone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `.features` part of a torchvision VGG16/AlexNet state dict (keys `features.<i>.*`), renamed."""
    return {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}


def _features(net: str, state: dict[str, torch.Tensor] | None = None) -> nn.Sequential:
    """torchvision's `.features`, randomly initialised, or holding the tensors of `state` (a torchvision state
    dict): then it is built on the meta device, which skips the random initialisation of the whole network
    (about 2 s for VGG16's 138M parameters, its classifier included)."""

    def build() -> nn.Sequential:
        model = torchvision.models.vgg16(weights=None) if net == "vgg" else torchvision.models.alexnet(weights=None)
        features: nn.Sequential = model.features
        return features

    if state is None:
        return build()
    with torch.device("meta"):
        features = build()
    features.load_state_dict(_backbone_state(state), strict=True, assign=True)
    return features


class LPIPS(nn.Module):
    """Batched LPIPS distance; build it with `LPIPS.from_files(net)` to load the real weights."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        net: str = "vgg",
        channels_last: bool = True,
        backbone_state: dict[str, torch.Tensor] | None = None,
        bf16: bool = False,
    ) -> None:
        super().__init__()
        # Opt-in: the backbone's convolutions under bfloat16 autocast (about 2x on CPUs with AVX512-BF16/AMX);
        # the features are compared in float32. Not the protocol's value: see configs/evaluate.yaml.
        self.bf16 = bf16
        if net not in _BACKBONES:
            raise ValueError(f"LPIPS backbone must be one of {sorted(_BACKBONES)}, got {net!r}")
        self.net = net
        # NHWC activations: oneDNN convolves them without a layout reorder per layer (about 1.3x on CPU).
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        spec = _BACKBONES[net]
        self.features: nn.Sequential = _features(net, backbone_state)[: spec.taps[-1]]
        self.taps = spec.taps
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in spec.channels)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.features.to(memory_format=self.memory_format)

    @classmethod
    def from_files(
        cls, net: str = "vgg", backbone: str | Path | None = None, channels_last: bool = True, bf16: bool = False
    ) -> LPIPS:
        """LPIPS with the torchvision ImageNet backbone file and the package's linear layers."""
        path = find_weight(backbone or _BACKBONES[net].weights)
        model = cls(net, channels_last, torch.load(path, map_location="cpu", weights_only=True), bf16)
        model.load_linear(lpips_linear_weights(net))
        return model

    def load_backbone(self, path: str | Path) -> None:
        """Load a torchvision VGG16/AlexNet state dict (keys `features.<i>.*`)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.features.load_state_dict(_backbone_state(state), strict=True)

    def load_linear(self, path: str | Path) -> None:
        """Load the `lpips` package's linear layers (keys `lin<k>.model.1.weight`)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        for k, lin in enumerate(self.lins):
            cast(nn.Conv2d, lin).weight.data.copy_(state[f"lin{k}.model.1.weight"])

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs, start = [], 0
        for end in self.taps:
            x = self.features[start:end](x)
            outs.append(x)
            start = end
        return outs

    @staticmethod
    def _unit(feat: torch.Tensor) -> torch.Tensor:
        return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)

    @torch.inference_mode()
    def forward(self, restored: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image, (N,), for RGB [0, 1] NCHW inputs."""
        n = restored.shape[0]
        both = unit_to_signed(torch.cat([restored, gt]))
        x = ((both - self.shift) / self.scale).contiguous(memory_format=self.memory_format)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            feats = self._taps(x)
        total = torch.zeros(n, device=restored.device, dtype=restored.dtype)
        for feat, lin in zip(feats, self.lins):
            unit = self._unit(feat.to(restored.dtype))
            diff = (unit[:n] - unit[n:]).pow(2)
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total
