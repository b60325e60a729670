"""NaN/Inf faults: the guard before every optimiser step, its policies, the explosion warning, and that a
non-finite network is never saved, exported or loaded (quickstart at tiny sizes on CPU, or the pieces)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config, tiny_net_g_config
from torch import nn

from facerevive.callbacks.checkpoint import IterationCheckpoint
from facerevive.cli.train import run as train_run
from facerevive.models import NonFiniteError, NonFiniteGuard
from facerevive.models.nonfinite import first_nonfinite
from facerevive.weights import build_generator
from facerevive.weights.build import generator_from_config
from facerevive.weights.finite import NonFiniteWeightsError, first_nonfinite_tensor

pytestmark = pytest.mark.e2e

QUIET = [
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "callbacks.image_grid=null",
]


def quickstart(tmp_path: Path, overrides: list[str]):
    return compose_config("train.yaml", [*QUIET, *overrides], tmp_path)


def test_huge_lr_stops_with_the_term_and_iteration_and_saves_nothing_bad(tmp_path):
    """lr=1e10 once trained to NaN, said 'finished' and saved NaN weights. Now: no non-finite step is ever
    applied, the run stops after max_consecutive bad iterations naming the term, and no file holds NaN."""
    cfg = quickstart(
        tmp_path,
        [
            "model.optimizer_g.lr=1e10",
            "model.optimizer_d.lr=1e10",
            "model.total_iter=40",
            "model.nonfinite.max_consecutive=3",
        ],
    )
    with pytest.raises(NonFiniteError, match=r"non-finite (loss|gradient of) \S+ \(optimiser \w+\) at iteration \d+"):
        train_run(cfg)
    run_dir = Path(cfg.paths.output_dir)
    for path in [*run_dir.rglob("*.ckpt"), *run_dir.rglob("*.pth")]:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint.get("state_dict") or checkpoint["params_ema"]
        assert first_nonfinite_tensor(state) is None, path


def test_stop_policy_ends_at_the_first_bad_iteration():
    guard = NonFiniteGuard(policy="stop")
    with pytest.raises(NonFiniteError, match=r"loss l_g_gan \(optimiser g\) at iteration 7; stopping"):
        guard.check("g", 7, {"l_g_pix": torch.tensor(1.0), "l_g_gan": torch.tensor(float("nan"))}, [])


def test_skip_policy_counts_and_resets_after_a_good_iteration():
    guard = NonFiniteGuard(policy="skip", max_consecutive=2)
    param = nn.Parameter(torch.zeros(3))
    param.grad = torch.tensor([0.0, float("inf"), 0.0])
    assert not guard.check("d", 1, {"l_d": torch.tensor(1.0)}, [("net_d.w", param)])
    guard.end_iteration(2, 1.0, 1.0)  # a good iteration
    assert guard.consecutive == 0 and guard.skipped == 1
    assert not guard.check("d", 3, {"l_d": torch.tensor(1.0)}, [("net_d.w", param)])
    with pytest.raises(NonFiniteError, match=r"gradient of net_d.w .* 2 bad iterations in a row"):
        guard.check("d", 4, {"l_d": torch.tensor(1.0)}, [("net_d.w", param)])
    assert guard.skipped == 3


def test_finite_step_is_allowed_and_grads_can_be_left_to_the_scaler():
    param = nn.Parameter(torch.zeros(1))
    param.grad = torch.tensor([float("inf")])
    assert first_nonfinite({"l": torch.tensor(1.0)}, [("p", param)], check_grads=False) is None
    assert NonFiniteGuard().check("g", 1, {"l": torch.tensor(1.0)}, [("p", nn.Parameter(torch.zeros(1)))])


def test_bad_policy_names_the_key():
    with pytest.raises(ValueError, match=r"model.nonfinite.policy='restart': allowed values are skip, stop, rollback"):
        NonFiniteGuard(policy="restart")


def test_rollback_policy_requests_a_rollback_and_stops_after_max_rollbacks():
    guard = NonFiniteGuard(policy="rollback", max_rollbacks=1)
    nan_loss = {"l_g_gan": torch.tensor(float("nan"))}
    assert not guard.check("g", 5, nan_loss, [])
    assert guard.rollback_pending
    guard.rolled_back()
    assert (guard.rollbacks, guard.rollback_pending) == (1, False)
    guard.end_iteration(4, 1.0, 1.0)
    stopped = r"iteration 5: already rolled back 1 times \(model.nonfinite.max_rollbacks=1\)"
    with pytest.raises(NonFiniteError, match=stopped):
        guard.check("g", 5, nan_loss, [])


def test_rollback_returns_to_the_last_checkpoint_with_lower_learning_rates(tmp_path, monkeypatch, caplog):
    """A NaN batch at iteration 5: the run returns to iteration 3's checkpoint with lr x 0.5, retrains 4 and 5
    on new batches and finishes at total_iter with finite weights."""
    from facerevive.models import GFPGANModule

    original = GFPGANModule.train_iteration
    seen: list[int] = []

    def poisoned(self, batch, iteration):
        seen.append(iteration)
        if iteration == 5 and seen.count(5) == 1:
            batch = {**batch, "lq": torch.full_like(batch["lq"], float("nan"))}
        return original(self, batch, iteration)

    monkeypatch.setattr(GFPGANModule, "train_iteration", poisoned)
    cfg = quickstart(
        tmp_path,
        [
            "model.total_iter=8",
            "model.nonfinite.policy=rollback",
            "callbacks.iteration_checkpoint.every_n_iter=3",
        ],
    )
    with caplog.at_level(logging.WARNING, logger="facerevive.callbacks.rollback"):
        train_run(cfg)
    assert seen == [1, 2, 3, 4, 5, 4, 5, 6, 7, 8]
    assert "iteration 5: rolled back to" in caplog.text and "iter_00000003.ckpt (iteration 3)" in caplog.text
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["iteration"] == 8
    lrs = [group["lr"] for state in last["optimizer_states"] for group in state["param_groups"]]
    assert lrs == pytest.approx([0.5 * cfg.model.optimizer_g.lr] * len(lrs))
    assert first_nonfinite_tensor(last["state_dict"]) is None


def test_rollback_policy_without_its_callback_fails_loudly():
    """A trainer built without NonFiniteRollback (train.py adds it) must not let a rollback request pass."""
    from hydra.utils import instantiate
    from test_gfpgan_module_parity import run_ours
    from test_stylegan2_module_parity import make_batches, official_opt, our_config

    config = our_config(official_opt("equalized", reg_every=1, mixing_prob=0.9), "equalized", total_iter=2)
    config["nonfinite"] = {"_target_": "facerevive.models.NonFiniteGuard", "policy": "rollback"}
    batches = make_batches(2)
    batches[0]["gt"] = torch.full_like(batches[0]["gt"], float("nan"))
    with pytest.raises(RuntimeError, match=r"needs the facerevive\.callbacks\.NonFiniteRollback callback"):
        run_ours(instantiate(config), batches)


def test_explosion_signature_warns(caplog):
    guard = NonFiniteGuard(explosion_factor=1e6, confident_d_loss=0.05)
    with caplog.at_level(logging.WARNING, logger="facerevive.models.nonfinite"):
        guard.end_iteration(1, 0.5, 0.01)
        guard.end_iteration(2, 0.5e9, 0.01)
    assert "training is exploding" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facerevive.models.nonfinite"):
        NonFiniteGuard().end_iteration(1, 0.5, 1.0)
    assert caplog.text == ""


def test_build_generator_refuses_nan_weights(tmp_path):
    net = generator_from_config(tiny_net_g_config())
    state = net.state_dict()
    bad_name = next(name for name, t in state.items() if t.is_floating_point())
    state[bad_name] = torch.full_like(state[bad_name], float("nan"))
    path = tmp_path / "nan_export.pth"
    torch.save({"params_ema": state, "net_g_config": net.config}, path)
    with pytest.raises(NonFiniteWeightsError, match=rf"nan_export.pth \[params_ema\]: tensor '{bad_name}'"):
        build_generator(path)


def test_checkpoint_callback_never_saves_a_nan_network(tmp_path):
    class Module:
        iteration = 3
        nonfinite = NonFiniteGuard()

        def state_dict(self):
            return {"net_g.w": torch.tensor([float("inf")])}

    callback = IterationCheckpoint(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("facerevive.callbacks.checkpoint.iteration_module", lambda module: module)
        with pytest.raises(NonFiniteWeightsError, match=r"iteration 3: not saved, the network: tensor 'net_g.w'"):
            callback.save(None, Module())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
