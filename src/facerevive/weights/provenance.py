"""Where an output came from: the weights (file, SHA-256, iteration, random or not) and the software (FaceRevive
version and git commit, torch and CUDA versions, the device). One record, computed once per command and written
into every report (metrics.json/md, gallery.html), every restore output folder (provenance.json, PNG text) and
every export's metadata (ONNX, safetensors), so that any number or image can be traced to what made it.

Nothing here fails a command: a value that cannot be found (no git, a file that cannot be read) is "unknown".
"""

from __future__ import annotations

import functools
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from facerevive.paths import CHECKOUT
from facerevive.version import __version__
from facerevive.weights.build import RANDOM_PREFIX, official_name
from facerevive.weights.download import sha256_of
from facerevive.weights.registry import OFFICIAL_MODELS, weight_path

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
GIT_TIMEOUT_S = 5
# The export metadata keys of the record (ONNX `facerevive.<key>`, safetensors `<key>`).
EXPORT_KEYS = ("random_weights", "iteration", "version", "git_commit", "torch", "cuda", "device")


@functools.cache
def git_commit() -> str:
    """The commit of the checkout FaceRevive runs from (with "-dirty" when tracked files changed), or "unknown"
    (an installed wheel, no git, not a repository)."""
    if not (CHECKOUT / ".git").exists():
        return UNKNOWN
    try:
        head = subprocess.run(
            ["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return f"{head}-dirty" if head and changed else head or UNKNOWN


def device_name(device: str | torch.device) -> str:
    """'cpu', or 'cuda:0 (NVIDIA H100 80GB HBM3)' for a GPU."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def software_record(device: str | torch.device) -> dict[str, str]:
    """FaceRevive version and git commit, torch and CUDA versions, the device."""
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none (CPU build of torch)",
        "device": device_name(device),
    }


@dataclass(frozen=True)
class WeightsRecord:
    """What a model spec loaded: `file` (None for random weights) and its `sha256`, the training `iteration`
    (and `total_iter` of its run, when the file says), whether the weights are random, and `source`: the spec,
    or for an export the model it was exported from (what decides whether it is a quickstart or random model)."""

    spec: str
    file: str | None
    sha256: str | None
    iteration: int | None
    total_iter: int | None
    random_weights: bool
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_true(value: Any) -> bool:
    return str(value).lower() == "true"


def _export_metadata(path: Path) -> dict[str, str]:
    """The FaceRevive metadata of an ONNX or safetensors export (keys without the `facerevive.` prefix); {} for
    other files or when it cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".onnx":
            import onnx

            model = onnx.load(str(path), load_external_data=False)
            props = {p.key: p.value for p in model.metadata_props}
            return {k.removeprefix("facerevive."): v for k, v in props.items() if k.startswith("facerevive.")}
        if suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as handle:
                return dict(handle.metadata() or {})
    except Exception as exc:  # a foreign or broken file: loading it reports the error, the record says unknown
        log.debug("no export metadata in %s: %s", path, exc)
    return {}


def checkpoint_progress(path: Path) -> tuple[int | None, int | None]:
    """(iteration, total_iter of its run) of a FaceRevive checkpoint or .pth export, memory-mapped; (None, None)
    for a file that does not say (official releases) or cannot be read."""
    from facerevive.weights.checkpoint import legacy_checkpoint_globals, safe_load

    try:
        try:
            content = safe_load(path, mmap=True)
        except Exception:
            content = safe_load(path, legacy_checkpoint_globals(), mmap=True)
    except Exception as exc:  # unreadable here: loading it says why
        log.debug("no iteration in %s: %s", path, exc)
        return None, None
    if not isinstance(content, Mapping):
        return None, None
    run_config = content.get("run_config")
    model_config = run_config.get("model") if isinstance(run_config, Mapping) else None
    total = model_config.get("total_iter") if isinstance(model_config, Mapping) else None
    return _as_int(content.get("iteration")), _as_int(total)


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, computed once per process for a file unchanged (size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_of(path)
    return _HASHES[key]


def weights_file(spec: str) -> Path | None:
    """The file behind a model spec: a release's path, a checkpoint/export path; None for random weights."""
    spec = str(spec)
    if spec.startswith(RANDOM_PREFIX):
        return None
    name = official_name(spec)
    return weight_path(OFFICIAL_MODELS[name].weights) if name is not None else Path(spec).expanduser()


def weights_record(spec: str, hash_file: bool = True) -> WeightsRecord:
    """The record of the weights a spec names (`random:<name>`, a release name, a checkpoint or export path);
    `hash_file=False` leaves out the SHA-256 (for a caveat only)."""
    spec = str(spec)
    path = weights_file(spec)
    if path is None:
        return WeightsRecord(spec, None, None, None, None, True, spec)
    if not path.is_file():
        return WeightsRecord(spec, str(path), None, None, None, False, spec)
    sha256 = file_sha256(path) if hash_file else None
    metadata = _export_metadata(path)
    if metadata:
        source = metadata.get("source") or spec
        random = _is_true(metadata.get("random_weights")) or source.startswith(RANDOM_PREFIX)
        iteration = _as_int(metadata.get("iteration"))
        return WeightsRecord(spec, str(path), sha256, iteration, None, random, source)
    if official_name(spec) is not None:
        return WeightsRecord(spec, str(path), sha256, None, None, False, spec)
    iteration, total = checkpoint_progress(path)
    return WeightsRecord(spec, str(path), sha256, iteration, total, False, spec)


def provenance(spec: str, device: str | torch.device) -> dict[str, Any]:
    """{'weights': the weights record, 'software': the software record}: what restore writes beside outputs."""
    return {"weights": weights_record(spec).as_dict(), "software": software_record(device)}


def export_metadata(record: WeightsRecord, device: str | torch.device) -> dict[str, str]:
    """The record as the string key/values of an export's metadata (EXPORT_KEYS), so that a restore from the
    export knows what its PyTorch source knew."""
    values = {
        "random_weights": "true" if record.random_weights else "false",
        "iteration": UNKNOWN if record.iteration is None else str(record.iteration),
        **software_record(device),
    }
    return {key: values[key] for key in EXPORT_KEYS}
