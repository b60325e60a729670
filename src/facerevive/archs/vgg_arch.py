"""VGG feature extractor for the perceptual and style losses (torchvision's VGG layout, BasicSR's key names)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from facerevive.archs.config import records_config

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


# Convolutions in torchvision's `features` of each VGG type: a state dict tells its type by their count.
_VGG_CONVS = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}


def features_state(torchvision_state: Mapping[str, torch.Tensor], layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The weights of `layers` (`VGGFeatureExtractor.vgg_net`'s names) in a torchvision VGG state dict, under those
    names (`features.2.weight` -> `conv1_2.weight`); deeper layers and the classifier are left out. The VGG type
    is read from the number of convolutions. A key that is not torchvision's is kept, so the strict load that
    follows reports it."""
    convs = [key for key, value in torchvision_state.items() if key.startswith("features.") and value.dim() == 4]
    batch_norm = any(key.startswith("features.") and key.endswith("running_mean") for key in torchvision_state)
    vgg_type = _VGG_CONVS.get(len(convs))
    if vgg_type is None:
        return dict(torchvision_state)
    names = vgg_layer_names(vgg_type + ("_bn" if batch_norm else ""))
    state = {}
    for key, value in torchvision_state.items():
        if key.startswith("features."):
            _, index, rest = key.split(".", 2)
            if names[int(index)] in layers:
                state[f"{names[int(index)]}.{rest}"] = value
        elif not key.startswith("classifier."):
            state[key] = value
    return state


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


def _torchvision_features(vgg_type: str, depth: int) -> list[nn.Module]:
    """The first `depth` layers of torchvision's VGG `features`, randomly initialised as torchvision initialises
    them. Nothing else is built: the whole network, classifier included (over 100M parameters), takes seconds to
    initialise at random, once per training run, only to be thrown away."""
    with torch.device("meta"):
        layers = [layer.to_empty(device="cpu") for layer in getattr(tv_vgg, vgg_type)(weights=None).features[:depth]]
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            layer.reset_parameters()
    return layers


@records_config
class VGGFeatureExtractor(nn.Module):
    """Named intermediate VGG features (inputs RGB; in [0,1], or [-1,1] with `range_norm`).

    Built with random weights; `model.init.perceptual` loads a torchvision VGG file into `vgg_net`
    (facerevive.models.init_weights, through `features_state`).
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

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, layer in zip(self.names, _torchvision_features(vgg_type, max_idx + 1)):
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
