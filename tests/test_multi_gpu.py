"""Multi-GPU and multi-node training configs: `trainer=ddp` is Lightning's own DDP with find_unused_parameters=True
(the official recipe's setting), `trainer=ddp_used_grads` the opt-in UsedGradientsDDPStrategy; `trainer.num_nodes`
sizes the SLURM job; and two single-process "nodes" on this machine (gloo, localhost, each its own
`python train.py`, joined as Lightning's LightningEnvironment joins machines) end with identical networks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy
from test_train import QUIET, compose_cfg

from facerevive.models.ddp import UsedGradientsDDPStrategy
from facerevive.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e

# On this CPU-only machine: the strategy and its world, built as a GPU run would build them, without CUDA.
ON_CPU = ["trainer.accelerator=cpu", "trainer.devices=2"]


@pytest.mark.parametrize("trainer", ["ddp", "ddp_sim"])
def test_trainer_ddp_is_lightnings_ddp_with_find_unused_parameters(tmp_path: Path, trainer: str) -> None:
    cfg = compose_cfg(tmp_path, [f"trainer={trainer}", *ON_CPU])
    built = instantiate(cfg.trainer)
    assert type(built.strategy) is DDPStrategy, type(built.strategy)
    assert built.strategy._ddp_kwargs == {"find_unused_parameters": True}
    assert built.world_size == 2


@pytest.mark.parametrize("trainer", ["ddp_used_grads", "ddp_used_grads_sim"])
def test_used_gradients_strategy_is_an_opt_in_trainer(tmp_path: Path, trainer: str) -> None:
    cfg = compose_cfg(tmp_path, [f"trainer={trainer}", *ON_CPU])
    built = instantiate(cfg.trainer)
    assert type(built.strategy) is UsedGradientsDDPStrategy
    assert built.strategy._ddp_kwargs == {}, "DistributedDataParallel's options do not apply to it"


def test_sim_trainers_differ_from_their_gpu_trainers_only_in_the_devices(tmp_path: Path) -> None:
    for gpu, sim in (("ddp", "ddp_sim"), ("ddp_used_grads", "ddp_used_grads_sim")):
        on_gpu = compose_cfg(tmp_path, [f"trainer={gpu}"]).trainer
        simulated = compose_cfg(tmp_path, [f"trainer={sim}"]).trainer
        assert (simulated.accelerator, simulated.devices) == ("cpu", 2)
        assert {k: v for k, v in on_gpu.items() if k not in ("accelerator", "devices")} == {
            k: v for k, v in simulated.items() if k not in ("accelerator", "devices")
        }


def test_slurm_multi_node_job_is_sized_from_trainer_num_nodes(tmp_path: Path) -> None:
    """`python train.py -m hydra/launcher=slurm trainer=ddp trainer.num_nodes=2 experiment=gfpgan_v1`: two nodes,
    one task and one GPU per device on each (Lightning's SLURMEnvironment reads the ranks from srun), and a
    Trainer of 2 x 4 = 8 processes."""
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    args = ["hydra/launcher=slurm", "trainer=ddp", "trainer.num_nodes=2", "experiment=gfpgan_v1"]
    cfg = compose_cfg(tmp_path, args)
    launcher = cfg.hydra.launcher
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    params = {k: v for k, v in launcher.items() if k != "_target_"}
    assert isinstance(SlurmLauncher(**params), SlurmLauncher)  # every key is one the launcher takes
    cfg = compose_cfg(tmp_path, [*args, "trainer.accelerator=cpu"])
    built = instantiate(cfg.trainer)
    assert (built.num_nodes, built.num_devices, built.world_size) == (2, 4, 8)
    assert type(built.strategy) is DDPStrategy


@pytest.mark.slow
def test_two_nodes_on_localhost_train_identical_networks(tmp_path: Path) -> None:
    """Two `python train.py trainer=ddp_sim trainer.num_nodes=2 trainer.devices=1` processes, NODE_RANK 0 and 1,
    meeting at MASTER_ADDR:MASTER_PORT as two machines do: global ranks 0 and 1 of one gloo group, disjoint faces,
    identical networks after 3 iterations (SHA-256 of each network's state on both), rank 0 alone saving."""
    from helpers.ddp_runs import free_port

    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "PROJECT_ROOT": str(PROJECT_ROOT),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        "OMP_NUM_THREADS": "1",
    }
    for key in ("LOCAL_RANK", "GROUP_RANK", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        env.pop(key, None)  # a node's one process is started by hand, not by Lightning or SLURM
    probe = tmp_path / "probe"
    overrides = [
        "trainer=ddp_sim",
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "model.total_iter=3",
        "data.batch_size=1",
        "logger=csv",
        f"paths.log_dir={tmp_path / 'logs'}",
        "callbacks.image_grid.every_n_iter=3",
        "+callbacks.ddp_probe._target_=helpers.ddp_probe.DDPProbe",
        f"+callbacks.ddp_probe.dirpath={probe}",
        *QUIET,
    ]
    start = time.monotonic()
    nodes = [
        subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "train.py"), *overrides, f"hydra.run.dir={tmp_path / f'node{rank}'}"],
            cwd=PROJECT_ROOT,
            env={**env, "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [node.communicate(timeout=300) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    for rank, (node, (_, err)) in enumerate(zip(nodes, outputs, strict=True)):
        assert node.returncode == 0, f"node {rank} exited {node.returncode}:\n{err[-4000:]}"
    print(f"two nodes: {time.monotonic() - start:.1f} s")

    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["iteration"] for r in ranks] == [3, 3]
    for step, (a, b) in enumerate(zip(ranks[0]["batches"], ranks[1]["batches"], strict=True)):
        assert not set(a) & set(b), f"iteration {step + 1}: both nodes trained on {a}"
    assert ranks[0]["digests"] == ranks[1]["digests"], "networks differ between the nodes after training"
    assert "finished 3 iterations" in outputs[0][0]
    checkpoints = sorted(p.name for p in (tmp_path / "node0" / "checkpoints").iterdir())
    assert checkpoints == ["iter_00000003.ckpt", "last.ckpt", "net_g_00000003.pth", "net_g_latest.pth"]
    assert not (tmp_path / "node1" / "checkpoints").exists(), "only global rank 0 saves"
