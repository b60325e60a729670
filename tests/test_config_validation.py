"""Training configs are validated before anything heavy is built: one line naming the key and the allowed
values (the quickstart config with one bad value each)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config, tiny_net_g_config

from facerevive.cli.train import ConfigError, check_sizes, train_overrides
from facerevive.cli.train import run as train_run
from facerevive.utils.preflight import ConfigValueError, validate_training_config
from facerevive.weights.build import generator_from_config
from facerevive.weights.checkpoint import CheckpointError

QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "logger=csv"]


def quickstart(tmp_path: Path, overrides: list[str]):
    return compose_config("train.yaml", [*QUIET, *train_overrides(overrides)], tmp_path)


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
    with pytest.raises(ConfigValueError, match=message):
        validate_training_config(cfg)


@pytest.mark.parametrize("batch", [1, 3, 4, 8])
def test_batches_the_discriminator_handles_pass(tmp_path, batch):
    validate_training_config(quickstart(tmp_path, [f"data.batch_size={batch}"]))


def test_data_out_size_must_match_the_generator(tmp_path):
    cfg = quickstart(tmp_path, ["data.out_size=-1"])
    with pytest.raises(ConfigError, match=r"^data.out_size=-1 does not match model.net_g.out_size=64$"):
        check_sizes(cfg)


def test_decoder_of_the_wrong_size_names_the_file(tmp_path):
    decoder = generator_from_config(tiny_net_g_config(out_size=32)).stylegan_decoder
    path = tmp_path / "decoder_32.pth"
    torch.save({"params_ema": decoder.state_dict()}, path)
    cfg = quickstart(tmp_path, [f"model.net_g.decoder_load_path={path}"])
    with pytest.raises(CheckpointError, match=r"decoder_load_path=.*decoder_32.pth does not fit .*out_size=64"):
        validate_training_config(cfg)


def test_decoder_of_the_right_size_passes(tmp_path):
    decoder = generator_from_config(tiny_net_g_config()).stylegan_decoder
    path = tmp_path / "decoder_64.pth"
    torch.save({"params_ema": decoder.state_dict()}, path)
    validate_training_config(quickstart(tmp_path, [f"model.net_g.decoder_load_path={path}"]))


def test_train_run_validates_before_building(tmp_path):
    cfg = quickstart(tmp_path, ["data.batch_size=0", "data.root=/nonexistent"])
    with pytest.raises(ConfigValueError, match=r"^data.batch_size=0: allowed values are integers >= 1$"):
        train_run(cfg)
