"""The methods a report compares, from the strings of `methods=[...]`.

- `input`: the LQ image itself (resized to the GT size when they differ): the paper's "Input" row;
- `gt`: the ground truth (the paper's "GT" row; paired sets only);
- an official name (`gfpgan_v1`, `gfpgan_v1.2`, `gfpgan_v1.3`, `gfpgan_v1.4`) or `random:<name>`;
- `ours:<checkpoint>`: a FaceRevive Lightning checkpoint or export; `ours:latest` is the newest quickstart run;
- `folder:<dir>`: images already restored by any tool, matched to the test set by file name.
Network outputs are quantised to 8 bits, as the restored PNGs that every reference script reads.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from facerevive.weights import build_generator, official_name
from facerevive.weights.build import RANDOM_PREFIX

log = logging.getLogger(__name__)

QUICKSTART_RUNS = Path("experiments") / "quickstart" / "runs"


class MethodError(ValueError):
    """A method string that cannot be used; the message says which and why."""


def latest_quickstart_checkpoint(root: Path) -> Path:
    """`checkpoints/last.ckpt` of the newest run under experiments/quickstart/runs, or a one-line error."""
    runs_dir = root / QUICKSTART_RUNS
    runs = sorted(p for p in runs_dir.glob("*/checkpoints/last.ckpt")) if runs_dir.is_dir() else []
    if not runs:
        raise MethodError(f"no quickstart run with checkpoints/last.ckpt under {runs_dir}: run `make train` first")
    return runs[-1]


def quantise(img: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] images to 8-bit levels (what saving and re-reading a PNG gives)."""
    return (img.clamp(0, 1) * 255).round() / 255


def resize_to(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return F.interpolate(img, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "method"


@dataclass
class Method:
    """One row of the report: `label` in the table, `slug` for file names, `kind` and its argument."""

    spec: str
    kind: str
    label: str
    slug: str
    target: str = ""
    net: torch.nn.Module | None = None
    reader: Dataset | None = None
    restored_by_stem: dict[str, int] | None = None

    @property
    def is_reference_row(self) -> bool:
        """GT is shown for comparison and never marked best."""
        return self.kind == "gt"


def parse_method(spec: str, root: Path) -> Method:
    """A Method from its string (see the module docstring); nothing is loaded yet."""
    spec = str(spec).strip()
    if spec == "input":
        return Method(spec, "input", "Input", "input")
    if spec == "gt":
        return Method(spec, "gt", "GT", "gt")
    if spec.startswith("folder:"):
        folder = Path(spec[len("folder:") :]).expanduser()
        if not folder.is_dir():
            raise MethodError(f"method {spec!r}: folder {folder} does not exist")
        return Method(spec, "folder", folder.name, _slug("folder_" + folder.name), str(folder))
    if spec.startswith("ours:"):
        target = spec[len("ours:") :]
        path = latest_quickstart_checkpoint(root) if target == "latest" else Path(target).expanduser()
        if not path.is_file():
            raise MethodError(f"method {spec!r}: checkpoint {path} does not exist")
        run = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
        return Method(spec, "net", f"FaceRevive ({run})", _slug("ours_" + run), str(path))
    name = official_name(spec[len(RANDOM_PREFIX) :] if spec.startswith(RANDOM_PREFIX) else spec)
    if name is None:
        raise MethodError(
            f"unknown method {spec!r}: use input, gt, gfpgan_v1[.2|.3|.4], random:<name>, ours:<ckpt>|ours:latest "
            "or folder:<dir>"
        )
    label = name.replace("gfpgan_", "GFPGAN ")
    if spec.startswith(RANDOM_PREFIX):
        return Method(spec, "net", f"{label} (random weights)", _slug("random_" + name), RANDOM_PREFIX + name)
    return Method(spec, "net", label, _slug(name), name)


def network_input_size(net: torch.nn.Module) -> int | None:
    """Square input size of a GFPGAN generator (2 ** log_size), None when it does not say."""
    log_size = getattr(net, "log_size", None)
    return 2 ** int(log_size) if log_size is not None else None


@torch.no_grad()
def run_network(net: torch.nn.Module, lq: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Restore RGB [0, 1] faces: resized to the network's size if needed, [-1, 1] in and out, 8-bit rounded."""
    size = network_input_size(net)
    x = resize_to(lq, (size, size)) if size else lq
    out = net(x * 2 - 1, return_rgb=False)
    out = out[0] if isinstance(out, tuple | list) else out
    return quantise(resize_to(((out.clamp(-1, 1) + 1) / 2).float(), out_size))


def load_network(method: Method, device: torch.device, overrides: dict | None = None) -> None:
    """Build the method's generator (official weights, checkpoint or random) onto `device`."""
    method.net = build_generator(method.target, device=device, overrides=overrides or None)
