"""Training configs are validated before anything heavy is built: one line naming the key and the allowed
values (the quickstart config with one bad value each), every problem of a run listed in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config, tiny_net_g_config

from facerevive.cli.train import run as train_run
from facerevive.training.preflight import PreflightError, preflight, size_problems, training_problems
from facerevive.weights.build import generator_from_config

pytestmark = pytest.mark.unit

QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "logger=csv"]


def quickstart(tmp_path: Path, overrides: list[str]):
    return compose_config("train.yaml", [*QUIET, *overrides], tmp_path)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.net_g.out_size=48"], r"^model.net_g.out_size=48: allowed values are powers of two >= 8$"),
        (["model.net_g.out_size=-1"], r"^model.net_g.out_size=-1: allowed values are powers of two >= 8$"),
        (["data.batch_size=0"], r"^data.batch_size=0: allowed values are integers >= 1$"),
        (
            ["data.batch_size=6"],
            r"^data.batch_size=6 with model.net_d.stddev_group=4: allowed batch sizes are 1..4 or multiples of 4$",
        ),
        (["trainer.precision=16-mixed"], r"^trainer.precision=16-mixed is not supported on cpu: allowed 32-true"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(tmp_path, overrides, message):
    cfg = quickstart(tmp_path, overrides)
    with pytest.raises(PreflightError, match=message):
        preflight(cfg)


@pytest.mark.parametrize("batch", [1, 3, 4, 8])
def test_batches_the_discriminator_handles_pass(tmp_path, batch):
    assert training_problems(quickstart(tmp_path, [f"data.batch_size={batch}"])) == []


def test_data_out_size_must_match_the_generator(tmp_path):
    cfg = quickstart(tmp_path, ["data.out_size=-1"])
    (problem,) = size_problems(cfg)
    assert problem.startswith("data.out_size=-1 does not match model.net_g.out_size=64")


def test_decoder_of_the_wrong_size_names_the_file(tmp_path):
    decoder = generator_from_config(tiny_net_g_config(out_size=32)).stylegan_decoder
    path = tmp_path / "decoder_32.pth"
    torch.save({"params_ema": decoder.state_dict()}, path)
    cfg = quickstart(tmp_path, [f"model.init.decoder={path}"])
    with pytest.raises(PreflightError, match=r"model.init.decoder=.*decoder_32.pth does not fit .*out_size=64"):
        preflight(cfg)


def test_decoder_of_the_right_size_passes(tmp_path):
    decoder = generator_from_config(tiny_net_g_config()).stylegan_decoder
    path = tmp_path / "decoder_64.pth"
    torch.save({"params_ema": decoder.state_dict()}, path)
    assert training_problems(quickstart(tmp_path, [f"model.init.decoder={path}"])) == []


def test_train_run_validates_before_building(tmp_path):
    cfg = quickstart(tmp_path, ["data.batch_size=0", "data.root=/nonexistent"])
    with pytest.raises(PreflightError) as info:
        train_run(cfg)
    assert info.value.problems == [
        "data.batch_size=0: allowed values are integers >= 1",
        "data.root=/nonexistent: no such folder or file; give aligned training faces with data.root=<folder> (a "
        "folder, a *.lmdb, a *.zip or a list file; data/README.md says how to make them)",
    ]
