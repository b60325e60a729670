"""Training end to end on tiny settings: configs, the default quickstart, pre-flight checks, files a run leaves,
loggers, plain-data checkpoints, exact resume. Tests call `facerevive.cli.train.run(cfg)`; subprocess tests
(`python train.py ...`) remain where a real process is needed (DDP ranks, launchers, exit status)."""

from __future__ import annotations

import os
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config
from helpers.recorders import RECORDER_OVERRIDE, recorder_of
from omegaconf import DictConfig, OmegaConf

from facerevive.cli.train import run as train_run
from facerevive.paths import CONFIG_DIR, PROJECT_ROOT
from facerevive.training.preflight import log_random_inits, pretrained_problems

pytestmark = pytest.mark.e2e

ROOT = PROJECT_ROOT
CONFIGS = CONFIG_DIR

# A few quick quickstart iterations: progress bar, config print and W&B off unless a test asks for them.
QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def compose_cfg(tmp_path: Path, overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """The training config as `python train.py <overrides>` composes it."""
    return compose_config("train.yaml", [*QUIET, *overrides], tmp_path, run_dir)


def run_script(
    overrides: list[str], timeout: int = 600, check: bool = True, quiet: bool = True
) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` in a subprocess (W&B off; tests/ importable for helper callbacks)."""
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "PROJECT_ROOT": str(ROOT),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, str(ROOT / "train.py"), *overrides, *(QUIET if quiet else [])]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr[-4000:]
    return result


def run(tmp_path: Path, overrides: list[str]):
    cfg = compose_cfg(tmp_path, overrides)
    metrics, objects = train_run(cfg)
    return cfg, metrics, objects


def test_bare_train_is_the_quickstart(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, [])
    assert cfg.task_name == "quickstart"
    assert cfg.model.net_g._target_ == "facerevive.archs.GFPGANv1Clean"
    assert cfg.data.root.endswith("data/samples")
    assert list(cfg.logger) == ["wandb"] and cfg.logger.wandb.offline is True


def test_paper_recipe_numbers(tmp_path: Path) -> None:
    """experiment=gfpgan_v1 carries train_gfpgan_v1.yml's numbers."""
    cfg = compose_cfg(tmp_path, ["experiment=gfpgan_v1"])
    m = cfg.model
    assert (cfg.data.out_size, cfg.data.batch_size, cfg.trainer.devices) == (512, 3, 4)
    assert (m.net_g._target_, m.net_g.channel_multiplier, m.net_g.fix_decoder) == ("facerevive.archs.GFPGANv1", 1, True)
    assert m.net_g.input_is_latent and m.net_g.different_w and m.net_g.sft_half and m.net_g.narrow == 1
    assert m.optimizer_g.lr == m.optimizer_d.lr == m.optimizer_component.lr == 2e-3
    assert list(m.optimizer_component.betas) == [0.9, 0.99] and list(m.optimizer_g.betas) == [0.0, 0.99]
    assert m.optimizer_d._target_ == "facerevive.models.lazy_r1_adam" and list(m.optimizer_d.betas) == [0.0, 0.99]
    assert m.optimizer_d.reg_every == m.net_d_reg_every == 16 and m.optimizer_d.scale_lr is False
    assert list(m.scheduler.milestones) == [600000, 700000] and m.scheduler.gamma == 0.5
    w = m.loss_weights
    assert m.total_iter == 800000 and w.remove_pyramid_after == 50000 and w.removed_pyramid == 1e-12
    assert (w.pixel, w.pyramid, w.gan, w.component_gan, w.comp_style, w.identity, w.r1) == (0.1, 1, 0.1, 1, 200, 10, 10)
    assert m.perceptual.style_weight == 50 and m.perceptual.perceptual_weight == 1.0
    assert dict(m.perceptual.layer_weights) == {
        "conv1_2": 0.1,
        "conv2_2": 0.1,
        "conv3_4": 1,
        "conv4_4": 1,
        "conv5_4": 1,
    }
    assert m.ema_decay == pytest.approx(0.5 ** (32 / 10000), rel=1e-15)
    simple = compose_cfg(tmp_path, ["experiment=gfpgan_v1_simple"]).model
    assert simple.net_d_left_eye is None and simple.net_identity is None


def test_missing_pretrained_file_names_make_weights(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["experiment=gfpgan_v1", f"paths.pretrained_dir={tmp_path}/nothing_here"])
    message = "\n".join(pretrained_problems(cfg))
    assert "make weights" in message
    for key in ("model.init.decoder", "model.init.net_identity", "model.init.perceptual"):
        assert key in message
    assert "data.component_path" in message


def test_null_pretrained_paths_are_logged_as_random(tmp_path: Path, caplog) -> None:
    cfg = compose_cfg(tmp_path, [])
    assert pretrained_problems(cfg) == []  # the quickstart needs no downloaded file
    with caplog.at_level("WARNING"):
        null_keys = log_random_inits(cfg)
    assert "model.init.decoder" in null_keys and "model.init.perceptual" in null_keys
    assert "random initialisation" in caplog.text


@pytest.mark.slow
def test_quickstart_run_leaves_checkpoint_export_grids_and_logs(tmp_path: Path, monkeypatch, capsys) -> None:
    """Four iterations with W&B offline, CSV and TensorBoard loggers; every promised file must be there; a resumed
    run logs into the same W&B run."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg, _, objects = run(
        tmp_path,
        [
            "logger=many_loggers",
            "model.total_iter=4",
            "callbacks.iteration_checkpoint.every_n_iter=2",
            "callbacks.image_grid.every_n_iter=2",
            "trainer.log_every_n_steps=1",
        ],
    )
    out = Path(cfg.paths.output_dir)
    ckpt_dir = out / "checkpoints"
    for name in ("iter_00000004.ckpt", "last.ckpt", "net_g_00000004.pth", "net_g_latest.pth"):
        assert (ckpt_dir / name).is_file(), name
    # The quickstart keeps only its newest checkpoint and export (keep_last_n=1): a run folder stays small.
    assert not (ckpt_dir / "iter_00000002.ckpt").exists() and not (ckpt_dir / "net_g_00000002.pth").exists()
    assert not list(ckpt_dir.glob(".*tmp")), "temporary files left behind"
    assert (out / "images" / "restoration_00000004.png").is_file()
    assert (out / "images" / "pyramid_00000004.png").is_file()
    assert list((out / "wandb").glob("offline-run-*")), "no offline W&B run"
    assert list((out / "csv").glob("version_*/metrics.csv"))
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "checkpoint" in printed and "export" in printed and "image grids" in printed
    assert f"W&B (offline) : {out / 'wandb'}" in printed  # aligned with the other labels
    assert f"weights={ckpt_dir / 'net_g_latest.pth'}" in printed  # the next steps name the model just made
    assert f"methods=[input,ours:{ckpt_dir / 'last.ckpt'}]" in printed

    # Plain data only: the safe loader reads it (MultiStepLR's Counter is the one allowlisted type).
    checkpoint = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert "hyper_parameters" not in checkpoint
    assert checkpoint["iteration"] == 4
    assert len(checkpoint["optimizer_states"]) == 5 and len(checkpoint["lr_schedulers"]) == 5
    assert checkpoint["net_g_config"]["_target_"] == "facerevive.archs.GFPGANv1Clean"
    assert checkpoint["net_g_config"]["decoder_load_path"] is None
    model = objects["model"]
    # Frozen networks: no optimiser holds their parameters, none has a gradient.
    optimised = {id(p) for opt in objects["trainer"].optimizers for g in opt.param_groups for p in g["params"]}
    for frozen in model.frozen_modules():
        for p in frozen.parameters():
            assert id(p) not in optimised and p.grad is None

    from facerevive.weights import build_generator, load_checkpoint

    export = torch.load(ckpt_dir / "net_g_latest.pth", map_location="cpu", weights_only=True)
    assert set(export) >= {"params", "params_ema", "net_g_config"}
    rebuilt = build_generator(ckpt_dir / "net_g_latest.pth")
    for key, value in model.net_g_ema.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    from_lightning = build_generator(ckpt_dir / "last.ckpt")
    assert torch.equal(from_lightning.final_linear.weight, model.net_g_ema.final_linear.weight)
    load_checkpoint(rebuilt, ckpt_dir / "net_g_latest.pth", key="params")

    # Resuming continues the same W&B run (its id is stored in the checkpoint).
    run_id = checkpoint["wandb_run_id"]
    assert run_id and list((out / "wandb").glob(f"offline-run-*-{run_id}"))
    resumed_dir = tmp_path / "resumed"
    resume = ["logger=wandb_offline", "model.total_iter=5", f"ckpt_path={ckpt_dir / 'last.ckpt'}"]
    resumed_cfg = compose_cfg(tmp_path, resume, resumed_dir)
    train_run(resumed_cfg)
    assert list((resumed_dir / "wandb").glob(f"offline-run-*-{run_id}")), "the resumed run logged elsewhere"

    # A checkpoint of the earlier format (OmegaConf hyper-parameters, a numpy RNG state) still resumes.
    import numpy as np

    legacy = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    legacy["hyper_parameters"] = OmegaConf.create({"net_g": dict(legacy["net_g_config"]), "milestones": [300, 350]})
    legacy["global_rng"]["numpy"] = np.random.get_state()
    torch.save(legacy, tmp_path / "legacy.ckpt")
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(tmp_path / "legacy.ckpt", weights_only=True)
    legacy_cfg = compose_cfg(tmp_path, ["logger=csv", "model.total_iter=5", f"ckpt_path={tmp_path / 'legacy.ckpt'}"])
    _, legacy_objects = train_run(legacy_cfg)
    assert legacy_objects["model"].iteration == 5


def _weights(model) -> dict[str, torch.Tensor]:
    nets = ["net_g", "net_g_ema", "net_d", "net_d_left_eye", "net_d_right_eye", "net_d_mouth"]
    return {f"{n}.{k}": v.clone() for n in nets for k, v in getattr(model, n).state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first_iters", "every_n_iter", "workers"),
    [(3, 3, (0, 0, 0)), (2, 2, (2, 0, 1)), (3, 1000, (0, 1, 0))],
    ids=["mid-epoch", "epoch-end-other-workers", "final-iteration-mid-epoch"],
)
def test_resume_is_exact(tmp_path: Path, first_iters: int, every_n_iter: int, workers: tuple[int, int, int]) -> None:
    """5 iterations straight == `first_iters`, then `ckpt_path=last` in a new run, then the rest: same batches,
    same losses and bit-identical weights.

    Deterministic CPU settings, real quickstart data (4 faces, batches of 2: 2 batches per epoch). The first
    half's checkpoint is written by the iteration callback every `first_iters` iterations, or only after the final
    iteration (`every_n_iter` 1000), in the middle of an epoch (3) or at its end (2); a mid-epoch
    resume must continue with that epoch's next batch and its degradations. `workers`: the DataLoader workers
    of the straight run and the two halves, which must not change the data.
    """
    common = [
        "logger=csv",
        "callbacks.image_grid.every_n_iter=1000",
        f"callbacks.iteration_checkpoint.every_n_iter={every_n_iter}",
        "trainer.deterministic=true",
        "model.net_d_reg_every=2",
        RECORDER_OVERRIDE,
    ]

    def fit(workdir: Path, extra: list[str], num_workers: int, run_name: str = "run"):
        runs = workdir / "logs" / "quickstart" / "runs"
        overrides = [*common, f"data.num_workers={num_workers}", *extra]
        cfg = compose_cfg(workdir, overrides, run_dir=runs / run_name)
        _, objects = train_run(cfg)
        return objects["model"], recorder_of(objects["trainer"])

    straight, whole = fit(tmp_path / "straight", ["model.total_iter=5"], workers[0])
    _, first = fit(tmp_path / "resumed", [f"model.total_iter={first_iters}"], workers[1], run_name="first")
    # A new run of the same task: `ckpt_path=last` finds the first run's checkpoints/last.ckpt.
    resumed, second = fit(tmp_path / "resumed", ["model.total_iter=5", "ckpt_path=last"], workers[2], "second")

    assert resumed.iteration == straight.iteration == 5
    assert len(first.losses) == first_iters and len(second.losses) == 5 - first_iters
    assert [*first.gt_paths, *second.gt_paths] == whole.gt_paths
    assert [*first.losses, *second.losses] == whole.losses
    resumed_weights, straight_weights = _weights(resumed), _weights(straight)
    for key, value in straight_weights.items():
        assert torch.equal(resumed_weights[key], value), key


@pytest.mark.slow
def test_ddp_sim_two_processes_train_in_sync(tmp_path: Path) -> None:
    """`python train.py trainer=ddp_sim`: two CPU ranks (gloo), launched as `trainer=ddp` launches GPU ranks.

    Each rank draws different faces every iteration (4 faces, batch 1 per rank: 2 iterations per epoch), the
    gradient all-reduce keeps every network identical across ranks, and rank 0 alone writes the files.
    """
    import json

    probe = tmp_path / "probe"
    result = run_script(
        [
            "trainer=ddp_sim",
            "model.total_iter=3",
            "data.batch_size=1",
            "logger=csv",
            f"paths.log_dir={tmp_path / 'logs'}",
            "callbacks.image_grid.every_n_iter=3",
            "+callbacks.ddp_probe._target_=helpers.ddp_probe.DDPProbe",
            f"+callbacks.ddp_probe.dirpath={probe}",
        ]
    )
    assert "finished 3 iterations" in result.stdout
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["iteration"] for r in ranks] == [3, 3]
    for step, (a, b) in enumerate(zip(ranks[0]["batches"], ranks[1]["batches"], strict=True)):
        assert not set(a) & set(b), f"iteration {step + 1}: both ranks trained on {a}"
    first_epoch = {name for r in ranks for name in r["batches"][0] + r["batches"][1]}
    assert len(first_epoch) == 4, "one epoch covers the four faces once"
    assert ranks[0]["digests"] == ranks[1]["digests"], "networks differ between ranks after training"
    runs = list((tmp_path / "logs" / "quickstart" / "runs").iterdir())
    assert len(runs) == 1, "both ranks must write into one run directory"
    checkpoints = sorted(p.name for p in (runs[0] / "checkpoints").iterdir())
    assert checkpoints == ["iter_00000003.ckpt", "last.ckpt", "net_g_00000003.pth", "net_g_latest.pth"]


def test_slurm_launcher_is_sized_from_the_trainer(tmp_path: Path) -> None:
    """`hydra/launcher=slurm` asks for one task and one GPU per trainer device (Lightning's SLURM layout)."""
    cfg = compose_cfg(tmp_path, ["hydra/launcher=slurm", "experiment=gfpgan_v1", "trainer.num_nodes=2"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)


@pytest.mark.slow
def test_submitit_launcher_runs_a_multirun_job(tmp_path: Path) -> None:
    """`-m hydra/launcher=slurm_local`: the job is pickled, run by submitit in a subprocess, and leaves its files."""
    result = run_script(
        ["-m", "hydra/launcher=slurm_local", "model.total_iter=1", "logger=csv", f"paths.log_dir={tmp_path}"]
    )
    jobs = list((tmp_path / "quickstart" / "multiruns").glob("*/0"))
    assert len(jobs) == 1, result.stderr[-2000:]
    assert (jobs[0] / "checkpoints" / "net_g_latest.pth").is_file()
    assert list(jobs[0].parent.glob(".submitit/*/*_result.pkl")), "submitit did not run the job"


# Experiments with their own one-iteration tests: the StyleGAN2 priors (tests/test_prior_train.py, another model)
# and the fine-tunes (tests/test_finetune.py, which need stand-ins of the release files: their loads are strict).
OWN_TESTS = ["stylegan2_*", "prior_*", "*finetune*"]


@pytest.mark.slow
def test_every_experiment_runs_one_iteration(tmp_path: Path) -> None:
    """`train.py -m experiment=glob(*)` (less OWN_TESTS) with tiny networks and one iteration each, in a
    subprocess."""
    tiny = [
        "model.net_g.out_size=64",
        "model.net_g.narrow=0.0625",
        "model.net_g.num_style_feat=32",
        "model.init.decoder=null",
        "model.net_d.narrow=0.0625",
        "model.init.net_identity=null",
        "model.init.perceptual=null",
        "model.eye_out_size=16",
        "model.mouth_out_size=24",
        "model.total_iter=1",
        f"data.root={ROOT}/data/samples",
        "data.train.resize_gt=true",
        f"data.component_path={ROOT}/data/samples/components_512.json",
        "data.val=null",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.persistent_workers=false",
        "data.pin_memory=false",
        "trainer=cpu",
        "trainer.limit_val_batches=0",
        "logger=csv",
        "callbacks.iteration_checkpoint.every_n_iter=1",
        "callbacks.image_grid.every_n_iter=1",
    ]
    result = run_script(
        [
            "-m",
            f"experiment=glob(*,exclude=[{','.join(OWN_TESTS)}])",
            f"paths.log_dir={tmp_path}",
            "hydra/launcher=basic",
            *tiny,
        ],
        timeout=900,
    )
    experiments = [
        p.stem for p in (CONFIGS / "experiment").glob("*.yaml") if not any(fnmatch(p.stem, g) for g in OWN_TESTS)
    ]
    assert experiments and len(experiments) < len(list((CONFIGS / "experiment").glob("*.yaml")))
    finished = result.stdout.count("finished 1 iterations")
    assert finished == len(experiments), result.stdout[-3000:]
    exports = list(tmp_path.rglob("net_g_latest.pth"))
    assert len(exports) == len(experiments)


def test_validation_runs_every_n_iterations_and_logs_metrics(tmp_path: Path) -> None:
    """A paired validation set (synthesised from the sample faces) is scored every `val_check_interval`
    iterations: PSNR/L1 of net_g_ema and the input's L1 reach the logger at those iterations."""
    import csv

    from facerevive.data.synthesize_testset import synthesize

    synthesize(ROOT / "data" / "samples", tmp_path / "val", seed=3, size=64)
    val = f"{{_target_: facerevive.data.PairedImageDataset, _partial_: true, lq_root: {tmp_path}/val/lq, "
    val += f"gt_root: {tmp_path}/val/hq, signed: true}}"
    cfg, metrics, _ = run(
        tmp_path,
        [
            "logger=csv",
            "callbacks=none",
            "model.total_iter=4",
            f"data.val={val}",
            "trainer.limit_val_batches=1.0",
            "trainer.val_check_interval=2",
            "trainer.log_every_n_steps=1",
        ],
    )
    assert {"val/psnr", "val/l1", "val/l1_input"} <= set(metrics)
    rows = list(csv.DictReader(next(Path(cfg.paths.output_dir).rglob("metrics.csv")).open()))
    validated = [int(row["step"]) for row in rows if row.get("val/psnr")]
    assert validated == [2, 4], validated  # after iterations 2 and 4: loggers step by the iteration
    input_l1 = {float(row["val/l1_input"]) for row in rows if row.get("val/l1_input")}
    assert len(input_l1) == 1, "the degraded inputs are fixed files: their error cannot change"


@pytest.mark.parametrize("debug", sorted(p.stem for p in (CONFIGS / "debug").glob("*.yaml")))
def test_debug_configs_run(tmp_path: Path, debug: str) -> None:
    """`debug=<name>` (no logger, anomaly detection, overfit_batches, profiler) runs; Lightning's rebuild of
    the train loader for `overfit_batches` must not break it."""
    _, _, objects = run(tmp_path, [f"debug={debug}", "model.total_iter=1", "callbacks.image_grid.every_n_iter=1"])
    assert objects["model"].iteration == 1


def test_channels_last_option_trains(tmp_path: Path) -> None:
    """`model.channels_last=true` from the config trains. bf16-mixed from the config is run by the device check's
    dry run (tests/test_device_check.py); bf16 with every loss and R1 by tests/test_train_device.py."""
    _, _, objects = run(
        tmp_path,
        ["logger=csv", "callbacks=none", "model.total_iter=1", "data.batch_size=2", "model.channels_last=true"],
    )
    model = objects["model"]
    assert model.iteration == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in model.last_losses.values())
