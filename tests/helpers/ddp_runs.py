"""Two-process CPU (gloo) runs of a tiny GFPGANModule under a DDP strategy: launched as Lightning launches
`trainer=ddp` ranks (each process gets LOCAL_RANK and joins the group), for tests/test_ddp_strategy.py and
benchmarks/bench_ddp.py. Every network starts from the same seed (rank 0's weights are broadcast anyway), each
rank trains on its own synthetic batches (a share of helpers.official_gfpgan.make_batches)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy, Strategy

from facerevive.models.ddp import UsedGradientsDDPStrategy
from helpers.configs import compose_config
from helpers.ddp_probe import NETWORKS, state_digest
from helpers.official_gfpgan import make_batches
from helpers.timing import IterationTimer

TESTS = Path(__file__).resolve().parents[1]

# trainer=ddp's strategy (Lightning's, the official recipe's setting) and trainer=ddp_used_grads'.
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "find_unused": lambda: DDPStrategy(find_unused_parameters=True, process_group_backend="gloo"),
    "used_gradients": lambda: UsedGradientsDDPStrategy(process_group_backend="gloo"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(script: Path, args: list[str], world_size: int = 2, timeout: float = 600) -> None:
    """Run `python script args` as `world_size` ranks of one gloo group; AssertionError (with the failing rank's
    stderr) unless every rank exits 0."""
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": str(world_size),
        "NODE_RANK": "0",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), *args],
            env={**env, "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world_size)
    ]
    deadline = time.monotonic() + timeout
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic())))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for rank, (proc, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, f"rank {rank} exited {proc.returncode}:\n{err[-4000:]}"


def tiny_module(size: int, narrow: float, overrides: list[str]) -> Any:
    """The paper recipe (experiment=gfpgan_v1, every loss, random VGG/ArcFace/decoder) at `size` px, `narrow`."""
    with tempfile.TemporaryDirectory(prefix="ddp_runs_") as tmp:
        cfg = compose_config(
            "train.yaml",
            [
                "experiment=gfpgan_v1",
                f"model.net_g.out_size={size}",
                f"model.net_g.narrow={narrow}",
                "model.net_g.num_style_feat=64",
                f"model.net_d.narrow={narrow}",
                "model.init.decoder=null",
                "model.init.net_identity=null",
                "model.init.perceptual=null",
                "model.eye_out_size=null",
                "model.mouth_out_size=null",
                *overrides,
            ],
            Path(tmp),
        )
        torch.manual_seed(0)
        return instantiate(cfg.model)


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the world size, as `launch` set them (read before the first fit: Lightning's
    teardown drops WORLD_SIZE from the environment)."""
    return int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])


def fit(
    strategy: str, module: Any, size: int, batch_size: int, iterations: int, rank: int, world_size: int
) -> list[float]:
    """Train `module` for `iterations` under STRATEGIES[strategy] as rank `rank` of `world_size`; seconds per
    iteration."""
    module.total_iter = iterations
    batches = make_batches(size, batch_size, iterations * world_size)[rank::world_size]
    timer = IterationTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=world_size,
        strategy=STRATEGIES[strategy](),
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False))
    return timer.seconds


def digests(module: Any) -> dict[str, str]:
    """SHA-256 of each trained network's state (and the EMA copy's)."""
    return {name: state_digest(getattr(module, name)) for name in NETWORKS}
