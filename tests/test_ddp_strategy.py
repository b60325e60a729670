"""UsedGradientsDDPStrategy (the opt-in trainer=ddp_used_grads) trains exactly as Lightning's DDP with
find_unused_parameters=True (trainer=ddp): two CPU ranks (gloo), the GFPGAN recipe at 64 px without the perceptual
and identity networks (the DDP machinery, not the losses), two iterations that cross the pyramid cut-off (1e-12
from iteration 2) and end with an R1 step, each rank on its own batches; both ranks end with the same networks.
Also its bucketing and its refusal of BatchNorm statistics.

Run as a script, this file is one rank: it trains under both strategies and writes rank<R>.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from facerevive.models.ddp import UsedGradientsDDPStrategy, refuse_changing_buffers

pytestmark = pytest.mark.e2e

SIZE, NARROW, ITERATIONS = 64, 0.25, 2
OVERRIDES = [
    "model.net_d_reg_every=2",
    "model.loss_weights.remove_pyramid_after=1",
    "model.perceptual=null",
    "model.net_identity=null",
]


@pytest.mark.slow
def test_used_gradients_strategy_gives_the_weights_of_find_unused_parameters(tmp_path: Path) -> None:
    from helpers.ddp_runs import STRATEGIES, launch

    launch(Path(__file__), [str(tmp_path)], timeout=300)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for rank in ranks:
        assert set(rank["trained"]) == set(STRATEGIES)
        for name, digest in rank["trained"]["find_unused"].items():
            assert digest != rank["initial"][name], f"{name} did not train"
        assert rank["trained"]["used_gradients"] == rank["trained"]["find_unused"]
    assert ranks[0]["trained"] == ranks[1]["trained"], "networks differ between ranks"


def test_buckets_cap_bytes_and_never_mix_dtypes() -> None:
    strategy = UsedGradientsDDPStrategy(bucket_mb=32 / 2**20)  # 32 bytes: 8 float32 values
    small, eight, halves = torch.zeros(2), torch.zeros(8), torch.zeros(4, dtype=torch.float16)
    grads = [small, small, eight, small, halves, halves]
    sizes = [[g.numel() for g in bucket] for bucket in strategy._buckets(grads)]
    assert sizes == [[2, 2], [8], [2], [4, 4]]
    with pytest.raises(ValueError, match="bucket_mb"):
        UsedGradientsDDPStrategy(bucket_mb=0)


def test_refuses_a_trainable_layer_with_running_statistics() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="1: a trainable layer with running statistics"):
        refuse_changing_buffers(net)
    refuse_changing_buffers(net.requires_grad_(False))  # frozen (ArcFace in eval): its statistics never change
    refuse_changing_buffers(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)))


def main(out: Path) -> None:
    """One rank: the same start and batches under each strategy; the networks' digests before and after."""
    import torch
    from helpers.ddp_runs import STRATEGIES, digests, fit, rank_and_world_size, tiny_module

    torch.set_num_threads(1)
    rank, world_size = rank_and_world_size()
    record: dict = {"trained": {}, "seconds": {}}
    for strategy in STRATEGIES:
        module = tiny_module(SIZE, NARROW, OVERRIDES)
        record["initial"] = digests(module)
        record["seconds"][strategy] = fit(strategy, module, SIZE, 1, ITERATIONS, rank, world_size)
        record["trained"][strategy] = digests(module)
    (out / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
