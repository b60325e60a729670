"""Run a GFPGAN generator on aligned faces in batches on the device, uint8 in and uint8 out.

Faces go to the device once as one uint8 tensor and come back once; conversion to [-1, 1], the forward
passes and the conversion back to uint8 all stay on the device (no per-face GPU<->CPU round trips).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import nn

from facerevive.restore.fastpath import CompileChoice, CompiledNetwork, in_form, resolve_compile, resolve_precision
from facerevive.utils.images import signed_to_unit, unit_to_uint8

NoiseMode = Literal["random", "fixed"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
# The reduced precisions, run as autocast to these dtypes; fp32 is the exact default (no autocast).
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("fp32", *AUTOCAST_DTYPES)


def default_batch_size(device: torch.device) -> int:
    """Faces per forward: 1 on the CPU (the grouped modulated convs run slower batched there), 8 on a GPU."""
    return 8 if device.type == "cuda" else 1


def face_size_of(net: nn.Module) -> int:
    """The side of the aligned faces a GFPGAN generator restores (its `out_size`)."""
    return int(cast(Any, net).out_size)


def is_exported(net: nn.Module) -> bool:
    """Whether `net` is an exported network run by a runtime (it lists its noise maps as `noise_map_shapes`)."""
    return hasattr(net, "noise_map_shapes")


def noise_shapes(net: nn.Module) -> list[tuple[int, ...]]:
    """Shapes (1, 1, h, w) of the StyleGAN2 decoder's per-layer noise maps, in the order the layers run (an
    exported network lists them itself)."""
    if is_exported(net):
        return list(cast(Any, net).noise_map_shapes)
    decoder = getattr(net, "stylegan_decoder", None)
    if decoder is None:  # a network that draws no noise (CodeFormer, RestoreFormer: archs.foreign)
        return []
    return [tuple(getattr(decoder.noises, f"noise{i}").shape) for i in range(decoder.num_layers)]


def draw_noise(net: nn.Module, num_faces: int, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
    """Per-layer noise (num_faces, 1, h, w), drawn face by face and layer by layer.

    That is the order in which the official GFPGANer (one face per forward, `randomize_noise=True`) draws
    it, so a face gets the same noise whatever the batch size, and the same as the official code on the CPU
    from the same seed.
    """
    shapes = noise_shapes(net)
    per_face = [[torch.randn(shape, generator=generator, device=device) for shape in shapes] for _ in range(num_faces)]
    return [torch.cat([face[layer] for face in per_face]) for layer in range(len(shapes))]


def default_fidelity(net: nn.Module) -> float:
    """The fidelity a network's own inference runs with: 1 (GFPGAN's standard output) unless the network says
    otherwise (CodeFormer's published `w` 0.5; archs.foreign)."""
    return float(getattr(net, "default_fidelity", 1.0))


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why the forward cannot run in `precision` on `device`, or None when it can ('auto' always can: it picks
    bf16 only where the device has bf16 units, see facerevive.restore.fastpath).

    Decided from what this torch build does there, not from a table: a small convolution is run under autocast
    to that dtype on the device and must come out in it (torch raises for bf16 on a CUDA GPU without it, and
    warns and disables autocast for a dtype the device type does not take).
    """
    if precision != "auto" and precision not in PRECISIONS:
        return f"allowed values are auto | {' | '.join(PRECISIONS)}"
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return None
    return _autocast_problem(precision, str(device))


@functools.cache
def _autocast_problem(precision: str, device: str) -> str | None:
    kind = torch.device(device).type
    if not torch.amp.is_autocast_available(kind):
        return f"not supported on {device} (this torch has no autocast there)"
    dtype = AUTOCAST_DTYPES[precision]
    x = torch.zeros(1, 1, 4, 4, device=device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.inference_mode(), torch.autocast(kind, dtype=dtype):
                produced = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3, device=device)).dtype
    except RuntimeError as exc:
        return f"not supported on {device} ({str(exc).splitlines()[0]})"
    return None if produced == dtype else f"not supported on {device} (this torch has no {dtype} autocast there)"


# The smallest spread (max - min over the output, in [-1, 1]) of a usable restoration of the probe face: one 8-bit
# grey level. An exploded network restores everything as one flat colour (often all black).
MIN_PROBE_SPREAD = 2.0 / 255.0


class BrokenNetworkError(ValueError):
    """A network that restores the probe face as NaN/Inf or one flat colour; `str()` names its file."""


def probe_face(size: int, device: torch.device) -> torch.Tensor:
    """A smooth, deterministic (1, 3, size, size) test face in [-1, 1]: a bright oval with two dark eyes and a
    mouth on a darker background, shaded differently per channel (no file, no randomness)."""
    v, u = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    face = ((u / 0.7) ** 2 + (v / 0.9) ** 2 < 1).float()
    for cx in (-0.35, 0.35):
        face -= 0.8 * (((u - cx) / 0.15) ** 2 + ((v + 0.2) / 0.08) ** 2 < 1).float()
    face -= 0.6 * ((u / 0.3) ** 2 + ((v - 0.45) / 0.06) ** 2 < 1).float()
    shades = torch.tensor([0.9, 0.7, 0.6])[:, None, None]
    return (face[None] * shades[None] + 0.1 * u).mul(2).sub(1).clamp(-1, 1).to(device)


@torch.inference_mode()
def check_network_output(net: nn.Module, source: str) -> None:
    """Restore the probe face once (one forward at the network's face size, noise zero) and raise
    BrokenNetworkError naming `source` when the output holds NaN/Inf or is one flat colour.

    Finite weights can still be wrecked (a training run that exploded to |w| ~ 1e10 restores every face black):
    the restorers and evaluate refuse such a network before any work instead of writing black faces.
    """
    try:
        device = next(net.parameters()).device
    except StopIteration:  # an exported network run by a runtime: its inputs go to the CPU
        device = torch.device("cpu")
    probe = probe_face(face_size_of(net), device)
    noise = [torch.zeros(shape, device=device) for shape in noise_shapes(net)] or None
    fidelity = float(getattr(net, "info", {}).get("fidelity", 1.0))
    output = net(probe, return_rgb=False, randomize_noise=False, noise=noise, fidelity=fidelity)
    image = (output[0] if isinstance(output, tuple | list) else output).float()
    if not bool(image.isfinite().all()):
        raise BrokenNetworkError(
            f"{source}: the network's output on a probe face holds NaN or Inf: its weights are broken (a training "
            "run that exploded?); refusing it"
        )
    clamped = image.clamp(-1, 1)
    spread = float(clamped.amax() - clamped.amin())
    if spread < MIN_PROBE_SPREAD:
        raise BrokenNetworkError(
            f"{source}: the network restores a probe face as one flat colour (value {float(clamped.mean()):+.3f} "
            f"in [-1, 1] everywhere): its weights are broken (a training run that exploded?); refusing it"
        )


class FaceRestorer:
    """Restores aligned uint8 BGR faces with a GFPGAN generator.

    - `noise='random'` draws fresh StyleGAN2 noise per face like the official GFPGANer, from `seed` so a run
      is reproducible; `noise='fixed'` uses the noise maps stored in the checkpoint (steadier on video).
    - `precision` 'fp32' (default) is exact; 'bf16' / 'fp16' run the forward under bfloat16 / float16
      autocast, faster where the device has the units for it, within a measured error of fp32 (see
      docs/restore/README.md); 'auto' is bf16 where the device has bf16 units, else fp32. One the device cannot
      run is a ValueError naming `precision=`.
    - `compile` True runs the network under torch.compile with a persistent cache ('auto': where it pays, see
      facerevive.restore.fastpath). Reduced precision or compile run the fast form (activation-form modulated
      convolution, channels_last) on a converted copy of `net`; fp32 eager runs the official form, exactly.
    - `device` is the device the faces are restored on (a resolved one: the restore options resolve `auto`
      once); `batch_size` None is `default_batch_size(device)`.

    The fidelity is an argument of each call (`restore(..., fidelity=)`), as it is of the network's forward.
    """

    def __init__(
        self,
        net: nn.Module,
        device: str | torch.device = "cpu",
        batch_size: int | None = None,
        noise: NoiseMode = "random",
        precision: Precision = "fp32",
        compile: CompileChoice = False,
    ) -> None:
        self.device = torch.device(device)
        exported = is_exported(net)
        if exported and precision == "auto":
            precision = "fp32"  # an exported network keeps the dtype it was exported in
        problem = precision_problem(precision, self.device)
        if problem is None and precision != "fp32" and exported:
            problem = "an exported network runs in the dtype it was exported in (facerevive-export dtype=)"
        if problem is not None:
            raise ValueError(f"precision={precision}: {problem}")
        self.face_size = face_size_of(net)
        self.precision = resolve_precision(precision, self.device)
        self.compiled = not exported and resolve_compile(compile, self.device, self.face_size)
        self.fast = self.compiled
        net = net.to(self.device).eval()
        self.net = net if exported else in_form(net, fast=self.fast)
        self.memory_format = torch.channels_last if self.fast else torch.contiguous_format
        self._forward: Any = CompiledNetwork(self.net) if self.compiled else self.net
        self.batch_size = batch_size or default_batch_size(self.device)
        self.default_fidelity = default_fidelity(net)
        self.noise = noise

    def checked_fidelity(self, fidelity: float | None) -> float:
        """`fidelity` of one call as the network takes it: None is the network's own default; a value outside
        [0, 1] (or not finite) is a ValueError naming `fidelity=`."""
        if fidelity is None:
            return self.default_fidelity
        if isinstance(fidelity, bool) or not isinstance(fidelity, int | float) or not 0.0 <= fidelity <= 1.0:
            raise ValueError(f"fidelity={fidelity!r}: allowed values are within [0, 1]")
        return float(fidelity)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def _draw_noise(self, num_faces: int, seed: int, group_sizes: Sequence[int] | None) -> list[torch.Tensor]:
        """Noise for `num_faces` faces from `seed`; with `group_sizes` (faces of each photo of a batch across
        photos) each group's noise is drawn from `seed` afresh, as if its photo were restored alone."""
        groups = [num_faces] if group_sizes is None else list(group_sizes)
        if sum(groups) != num_faces:
            raise ValueError(f"group_sizes {groups} do not add up to the {num_faces} faces")
        drawn = [
            draw_noise(self.net, size, torch.Generator(device=self.device).manual_seed(seed), self.device)
            for size in groups
            if size
        ]
        return [torch.cat(layer) for layer in zip(*drawn)]

    @torch.inference_mode()
    def restore_tensor(
        self,
        faces: torch.Tensor,
        seed: int = 0,
        group_sizes: Sequence[int] | None = None,
        fidelity: float | None = None,
    ) -> torch.Tensor:
        """(N, H, W, 3) uint8 BGR faces on any device -> restored (N, H, W, 3) uint8 BGR on self.device.
        `group_sizes`: the faces come from several photos, that many each (see `_draw_noise`). `fidelity` (0..1)
        scales the CS-SFT modulation: 1 is the standard output, 0 the StyleGAN2 prior driven by the predicted
        latent codes alone (see `facerevive.archs.stylegan2_arch.apply_sft`); for CodeFormer it is its `w`
        (archs.foreign); None is the network's own default (`default_fidelity`)."""
        weight = self.checked_fidelity(fidelity)
        faces = faces.to(self.device, non_blocking=True)
        # uint8 BGR NHWC -> RGB NCHW in [-1, 1], with the official rounding ((x / 255 - 0.5) / 0.5 in float32).
        x = faces.permute(0, 3, 1, 2).flip(1).float().div_(255.0).sub_(0.5).div_(0.5)
        x = x.contiguous(memory_format=self.memory_format)
        noise = self._draw_noise(x.shape[0], seed, group_sizes) if self.noise == "random" else None
        out = torch.empty_like(faces)
        for start in range(0, x.shape[0], self.batch_size):
            stop = min(start + self.batch_size, x.shape[0])
            chunk_noise = None if noise is None else [n[start:stop] for n in noise]
            with self._autocast():
                image = self._forward(
                    x[start:stop], return_rgb=False, randomize_noise=False, noise=chunk_noise, fidelity=weight
                )[0]
            # [-1, 1] -> uint8 as basicsr's tensor2img: (x + 1) / 2 clamped, * 255, rounded half to even.
            out[start:stop] = unit_to_uint8(signed_to_unit(image.float())).flip(1).permute(0, 2, 3, 1)
        return out

    def restore(
        self,
        faces: list[np.ndarray],
        seed: int = 0,
        group_sizes: Sequence[int] | None = None,
        fidelity: float | None = None,
    ) -> list[np.ndarray]:
        """Restore a list of aligned uint8 BGR faces (each face_size x face_size); `group_sizes` and `fidelity`
        as in `restore_tensor`."""
        self.checked_fidelity(fidelity)
        if not faces:
            return []
        for face in faces:
            if face.shape != (self.face_size, self.face_size, 3) or face.dtype != np.uint8:
                raise ValueError(
                    f"expected {self.face_size}x{self.face_size}x3 uint8 faces, got {face.shape} {face.dtype}"
                )
        batch = torch.from_numpy(np.stack(faces))
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        restored = self.restore_tensor(batch, seed, group_sizes, fidelity).cpu().numpy()
        return list(restored)
