"""Import the official GFPGAN / BasicSR / facexlib code as the parity reference on current torch.

basicsr 1.4.2 needs three small shims (see ../shared/reference/official-gfpgan.md, section 11):
- `torchvision.transforms.functional_tensor` was removed from torchvision: an alias module provides it;
- `basicsr.ops.fused_act` has no CPU path without its compiled extension: its autograd Function is replaced
  by the reference formula leaky_relu(x + bias, 0.2) * sqrt(2);
- `basicsr.ops.upfirdn2d` calls its compiled extension on GPU: without it, the native version is used
  on every device (it is what basicsr itself runs on CPU);
- facexlib 0.3.0's AWing decoding uses `np.float`, which numpy 2 removed: its module gets a numpy whose
  `float` is the builtin;
- OpenCV 5 rejects the float JPEG quality that basicsr passes to cv2.imencode: it is cast to int.
Importing this module applies the shims; they touch only the reference packages, never FaceRevive.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest


def _install_functional_tensor_alias() -> None:
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    from torchvision.transforms import functional

    alias = types.ModuleType(name)
    alias.rgb_to_grayscale = functional.rgb_to_grayscale
    sys.modules[name] = alias


def _patch_fused_act() -> None:
    import torch.nn.functional as F

    fused_act = importlib.import_module("basicsr.ops.fused_act.fused_act")
    if getattr(fused_act, "fused_act_ext", None) is not None:
        return  # the compiled op built (BASICSR_EXT / BASICSR_JIT on a GPU): the official side uses it

    class ReferenceFusedLeakyReLUFunction:
        @staticmethod
        def apply(x, bias, negative_slope, scale):
            if bias is not None:
                x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
            return F.leaky_relu(x, negative_slope) * scale

    fused_act.FusedLeakyReLUFunction = ReferenceFusedLeakyReLUFunction


def _patch_upfirdn2d() -> None:
    upfirdn = importlib.import_module("basicsr.ops.upfirdn2d.upfirdn2d")
    if getattr(upfirdn, "upfirdn2d_ext", None) is not None:
        return

    def native_upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
        return upfirdn.upfirdn2d_native(x, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])

    upfirdn.upfirdn2d = native_upfirdn2d
    importlib.import_module("basicsr.ops.upfirdn2d").upfirdn2d = native_upfirdn2d
    importlib.import_module("basicsr.archs.stylegan2_arch").upfirdn2d = native_upfirdn2d


def _patch_facexlib_numpy_float() -> None:
    import numpy as np

    awing = importlib.import_module("facexlib.alignment.awing_arch")
    if hasattr(np, "float") or getattr(awing.np, "float", None) is float:
        return
    proxy = type("NumpyWithFloat", (), {"__getattr__": staticmethod(lambda name: getattr(np, name))})()
    proxy.float = float
    awing.np = proxy


def _patch_jpeg_quality() -> None:
    import cv2

    degradations = importlib.import_module("basicsr.data.degradations")
    if getattr(degradations, "_facerevive_int_quality", False):
        return
    real_imencode = cv2.imencode

    class _Cv2Proxy:
        def __getattr__(self, name):
            return getattr(cv2, name)

        @staticmethod
        def imencode(ext, img, params=None):
            params = [int(p) for p in params] if params is not None else []
            return real_imencode(ext, img, params)

    degradations.cv2 = _Cv2Proxy()
    degradations._facerevive_int_quality = True


def import_reference(module: str) -> types.ModuleType:
    """Import an official module (e.g. 'gfpgan.archs.gfpganv1_arch') with the shims applied.

    The official packages are a test extra that `make test` installs, so a missing one is an error, not a skip.
    """
    _install_functional_tensor_alias()
    try:
        importlib.import_module("basicsr")
    except ImportError as exc:  # pragma: no cover - a broken install should fail loudly
        pytest.fail(f"the official reference packages are not importable ({exc}); run `make install`")
    _patch_fused_act()
    _patch_upfirdn2d()
    _patch_jpeg_quality()
    _patch_facexlib_numpy_float()
    return importlib.import_module(module)


def official_ffhq_options(root, out_size: int = 512, component_path=None, **overrides) -> dict:
    """Options of gfpgan's FFHQDegradationDataset as options/train_gfpgan_v1.yml sets them (disk source).

    With `component_path`, component boxes are cropped with the official eye_enlarge_ratio.
    """
    options = {
        "dataroot_gt": str(root),
        "io_backend": {"type": "disk"},
        "use_hflip": True,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "out_size": out_size,
        "blur_kernel_size": 41,
        "kernel_list": ["iso", "aniso"],
        "kernel_prob": [0.5, 0.5],
        "blur_sigma": [0.1, 10],
        "downsample_range": [0.8, 8],
        "noise_range": [0, 20],
        "jpeg_range": [60, 100],
        "color_jitter_prob": 0.3,
        "color_jitter_shift": 20,
        "color_jitter_pt_prob": 0.3,
        "gray_prob": 0.01,
    }
    if component_path is not None:
        options.update(crop_components=True, component_path=str(component_path), eye_enlarge_ratio=1.4)
    options.update(overrides)
    return options
