"""The methods a report compares: one typed spec per string of `methods=[...]`, and the restorer it opens.

- `input`: the LQ image itself (resized to the GT size when they differ): the paper's "Input" row;
- `gt`: the ground truth (the paper's "GT" row; paired sets only);
- an official name (`gfpgan_v1`, `gfpgan_v1.2`, `gfpgan_v1.3`, `gfpgan_v1.4`) or `random:<name>`;
- another project's release through spandrel (`codeformer`, `restoreformer`, `restoreformer++`,
  `restoreformer_gfpgan`; weights.foreign) or `random:codeformer|restoreformer|restoreformer++`, each run with its
  own published convention (CodeFormer at its default w 0.5);
- `ours:<checkpoint>`: a FaceRevive Lightning checkpoint or export; `ours:latest` is the newest finished run of
  the task configured (`latest_task`, the quickstart by default), and the log says which one it picked;
- `folder:<dir>`: images already restored by any tool, matched to the test set by file name.
Network outputs are quantised to 8 bits, as the restored PNGs that every reference script reads. A restorer
returns `Restored`: the faces at the GT size, the size each had before that resize (the report says when they
differ), and the images of the batch it could not read (a corrupt file of a `folder:` method), each with the
reason, so one bad file costs one image, not the report.

A spec that cannot mean anything (unknown name, absent folder or checkpoint) is a `MethodError`: the command
stops. A method whose weights or images are absent raises `MethodUnavailableError` when it is opened: its row of
the report says "not computed" and the other methods still run. Any other error is a bug and propagates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facerevive.data import UnpairedImageDataset
from facerevive.data.image_io import BadImageError
from facerevive.data.sources import stem
from facerevive.restore.network import BrokenNetworkError, check_network_output
from facerevive.utils.images import quantize_unit, signed_to_unit, unit_to_signed
from facerevive.weights import OFFICIAL_MODELS, CheckpointError, build_generator, official_name, weight_path
from facerevive.weights.build import RANDOM_PREFIX
from facerevive.weights.foreign import FOREIGN_MODELS, build_foreign, foreign_name, random_foreign_name
from facerevive.weights.hint import weights_command
from facerevive.weights.provenance import checkpoint_progress

log = logging.getLogger(__name__)

INPUT = "input"
GT = "gt"
OURS_PREFIX = "ours:"
FOLDER_PREFIX = "folder:"
LATEST = "latest"


class MethodError(ValueError):
    """A method string that cannot be used; the message says which and why."""


class MethodUnavailableError(Exception):
    """A method that cannot run here (weights or restored images absent); `str()` is its report line."""


class MethodKind(Enum):
    INPUT = "input"
    GT = "gt"
    OFFICIAL = "official"
    RANDOM = "random"
    OURS = "ours"
    FOLDER = "folder"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "method"


@dataclass(frozen=True)
class MethodSpec:
    """One row of the report: what `text` asked for (`kind`, and its official name, checkpoint or folder)."""

    text: str
    kind: MethodKind
    target: str = ""

    @property
    def label(self) -> str:
        """The row's name in the table."""
        if self.kind is MethodKind.INPUT:
            return "Input"
        if self.kind is MethodKind.GT:
            return "GT"
        if self.kind is MethodKind.FOLDER:
            return Path(self.target).name
        if self.kind is MethodKind.OURS:
            return f"FaceRevive ({self._run_name})"
        foreign = FOREIGN_MODELS.get(self.target)
        label = foreign.label if foreign is not None else self.target.replace("gfpgan_", "GFPGAN ")
        return f"{label} (random weights)" if self.kind is MethodKind.RANDOM else label

    @property
    def slug(self) -> str:
        """The row's name in file paths (restored/<slug>/, gallery/<slug>/)."""
        if self.kind is MethodKind.FOLDER:
            return _slug("folder_" + Path(self.target).name)
        if self.kind is MethodKind.OURS:
            return _slug("ours_" + self._run_name)
        if self.kind is MethodKind.RANDOM:
            return _slug("random_" + self.target)
        return _slug(self.target or self.kind.value)

    @property
    def weights_spec(self) -> str | None:
        """What the method's weights are, as `weights_record` reads it (None for methods without a network)."""
        if self.kind is MethodKind.RANDOM:
            return RANDOM_PREFIX + self.target
        return self.target if self.kind in (MethodKind.OFFICIAL, MethodKind.OURS) else None

    @property
    def is_reference_row(self) -> bool:
        """GT is shown for comparison and never marked best."""
        return self.kind is MethodKind.GT

    @property
    def is_network(self) -> bool:
        """Whether the method runs a generator (its outputs are saved under restored/)."""
        return self.kind in (MethodKind.OFFICIAL, MethodKind.RANDOM, MethodKind.OURS)

    @property
    def _run_name(self) -> str:
        path = Path(self.target)
        return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem


