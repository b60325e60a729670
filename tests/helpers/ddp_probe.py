"""A callback for the two-process DDP test: what each rank trained on and a digest of its networks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightning as L

NETWORKS = ("net_g", "net_g_ema", "net_d", "net_d_left_eye", "net_d_right_eye", "net_d_mouth")


def state_digest(module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class DDPProbe(L.Callback):
    """Writes `rank<R>.json` into `dirpath`: world size, the GT paths of every batch, per-network digests."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.batches: list[list[str]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches.append([Path(p).name for p in batch["gt_path"]])

    def on_train_end(self, trainer, pl_module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        record = {
            "world_size": trainer.world_size,
            "iteration": pl_module.iteration,
            "batches": self.batches,
            "digests": {name: state_digest(getattr(pl_module, name)) for name in NETWORKS},
        }
        (self.dirpath / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
