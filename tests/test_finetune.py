"""Fine-tuning: `model.init.<network>` strict loads and their error messages, decoder priors taken out of a whole
GFPGAN checkpoint, the fine-tune experiments, and `gfpgan_v1.4_finetune` end to end on a stand-in of the release
(the full 512 px channel-multiplier-2 network: loads strictly, trains, resumes exactly, exports a file that
`build_generator` and the official GFPGANer load)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers.configs import tiny_net_g_config
from hydra.utils import instantiate

from facerevive.archs import FacialComponentDiscriminator, GFPGANv1Clean, StyleGAN2Discriminator
from facerevive.cli import CONFIG_DIR, PROJECT_ROOT
from facerevive.models.init_weights import NetworkInit, initialise_networks, load_network, resolve_spec
from facerevive.utils.files import atomic_torch_save
from facerevive.weights import CheckpointError, generator_from_config, save_export_safetensors, set_pretrained_dir
from facerevive.weights.recognise import describe_state_dict
from facerevive.weights.registry import WEIGHT_FILES, release_config

FINETUNE_EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("gfpgan_*finetune*.yaml"))
# The v1 release discriminator files of the registry, by the network each starts.
D_FILES = {
    "net_d": "gfpgan_v1_net_d",
    "net_d_left_eye": "gfpgan_v1_net_d_left_eye",
    "net_d_right_eye": "gfpgan_v1_net_d_right_eye",
    "net_d_mouth": "gfpgan_v1_net_d_mouth",
}
SAMPLES = PROJECT_ROOT / "data" / "samples"
# Small-data settings shared by the runs below: the sample faces, no validation set, CSV logs, CPU.
DATA = [
    f"data.root={SAMPLES}",
    "data.train.resize_gt=true",
    f"data.component_path={SAMPLES}/components_512.json",
    "data.val=null",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.pin_memory=false",
    "trainer=cpu",
    "trainer.limit_val_batches=0",
    "trainer.val_check_interval=null",
    "logger=csv",
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.image_grid.every_n_iter=1000",
]


def tiny_clean(**overrides) -> GFPGANv1Clean:
    return instantiate(tiny_net_g_config(**overrides))


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """`net` with every float tensor redrawn from seed `seed` (so a loaded copy is told apart from a fresh one)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.05)
    return net


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_b = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, state_b[key]), key


@pytest.fixture
def weights_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    set_pretrained_dir(folder)
    return folder


# ----------------------------------------------------------------------------------------------- init loads
def test_release_name_and_every_file_kind_load_strictly(tmp_path: Path, weights_dir: Path) -> None:
    """A registry name, an official params_ema / params / bare file, an export, a training checkpoint and a
    .safetensors file each give the same weights; the generator takes the EMA copy of a checkpoint."""
    source = randomised(tiny_clean(), seed=1)
    ema = randomised(tiny_clean(), seed=2)
    state = source.state_dict()
    atomic_torch_save({"params_ema": state}, weights_dir / WEIGHT_FILES["gfpgan_v1.4"].filename)
    lightning = {
        "pytorch-lightning_version": "2.5",
        "state_dict": {
            **{f"net_g.{k}": v for k, v in ema.state_dict().items()},
            **{f"net_g_ema.{k}": v for k, v in state.items()},
        },
    }
    files = {
        "params": atomic_torch_save({"params": state}, tmp_path / "params.pth"),
        "bare": atomic_torch_save(state, tmp_path / "bare.pth"),
        "export": atomic_torch_save({"params": ema.state_dict(), "params_ema": state}, tmp_path / "export.pth"),
        "checkpoint": atomic_torch_save(lightning, tmp_path / "last.ckpt"),
        "safetensors": save_export_safetensors({"params_ema": state}, tmp_path / "export.safetensors"),
    }
    for spec in ["gfpgan_v1.4", "v1.4", *map(str, files.values())]:
        net = tiny_clean()
        load_network(net, spec, "model.init.net_g", "net_g")
        assert_same_state(net, source)