def latest_finished_checkpoint(runs_dir: Path) -> Path:
    """`checkpoints/last.ckpt` of the newest finished run under `runs_dir` (a task's runs folder; a run is
    finished when its last checkpoint reached the run's `model.total_iter`), or a one-line error. The run picked
    and the newer unfinished runs passed over are logged."""
    runs = sorted(runs_dir.glob("*/checkpoints/last.ckpt"), reverse=True) if runs_dir.is_dir() else []
    if not runs:
        raise MethodError(f"no quickstart run with checkpoints/last.ckpt under {runs_dir}: run `make train` first")
    passed_over: list[str] = []
    for checkpoint in runs:
        iteration, total = checkpoint_progress(checkpoint)
        run = checkpoint.parent.parent.name
        if iteration is not None and total is not None and iteration >= total:
            for line in passed_over:
                log.info("ours:latest passes over %s", line)
            log.info("ours:latest is %s (iteration %d of %d, the newest finished run)", checkpoint, iteration, total)
            return checkpoint
        progress = "no iteration count" if iteration is None else f"iteration {iteration} of {total}"
        passed_over.append(f"{run} (unfinished: {progress})")
    raise MethodError(
        f"no finished run under {runs_dir}: {len(passed_over)} unfinished, the newest {passed_over[0]}; finish one "
        "(python train.py ckpt_path=last) or name its checkpoint with ours:<path>"
    )


def parse_method(text: str, quickstart_runs: Path) -> MethodSpec:
    """The MethodSpec of a `methods=[...]` entry (see the module docstring); nothing is loaded yet."""
    text = str(text).strip()
    if text == INPUT:
        return MethodSpec(text, MethodKind.INPUT)
    if text == GT:
        return MethodSpec(text, MethodKind.GT)
    if text.startswith(FOLDER_PREFIX):
        folder = Path(text.removeprefix(FOLDER_PREFIX)).expanduser()
        if not folder.is_dir():
            raise MethodError(f"method {text!r}: folder {folder} does not exist")
        return MethodSpec(text, MethodKind.FOLDER, str(folder))
    if text.startswith(OURS_PREFIX):
        target = text.removeprefix(OURS_PREFIX)
        path = latest_finished_checkpoint(quickstart_runs) if target == LATEST else Path(target).expanduser()
        if not path.is_file():
            raise MethodError(f"method {text!r}: checkpoint {path} does not exist")
        return MethodSpec(text, MethodKind.OURS, str(path))
    is_random = text.startswith(RANDOM_PREFIX)
    name = official_name(text.removeprefix(RANDOM_PREFIX))
    if name is None:
        name = random_foreign_name(text) if is_random else foreign_name(text)
    if name is None:
        raise MethodError(
            f"unknown method {text!r}: use {INPUT}, {GT}, gfpgan_v1[.2|.3|.4], {', '.join(FOREIGN_MODELS)}, "
            f"{RANDOM_PREFIX}<name>, {OURS_PREFIX}<ckpt>|{OURS_PREFIX}{LATEST} or {FOLDER_PREFIX}<dir>"
        )
    return MethodSpec(text, MethodKind.RANDOM if is_random else MethodKind.OFFICIAL, name)


