"""The two-stage workflow on CPU: train a StyleGAN2 prior (`experiment=prior_quickstart`), then the GFPGAN
quickstart with that prior as its frozen decoder (`fix_decoder: true`, the paper's setting), against the same run
with a frozen random decoder. Both restore freshly degraded faces; the L1 of each is printed, whichever way it
goes: with four training faces and ten iterations a stage it shows the workflow, not the value of a real
prior.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.configs import compose_config

from facerevive.cli.train import run as train_run
from facerevive.data.synthesize_testset import synthesize
from facerevive.weights import build_generator

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "logger=csv"]
PRIOR_ITERS = 10
GFPGAN_ITERS = 10
# The GFPGAN quickstart generator with the prior quickstart's decoder widths (64 channels at every resolution,
# 4 mapping layers): the prior file must fit its decoder exactly.
DECODER_FIT = ["model.net_g.channel_multiplier=2", "model.net_g.narrow=0.125", "model.net_g.num_mlp=4"]


def _train(tmp_path: Path, name: str, overrides: list[str]) -> Path:
    run_dir = tmp_path / name
    cfg = compose_config("train.yaml", [*QUIET, *overrides], tmp_path, run_dir)
    train_run(cfg)
    return run_dir / "checkpoints" / "net_g_latest.pth"


def _l1_on(export: Path, pairs: Path) -> float:
    """Mean L1 (on [0, 1]) of the generator's restorations of the degraded faces against their originals."""
    net = build_generator(export)
    errors = []
    for lq_path in sorted((pairs / "lq").iterdir()):
        lq = cv2.imread(str(lq_path))[..., ::-1].astype(np.float32) / 255
        hq = cv2.imread(str(pairs / "hq" / lq_path.name))[..., ::-1].astype(np.float32) / 255
        x = torch.from_numpy(lq.copy()).permute(2, 0, 1)[None] * 2 - 1
        with torch.no_grad():
            out = net(x, return_rgb=False, randomize_noise=False)[0]
        restored = ((out[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy()
        errors.append(float(np.abs(restored - hq).mean()))
    return float(np.mean(errors))


@pytest.mark.slow
def test_prior_then_gfpgan_with_the_prior_as_frozen_decoder(tmp_path: Path, capsys) -> None:
    prior = _train(
        tmp_path,
        "prior",
        [
            "experiment=prior_quickstart",
            "model/net_g=stylegan2_clean",
            f"model.total_iter={PRIOR_ITERS}",
            f"callbacks.iteration_checkpoint.every_n_iter={PRIOR_ITERS}",
            "callbacks.prior_samples.fid_every_n_iter=null",
        ],
    )
    gfpgan = [
        *DECODER_FIT,
        "model.net_g.fix_decoder=true",
        f"model.total_iter={GFPGAN_ITERS}",
        f"callbacks.iteration_checkpoint.every_n_iter={GFPGAN_ITERS}",
        "callbacks.image_grid=null",
    ]
    with_prior = _train(tmp_path, "with_prior", [*gfpgan, f"model.init.decoder={prior}"])
    random_decoder = _train(tmp_path, "random_decoder", gfpgan)

    # The frozen decoder is the prior, unchanged by GFPGAN training (`params`; the EMA copy moves by float
    # rounding only: decay * w + (1 - decay) * w is not always w, in the official code too).
    decoder = torch.load(prior, map_location="cpu", weights_only=True)["params_ema"]
    trained = torch.load(with_prior, map_location="cpu", weights_only=True)
    for key, value in decoder.items():
        assert torch.equal(trained["params"][f"stylegan_decoder.{key}"], value), key
        assert torch.allclose(trained["params_ema"][f"stylegan_decoder.{key}"], value, rtol=1e-5, atol=1e-7), key

    pairs = tmp_path / "fresh"
    synthesize(SAMPLES, pairs, seed=123, size=64)
    l1_prior, l1_random = _l1_on(with_prior, pairs), _l1_on(random_decoder, pairs)
    with capsys.disabled():
        print(
            f"\ntwo-stage ({PRIOR_ITERS} prior + {GFPGAN_ITERS} GFPGAN iterations, 64 px, CPU): L1 on freshly "
            f"degraded faces {l1_prior:.4f} with the prior, {l1_random:.4f} with a random frozen decoder; "
            "LPIPS not computed: its VGG/AlexNet weights are not on this machine"
        )
    assert np.isfinite(l1_prior) and np.isfinite(l1_random)