def test_discriminators_load_from_the_v1_file_names(weights_dir: Path) -> None:
    def build(network: str) -> torch.nn.Module:
        if network == "net_d":
            return StyleGAN2Discriminator(64, channel_multiplier=1, narrow=0.25)
        return FacialComponentDiscriminator()

    sources = {network: randomised(build(network), seed=i) for i, network in enumerate(D_FILES)}
    for network, net in sources.items():
        atomic_torch_save({"params": net.state_dict()}, weights_dir / WEIGHT_FILES[D_FILES[network]].filename)
    targets = {network: build(network) for network in D_FILES}
    initialise_networks(targets, NetworkInit(**D_FILES))
    for network, net in targets.items():
        assert_same_state(net, sources[network])


def test_missing_files_say_where_to_get_them(weights_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"GFPGANv1\.4\.pth is missing; run `make weights ARGS=gfpgan_v1\.4`"):
        resolve_spec("gfpgan_v1.4", "model.init.net_g")
    with pytest.raises(FileNotFoundError, match=r"published only at https://drive\.google\.com/.*by hand into"):
        resolve_spec("gfpgan_v1_net_d", "model.init.net_d")
    with pytest.raises(FileNotFoundError, match=r"model.init.net_g=/nowhere\.pth: no such file, and not a"):
        resolve_spec("/nowhere.pth", "model.init.net_g")
    with pytest.raises(ValueError, match="this run has no net_d_mouth"):
        initialise_networks({"net_g": tiny_clean()}, NetworkInit(net_d_mouth="gfpgan_v1_net_d_mouth"))


@pytest.mark.parametrize(
    ("file_net", "recognised"),
    [
        (lambda: tiny_clean(channel_multiplier=2), r"GFPGANv1Clean channel-multiplier-2 state dict .*out_size 64"),
        (lambda: instantiate({**tiny_net_g_config(), "_target_": "facerevive.archs.GFPGANv1"}), r"is a GFPGANv1 \("),
        (lambda: StyleGAN2Discriminator(64, narrow=0.25), r"StyleGAN2Discriminator state dict .*model\.init\.net_d"),
        (FacialComponentDiscriminator, r"FacialComponentDiscriminator state dict; use it as model.init.net_d_left"),
    ],
    ids=["clean-cm2", "v1-equalized", "global-d", "component-d"],
)
def test_mismatch_lists_keys_and_names_the_architecture(tmp_path: Path, file_net, recognised: str) -> None:
    path = atomic_torch_save({"params_ema": file_net().state_dict()}, tmp_path / "file.pth")
    net = tiny_clean()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_network(net, str(path), "model.init.net_g", "net_g")
    message = str(info.value)
    assert message.startswith(f"model.init.net_g={path} does not fit GFPGANv1Clean (net_g):")
    assert "missing keys (" in message or "shape mismatches (" in message
    assert "... (" in message, "long key lists are bounded, with a count of the rest"
    assert re.search(recognised, message), message
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed by a failed load"


def test_release_layouts_are_named_by_their_configs() -> None:
    """The #564 situation: the v1.4 file is a Clean cm-2 state dict, the v1 file is the equalized cm-1 one."""
    with torch.device("meta"):
        clean = generator_from_config(release_config("gfpgan_clean_c2"))
        paper = generator_from_config(release_config("gfpgan_v1"))
        clean_cm1 = generator_from_config(release_config("gfpgan_clean_c2"), {"channel_multiplier": 1})
    assert describe_state_dict(clean.state_dict()).startswith(
        "this is a GFPGANv1Clean channel-multiplier-2 state dict"
    ) and describe_state_dict(clean.state_dict()).endswith("use model/net_g=gfpgan_clean_c2")
    assert "GFPGANv1 (equalized layers" in describe_state_dict(paper.state_dict())
    assert describe_state_dict(paper.state_dict()).endswith("use model/net_g=gfpgan_v1")
    assert "channel-multiplier-1" in describe_state_dict(clean_cm1.state_dict())
    assert "StyleGAN2GeneratorClean channel-multiplier-2" in describe_state_dict(clean.stylegan_decoder.state_dict())
    assert describe_state_dict({"weight": torch.zeros(1)}) is None