def resize_to(img: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bicubic (antialiased) resize of RGB [0, 1] images to `size` (H, W); unchanged when already that size."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return F.interpolate(img, size=tuple(size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def network_input_size(net: nn.Module) -> int | None:
    """Square input size of a GFPGAN generator (its `out_size`), None when it does not say."""
    out_size = getattr(net, "out_size", None)
    return int(out_size) if out_size is not None else None


@torch.no_grad()
def run_network(net: nn.Module, lq: torch.Tensor, out_size: Sequence[int]) -> torch.Tensor:
    """Restore RGB [0, 1] faces: resized to the network's size if needed, [-1, 1] in and out, 8-bit rounded."""
    size = network_input_size(net)
    x = resize_to(lq, (size, size)) if size else lq
    out = net(unit_to_signed(x), return_rgb=False)
    out = out[0] if isinstance(out, tuple | list) else out
    return quantize_unit(resize_to(signed_to_unit(out).float(), out_size))


Size = tuple[int, int]


@dataclass
class Restored:
    """One batch restored: `images` (RGB [0, 1], at the GT size) for every position of the batch not in
    `failed`; `sizes` the (H, W) each of them had before it was resized to that size; `failed` the batch
    positions that could not be restored, with the reason (naming the file)."""

    images: torch.Tensor
    sizes: list[Size]
    failed: dict[int, str] = field(default_factory=dict)


def _sizes(images: torch.Tensor) -> list[Size]:
    height, width = images.shape[-2:]
    return [(int(height), int(width))] * images.shape[0]


class Restorer:
    """Turns a batch of the test set into the method's RGB [0, 1] faces at the GT (or LQ) size."""

    def restore(self, batch: dict[str, Any], lq: torch.Tensor, gt: torch.Tensor | None) -> Restored:
        """The restored faces of one batch (`lq`, `gt` already on the device)."""
        raise NotImplementedError


class InputRestorer(Restorer):
    """The LQ image itself, resized to the output size and 8-bit rounded."""

    def restore(self, batch: dict[str, Any], lq: torch.Tensor, gt: torch.Tensor | None) -> Restored:
        return Restored(quantize_unit(resize_to(lq, _out_size(lq, gt))), _sizes(lq))


class GTRestorer(Restorer):
    """The ground truth: the reference row."""

    def restore(self, batch: dict[str, Any], lq: torch.Tensor, gt: torch.Tensor | None) -> Restored:
        assert gt is not None, "the runner admits 'gt' on paired sets only"
        return Restored(gt, _sizes(gt))


class NetworkRestorer(Restorer):
    """A generator run on every batch."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def restore(self, batch: dict[str, Any], lq: torch.Tensor, gt: torch.Tensor | None) -> Restored:
        size = network_input_size(self.net)
        native = [(size, size)] * lq.shape[0] if size else _sizes(lq)
        return Restored(run_network(self.net, lq, _out_size(lq, gt)), native)


class FolderRestorer(Restorer):
    """Images restored elsewhere, read by the test image's file stem."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = folder
        self.reader = UnpairedImageDataset(str(folder), signed=False)
        self.index = {stem(key): i for i, key in enumerate(self.reader.lq.keys)}
        missing = [name for name in names if name not in self.index]
        if missing:
            raise MethodUnavailableError(
                f"not computed: {folder} has no restored image named {missing[0]}.* "
                f"({len(missing)} of {len(names)} missing)"
            )

    def restore(self, batch: dict[str, Any], lq: torch.Tensor, gt: torch.Tensor | None) -> Restored:
        out_size = _out_size(lq, gt)
        images, sizes, failed = [], [], {}
        for position, path in enumerate(batch["lq_path"]):
            try:
                image = self.reader[self.index[Path(path).stem]]["lq"]
            except (BadImageError, OSError) as exc:
                failed[position] = str(exc)
                continue
            sizes.append((int(image.shape[-2]), int(image.shape[-1])))
            images.append(resize_to(image[None].to(lq.device), out_size)[0])
        stacked = torch.stack(images) if images else lq.new_zeros((0, 3, *out_size))
        return Restored(stacked, sizes, failed)


def _out_size(lq: torch.Tensor, gt: torch.Tensor | None) -> tuple[int, int]:
    h, w = (gt if gt is not None else lq).shape[-2:]
    return int(h), int(w)


def open_method(
    spec: MethodSpec, device: torch.device, names: Sequence[str], random_overrides: dict[str, Any] | None = None
) -> Restorer:
    """The restorer of `spec` on `device` for the test images `names`; MethodUnavailableError if it cannot run."""
    if spec.kind is MethodKind.INPUT:
        return InputRestorer()
    if spec.kind is MethodKind.GT:
        return GTRestorer()
    if spec.kind is MethodKind.FOLDER:
        return FolderRestorer(Path(spec.target), names)
    if spec.target in FOREIGN_MODELS:
        return _open_foreign(spec, device)
    if spec.kind is MethodKind.RANDOM:
        return NetworkRestorer(build_generator(RANDOM_PREFIX + spec.target, device, overrides=random_overrides))
    if spec.kind is MethodKind.OFFICIAL:
        path = weight_path(OFFICIAL_MODELS[spec.target].weights)
        if not path.is_file():
            raise MethodUnavailableError(f"not computed: {path.name} missing ({weights_command()})")
    try:  # an official file or a checkpoint that cannot be read or is broken: the method is unavailable, the rest runs
        net = build_generator(spec.target, device)
        check_network_output(net, spec.target)
    except (CheckpointError, BrokenNetworkError) as exc:
        raise MethodUnavailableError(f"not computed: {exc}") from exc
    return NetworkRestorer(net)


def _open_foreign(spec: MethodSpec, device: torch.device) -> Restorer:
    """Another project's network (weights.foreign); absent weights or packages make it unavailable.
    `random_overrides` do not apply: it is built in its release shape (seeded like every random method)."""
    if spec.kind is MethodKind.RANDOM:
        return NetworkRestorer(build_foreign(RANDOM_PREFIX + spec.target).to(device))
    path = weight_path(FOREIGN_MODELS[spec.target].weights)
    if not path.is_file():
        raise MethodUnavailableError(f"not computed: {path.name} missing ({weights_command(spec.target)})")
    try:
        net = build_foreign(spec.target, device)
        check_network_output(net, spec.target)
    except (CheckpointError, BrokenNetworkError) as exc:  # ForeignModelError included (a missing spandrel too)
        raise MethodUnavailableError(f"not computed: {exc}") from exc
    return NetworkRestorer(net)
