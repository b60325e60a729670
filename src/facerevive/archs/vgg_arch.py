"""VGG feature extractor for the perceptual and style losses (torchvision's VGG layout, BasicSR's key names)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from facerevive.archs.config import records_config

log = logging.getLogger(__name__)

_VGG_NAMES = {
    "vgg11": "conv1_1 relu1_1 pool1 conv2_1 relu2_1 pool2 conv3_1 relu3_1 conv3_2 relu3_2 pool3 conv4_1 relu4_1 "
    "conv4_2 relu4_2 pool4 conv5_1 relu5_1 conv5_2 relu5_2 pool5",
    "vgg13": "conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1 conv2_2 relu2_2 pool2 conv3_1 relu3_1 conv3_2 "
    "relu3_2 pool3 conv4_1 relu4_1 conv4_2 relu4_2 pool4 conv5_1 relu5_1 conv5_2 relu5_2 pool5",
    "vgg16": "conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1 conv2_2 relu2_2 pool2 conv3_1 relu3_1 conv3_2 "
    "relu3_2 conv3_3 relu3_3 pool3 conv4_1 relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 pool4 conv5_1 relu5_1 conv5_2 "
    "relu5_2 conv5_3 relu5_3 pool5",
    "vgg19": "conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1 conv2_2 relu2_2 pool2 conv3_1 relu3_1 conv3_2 "
    "relu3_2 conv3_3 relu3_3 conv3_4 relu3_4 pool3 conv4_1 relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 conv4_4 "
    "relu4_4 pool4 conv5_1 relu5_1 conv5_2 relu5_2 conv5_3 relu5_3 conv5_4 relu5_4 pool5",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_layer_names(vgg_type: str) -> list[str]:
    """Layer names of torchvision's `features` for a VGG type (with bn layers for '*_bn')."""
    names = _VGG_NAMES[vgg_type.replace("_bn", "")].split()
    if "bn" not in vgg_type:
        return names
    with_bn = []
    for name in names:
        with_bn.append(name)
        if name.startswith("conv"):
            with_bn.append("bn" + name[4:])
    return with_bn


@records_config
class VGGFeatureExtractor(nn.Module):
    """Named intermediate VGG features (inputs RGB; in [0,1], or [-1,1] with `range_norm`).

    `load_path` is a torchvision `state_dict` of the same VGG type (e.g. vgg19-dcbb9e9d.pth from
    `make weights`); `None` keeps random initialisation and says so in the log.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        layer_name_list: Sequence[str],
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        requires_grad: bool = False,
        remove_pooling: bool = False,
        pooling_stride: int = 2,
        load_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.layer_name_list = list(layer_name_list)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.names = vgg_layer_names(vgg_type)
        unknown = [name for name in self.layer_name_list if name not in self.names]
        if unknown:
            raise ValueError(f"unknown {vgg_type} layers {unknown}; valid names: {self.names}")
        max_idx = max(self.names.index(name) for name in self.layer_name_list)

        vgg_net = getattr(tv_vgg, vgg_type)(weights=None)
        if load_path is None:
            log.warning("VGGFeatureExtractor: no load_path given, %s is randomly initialised", vgg_type)
        else:
            path = Path(load_path)
            if not path.is_file():
                from facerevive.weights.hint import weights_command

                raise FileNotFoundError(f"VGG weights not found: {path} (run `{weights_command('vgg19')}`)")
            vgg_net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, layer in zip(self.names, vgg_net.features[: max_idx + 1]):
            if name.startswith("pool"):
                if remove_pooling:
                    continue
                layer = nn.MaxPool2d(kernel_size=2, stride=pooling_stride)
            layers[name] = layer
        self.vgg_net = nn.Sequential(layers)
        self.vgg_net.train(requires_grad)
        self.requires_grad_(requires_grad)
        if use_input_norm:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        features = {}
        for name, layer in self.vgg_net.named_children():
            x = layer(x)
            if name in self.layer_name_list:
                features[name] = x.clone()
        return features
