"""The two forms of StyleGAN2's modulated convolution, and the switch between them.

`grouped` (the official form) scales the weight per sample and runs one grouped convolution over the batch.
`activation` scales the input channels by the style, convolves with the shared static weight and scales the
output channels by the demodulation factors: the same function, grouped differently. Its weight is a
constant of the graph, which TensorRT needs (GFPGAN#104, #275) and which lets an ONNX export keep a dynamic
batch (ONNX's Conv takes `group` as a fixed attribute, so the grouped form fixes the batch size).
"""

from __future__ import annotations

import torch
from torch import nn

MODCONV_FORMS = ("grouped", "activation")


def demodulation(weight: torch.Tensor, style: torch.Tensor, eps: float) -> torch.Tensor:
    """(b, c_out) factors 1 / sqrt(sum over c_in and the kernel of (weight * style)^2 + eps), for a static
    weight (c_out, c_in, k, k) and styles (b, c_in)."""
    return torch.rsqrt(style.pow(2) @ weight.pow(2).sum([2, 3]).t() + eps)


def set_modconv_form(net: nn.Module, form: str) -> int:
    """Switch every modulated convolution of `net` to `form` (weights unchanged); returns how many."""
    if form not in MODCONV_FORMS:
        raise ValueError(f"modconv={form!r}: allowed values are {', '.join(MODCONV_FORMS)}")
    switched = 0
    for module in net.modules():
        if hasattr(module, "modconv_form"):
            module.modconv_form = form  # type: ignore[assignment]  # a plain attribute of the modulated convs
            switched += 1
    return switched
