"""Files users hand FaceRevive are data: a crafted pickle that would run a command is refused wherever a file is read.

Each crafted file holds an object whose unpickling runs `touch <marker>`; the marker must never appear, and the
refusal names the file. A legitimate checkpoint of the earlier format (OmegaConf hyper-parameters) still loads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers.configs import tiny_net_g_config
from omegaconf import OmegaConf

from facerevive.cli.train import read_resume_metadata
from facerevive.data.component_boxes import load_boxes
from facerevive.metrics.fid import FIDStats
from facerevive.weights import build_generator, generator_from_config, load_checkpoint
from facerevive.weights.checkpoint import CheckpointError, UnsafeFileError, read_checkpoint, safe_load

pytestmark = pytest.mark.unit


class RunsCommand:
    """Unpickling this object runs a shell command (what an attacker's .pth would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a crafted file ran its command"


def crafted(tmp_path: Path, marker: Path, name: str, layout: str) -> Path:
    """A file in the given layout whose payload runs the command when fully unpickled."""
    payload = RunsCommand(marker)
    net = generator_from_config(tiny_net_g_config())
    contents = {
        "weights": {"params_ema": payload},
        "export": {"params_ema": net.state_dict(), "net_g_config": tiny_net_g_config(), "evil": payload},
        "lightning": {"pytorch-lightning_version": "2.5", "state_dict": net.state_dict(), "hyper_parameters": payload},
        "fid": {"mean": payload, "cov": payload},
        "boxes": {"00000": payload},
    }[layout]
    path = tmp_path / name
    torch.save(contents, path)
    return path


def test_crafted_weights_are_refused_by_build_generator_and_load_checkpoint(tmp_path, marker):
    path = crafted(tmp_path, marker, "GFPGANv1.4.pth", "weights")
    with pytest.raises(UnsafeFileError, match=r"GFPGANv1\.4\.pth holds objects other than tensors"):
        build_generator(path)
    with pytest.raises(UnsafeFileError, match="never unpickles"):
        load_checkpoint(generator_from_config(tiny_net_g_config()), path)


def test_crafted_lightning_checkpoint_is_refused_to_build_and_to_resume(tmp_path, marker):
    path = crafted(tmp_path, marker, "last.ckpt", "lightning")
    with pytest.raises(UnsafeFileError, match=r"last\.ckpt"):
        build_generator(path)
    with pytest.raises(UnsafeFileError, match=r"ckpt_path=.*not a FaceRevive training checkpoint"):
        read_resume_metadata(str(path))


def test_crafted_fid_statistics_and_box_file_are_refused(tmp_path, marker):
    with pytest.raises(UnsafeFileError, match=r"stats\.pth"):
        FIDStats.load(crafted(tmp_path, marker, "stats.pth", "fid"))
    with pytest.raises(UnsafeFileError, match=r"boxes\.pth"):
        load_boxes(crafted(tmp_path, marker, "boxes.pth", "boxes"))


def test_crafted_export_is_refused_by_restore(tmp_path, marker, compose, caplog):
    from facerevive.cli.restore import run

    export = crafted(tmp_path, marker, "export.pth", "export")
    photo = sorted((Path(__file__).resolve().parents[1] / "data" / "samples").glob("*.png"))[0]
    cfg = compose("restore.yaml", [f"input={photo}", f"output={tmp_path / 'out'}", f"weights={export}"])
    with pytest.raises(SystemExit) as exit_info:
        run(cfg)
    assert exit_info.value.code == 2
    assert "holds objects other than tensors" in caplog.text
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_crafted_export_is_refused_by_evaluate(tmp_path, marker, compose):
    from facerevive.cli.evaluate import run

    export = crafted(tmp_path, marker, "export.pth", "export")
    _, out_dir = run(compose("evaluate.yaml", [f"methods=[ours:{export}]", "~metrics", "+metrics={}"]))
    report = (out_dir / "metrics.md").read_text()
    assert "holds objects other than tensors" in report


def test_legacy_checkpoint_with_omegaconf_hyperparameters_still_builds(tmp_path):
    """A checkpoint of the earlier format: OmegaConf containers in hyper_parameters, a numpy RNG state."""
    import numpy as np

    config = tiny_net_g_config()
    net = generator_from_config(config)
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "pytorch-lightning_version": "2.5.2",
            "state_dict": {f"net_g_ema.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": OmegaConf.create({"net_g": config, "optimizer_g": {"lr": 2e-3}}),
            "global_rng": {"numpy": np.random.get_state()},
            "net_g_config": config,
        },
        path,
    )
    with pytest.raises(UnsafeFileError):
        safe_load(path)  # not plain data: only the fixed legacy allowlist reads it
    assert "hyper_parameters" in read_checkpoint(path)
    rebuilt = build_generator(path)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), net.state_dict().values()))


def test_safetensors_export_is_accepted_where_a_pth_is(tmp_path):
    """The format that holds no code: restore's network builder takes a .safetensors export like the .pth."""
    from facerevive.restore.build import build_network
    from facerevive.utils.files import atomic_torch_save
    from facerevive.weights import save_export_safetensors

    net = generator_from_config(tiny_net_g_config())
    export = {"params_ema": net.state_dict(), "net_g_config": tiny_net_g_config()}
    pth = atomic_torch_save(export, tmp_path / "export.pth")
    st = save_export_safetensors(export, tmp_path / "export.safetensors")
    from_pth, from_st = build_network(str(pth), device="cpu"), build_network(str(st), device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(from_pth.state_dict().values(), from_st.state_dict().values()))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match=r"corrupt\.safetensors is not a readable safetensors file"):
        read_checkpoint(corrupt)
