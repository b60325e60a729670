"""Fine-tuning: `model.init.<network>` strict loads and their error messages, decoder priors taken out of a whole
GFPGAN checkpoint, the fine-tune experiments, and `gfpgan_v1.4_finetune` end to end: with tiny networks it resumes
exactly without the release files; on a stand-in of the release (the full 512 px channel-multiplier-2 network) it
loads strictly, trains and exports a file that `build_generator` and the official GFPGANer load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers.configs import tiny_net_g_config
from hydra.utils import instantiate

from facerevive.archs import FacialComponentDiscriminator, GFPGANv1Clean, StyleGAN2Discriminator
from facerevive.models.init_weights import NetworkInit, initialise_networks, load_network, resolve_spec
from facerevive.paths import CONFIG_DIR, PROJECT_ROOT
from facerevive.utils.files import atomic_torch_save
from facerevive.weights import CheckpointError, generator_from_config, save_export_safetensors, set_pretrained_dir
from facerevive.weights.recognise import describe_state_dict
from facerevive.weights.registry import WEIGHT_FILES, release_config

pytestmark = pytest.mark.e2e

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
# Tiny networks in place of the 512 px ones: the fine-tune experiments' logic at a CPU test's cost.
TINY_NETS = [
    "model.net_g.out_size=64",
    "model.net_g.narrow=0.0625",
    "model.net_g.num_style_feat=32",
    "model.net_d.narrow=0.0625",
    "model.eye_out_size=16",
    "model.mouth_out_size=24",
]


def tiny_clean(**overrides) -> GFPGANv1Clean:
    """The tests' tiny clean generator, built directly (its errors are not wrapped by Hydra)."""
    return GFPGANv1Clean(**{k: v for k, v in tiny_net_g_config(**overrides).items() if k != "_target_"})


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
    initialise_networks(targets, NetworkInit(**D_FILES).specs())
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
        initialise_networks({"net_g": tiny_clean()}, NetworkInit(net_d_mouth="gfpgan_v1_net_d_mouth").specs())


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


# ------------------------------------------------------------------------------------------ decoder priors
def load_decoder(net, path: Path) -> None:
    """`model.init.decoder=<path>` applied to `net`."""
    load_network(net.stylegan_decoder, str(path), "model.init.decoder", "decoder")


def test_init_decoder_takes_a_whole_gfpgan_checkpoint(tmp_path: Path) -> None:
    """A release-layout generator file, an export and a training checkpoint give their `stylegan_decoder.*`;
    a StyleGAN2 prior in the BasicSR layout (`{"params_ema": decoder}`) keeps working."""
    source = randomised(tiny_clean(), seed=4)
    state = source.state_dict()
    files = [
        atomic_torch_save({"params_ema": state}, tmp_path / "GFPGANv1.4.pth"),
        atomic_torch_save({"params": state, "params_ema": state, "net_g_config": {}}, tmp_path / "export.pth"),
        atomic_torch_save(
            {"pytorch-lightning_version": "2.5", "state_dict": {f"net_g_ema.{k}": v for k, v in state.items()}},
            tmp_path / "last.ckpt",
        ),
        atomic_torch_save({"params_ema": source.stylegan_decoder.state_dict()}, tmp_path / "prior.pth"),
    ]
    for path in files:
        net = tiny_clean()
        load_decoder(net, path)
        assert_same_state(net.stylegan_decoder, source.stylegan_decoder)
        assert not torch.equal(net.final_linear.weight, source.final_linear.weight), "only the decoder is taken"


def test_init_decoder_errors_are_clear(tmp_path: Path) -> None:
    no_decoder = atomic_torch_save({"params": FacialComponentDiscriminator().state_dict()}, tmp_path / "d.pth")
    with pytest.raises(CheckpointError, match=r"d\.pth: no StyleGAN2 decoder weights .*its weights are conv1"):
        load_decoder(tiny_clean(), no_decoder)
    wide = atomic_torch_save({"params_ema": tiny_clean(channel_multiplier=2).state_dict()}, tmp_path / "cm2.pth")
    with pytest.raises(CheckpointError, match=r"(?s)does not fit StyleGAN2GeneratorClean.*shape mismatches"):
        load_decoder(tiny_clean(), wide)


def test_the_init_map_loads_loss_networks_at_construction_and_the_decoder_at_a_fresh_start(
    tmp_path: Path, compose
) -> None:
    """model.init is the one way in: net_identity is loaded when the module is built (it is not checkpointed), the
    decoder when a fresh run starts, and net_g_ema then starts equal to net_g (so with the prior decoder)."""
    from facerevive.archs import ResNetArcFace

    arcface = randomised(ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False), seed=5)
    arcface_file = atomic_torch_save(arcface.state_dict(), tmp_path / "arcface.pth")
    prior = randomised(tiny_clean(), seed=6).stylegan_decoder
    prior_file = atomic_torch_save({"params_ema": prior.state_dict()}, tmp_path / "prior.pth")
    cfg = compose(
        "train.yaml",
        [
            "model.net_identity={_target_: facerevive.archs.ResNetArcFace, block: IRBlock, layers: [2,2,2,2], "
            "use_se: false}",
            f"model.init.net_identity={arcface_file}",
            f"model.init.decoder={prior_file}",
        ],
    )
    model = instantiate(cfg.model)
    assert_same_state(model.net_identity, arcface)
    assert not torch.equal(model.net_g.stylegan_decoder.constant_input.weight, prior.constant_input.weight)
    model.initialise_from_files()
    assert_same_state(model.net_g.stylegan_decoder, prior)
    assert_same_state(model.net_g_ema, model.net_g)


# ------------------------------------------------------------------------------------------- experiments
def _save_stand_ins(model, cfg, weights_dir: Path, seed: int) -> dict[str, torch.nn.Module]:
    """Randomised copies of the run's networks, saved under the registry files its `model.init` names."""
    stand_ins = {}
    init = NetworkInit(**{k: v for k, v in cfg.model.init.items() if k != "_target_"})
    for network, spec in init.trained_specs().items():
        net = randomised(getattr(model, network), seed=seed + len(stand_ins))
        key = "params_ema" if network == "net_g" else "params"
        atomic_torch_save({key: net.state_dict()}, weights_dir / WEIGHT_FILES[spec].filename)
        stand_ins[network] = net
    return stand_ins


@pytest.mark.parametrize("experiment", FINETUNE_EXPERIMENTS)
def test_finetune_experiment_composes_and_runs_one_iteration(tmp_path: Path, compose, experiment: str) -> None:
    """Each fine-tune experiment with tiny networks, started from stand-in release files of those shapes: the
    first iteration is D warm-up, so net_g is still exactly the file's and net_g_ema equals it."""
    from facerevive.cli.train import run as train_run

    tiny = [
        *TINY_NETS,
        # The warm-up iteration computes no generator loss: ArcFace and VGG would only cost their construction.
        "model.net_identity=null",
        "model.init.net_identity=null",
        "model.perceptual=null",
        "model.total_iter=1",
        "data.batch_size=2",
        "callbacks.iteration_checkpoint.every_n_iter=1",
    ]
    weights = tmp_path / "weights"
    weights.mkdir()
    cfg = compose("train.yaml", [f"experiment={experiment}", *DATA, *tiny, f"paths.pretrained_dir={weights}"])
    assert cfg.task_name == experiment and cfg.model.net_d_init_iters >= 1
    assert set(NetworkInit(**{k: v for k, v in cfg.model.init.items() if k != "_target_"}).trained_specs()) == {
        "net_g",
        *D_FILES,
    }
    stand_ins = _save_stand_ins(instantiate(cfg.model), cfg, weights, seed=10)
    _, objects = train_run(cfg)
    model = objects["model"]
    assert model.iteration == 1
    assert_same_state(model.net_g, stand_ins["net_g"])
    torch.testing.assert_close(model.net_g_ema.state_dict(), stand_ins["net_g"].state_dict())
    scratch = compose("train.yaml", [f"experiment={experiment}", "model/init=d_scratch"])
    assert [scratch.model.init[k] for k in D_FILES] == [None] * 4


# ------------------------------------------------------------------------------ the fine-tune, end to end
def _release_stand_ins(weights_dir: Path) -> dict[str, torch.nn.Module]:
    """Random networks of the releases' exact shapes, saved in their layouts under their registry file names:
    GFPGANv1.4.pth ({'params_ema'}: the full 512 px Clean cm-2 generator) and the four v1 discriminators."""
    torch.manual_seed(123)
    nets = {
        "net_g": generator_from_config(release_config("gfpgan_clean_c2")),
        "net_d": StyleGAN2Discriminator(512, channel_multiplier=1),
        **{network: FacialComponentDiscriminator() for network in D_FILES if network != "net_d"},
    }
    atomic_torch_save({"params_ema": nets["net_g"].state_dict()}, weights_dir / WEIGHT_FILES["gfpgan_v1.4"].filename)
    for network, name in D_FILES.items():
        atomic_torch_save({"params": nets[network].state_dict()}, weights_dir / WEIGHT_FILES[name].filename)
    return nets


def _trained_state(model) -> dict[str, torch.Tensor]:
    networks = ["net_g", "net_g_ema", *D_FILES]
    return {f"{n}.{k}": v.clone() for n in networks for k, v in getattr(model, n).state_dict().items()}


# `gfpgan_v1.4_finetune` on the sample faces at batch 1, one D warm-up iteration, no identity or perceptual networks
# (their cost, not the fine-tune's logic).
V14_FINETUNE = [
    "experiment=gfpgan_v1.4_finetune",
    *DATA,
    "data.batch_size=1",
    "model.net_identity=null",
    "model.init.net_identity=null",
    "model.perceptual=null",
    "model.net_d_init_iters=1",
]


def test_v14_finetune_resumes_exactly_without_the_release_files(tmp_path: Path, compose) -> None:
    """`experiment=gfpgan_v1.4_finetune` with tiny networks started from stand-in files: 3 iterations straight
    (the first is D warm-up) equal 2 iterations, a resume from that run's iteration-2 checkpoint and 1 more, bit
    for bit; the resumed run does not load the release files again (they are gone)."""
    from helpers.recorders import RECORDER_OVERRIDE, recorder_of

    from facerevive.cli.train import run as train_run

    weights = tmp_path / "weights"
    weights.mkdir()
    overrides = [
        *V14_FINETUNE,
        *TINY_NETS,
        f"paths.pretrained_dir={weights}",
        "model.total_iter=3",
        "callbacks.iteration_checkpoint.every_n_iter=2",
        "trainer.deterministic=true",
        RECORDER_OVERRIDE,
    ]
    straight_cfg = compose("train.yaml", overrides, run_dir=tmp_path / "straight")
    _save_stand_ins(instantiate(straight_cfg.model), straight_cfg, weights, seed=20)
    _, objects = train_run(straight_cfg)
    straight = _trained_state(objects["model"])
    straight_losses = recorder_of(objects["trainer"]).losses
    del objects
    assert "l_g_pix" not in straight_losses[0] and "l_d" in straight_losses[0], "iteration 1 is D warm-up"

    for path in weights.iterdir():
        path.unlink()  # a resumed run loads its checkpoint, never the init files
    checkpoint = tmp_path / "straight" / "checkpoints" / "iter_00000002.ckpt"
    resumed_cfg = compose("train.yaml", [*overrides, f"ckpt_path={checkpoint}"], run_dir=tmp_path / "resumed")
    _, objects = train_run(resumed_cfg)
    assert objects["model"].iteration == 3
    assert recorder_of(objects["trainer"]).losses == straight_losses[2:]
    resumed = _trained_state(objects["model"])
    for key, value in straight.items():
        assert torch.equal(resumed[key], value), key


@pytest.mark.slow
def test_v14_finetune_at_full_size_loads_trains_and_exports(tmp_path: Path, compose, monkeypatch) -> None:
    """`experiment=gfpgan_v1.4_finetune` on stand-ins of the release files (the full 512 px channel-multiplier-2
    generator and the v1 discriminators; batch 1, CPU, the sample faces; no identity or perceptual networks, to
    keep it cheap): every network starts from its file, trains 2 iterations (the first is the D warm-up), and its
    export loads in build_generator and in the official GFPGANer (strictly, as the official class) with the same
    weights. No checkpoints are written (they are GBs at this size; resume is checked above with tiny networks):
    the export is the module's own `export_official`, the function the checkpoint callback writes."""
    from helpers.reference import import_reference

    from facerevive.cli.train import run as train_run
    from facerevive.weights import build_generator

    weights = tmp_path / "weights"
    weights.mkdir()
    stand_ins = _release_stand_ins(weights)
    overrides = [
        *V14_FINETUNE,
        f"paths.pretrained_dir={weights}",
        "model.total_iter=2",
        "~callbacks.iteration_checkpoint",
    ]
    _, objects = train_run(compose("train.yaml", overrides, run_dir=tmp_path / "run"))
    model = objects["model"]
    assert model.iteration == 2
    trained = _trained_state(model)
    # Started from the files: 1 small G step (lr 1e-4) and 2 EMA updates away from the stand-in.
    for network in ("net_g", "net_g_ema", *D_FILES):
        start = stand_ins["net_g" if network == "net_g_ema" else network].state_dict()
        drift = max((trained[f"{network}.{k}"] - v).abs().max().item() for k, v in start.items())
        assert drift < 2e-3, f"{network} is {drift} away from its file: it did not start from it"
    del stand_ins, trained
    for path in weights.iterdir():
        path.unlink()
    export = atomic_torch_save(model.export_official(), tmp_path / "net_g_latest.pth")
    expected = {k: v.clone() for k, v in model.net_g_ema.state_dict().items()}
    del objects, model

    ours = build_generator(export)
    for key, value in ours.state_dict().items():
        assert torch.equal(expected[key], value), key
    helper_module = import_reference("facexlib.utils.face_restoration_helper")
    monkeypatch.setattr(helper_module, "init_detection_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(helper_module, "init_parsing_model", lambda *args, **kwargs: None)
    utils = import_reference("gfpgan.utils")
    official = utils.GFPGANer(str(export), upscale=1, arch="clean", channel_multiplier=2, device=torch.device("cpu"))
    official_state = official.gfpgan.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.equal(official_state[key], value), key


# ---------------------------------------------------------------------------- Clean -> bilinear converter
@pytest.mark.parametrize(
    "overrides",
    [{"different_w": False}, {"channel_multiplier": 2, "input_is_latent": True, "num_mlp": 8}],
    ids=["style-mlp", "release-layout"],
)
def test_clean_to_bilinear_round_trip_gives_the_same_outputs(overrides: dict) -> None:
    """The converted GFPGANBilinear (ours and the official class) restores what the Clean network restores,
    U-Net pyramid included; converting back gives the Clean weights."""
    from helpers.reference import import_reference

    from facerevive.weights.convert import bilinear_config, bilinear_to_clean, clean_to_bilinear

    clean = randomised(tiny_clean(**overrides), seed=5).eval()
    config = bilinear_config(tiny_net_g_config(**overrides))
    state = clean_to_bilinear(clean.state_dict(), config["lr_mlp"])
    ours = generator_from_config(config).eval()
    ours.load_state_dict(state, strict=True)
    official_class = import_reference("gfpgan.archs.gfpgan_bilinear_arch").GFPGANBilinear
    official = official_class(**{k: v for k, v in config.items() if k != "_target_"}).eval()
    official.load_state_dict(state, strict=True)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected, expected_rgbs = clean(x, randomize_noise=False)
        for net in (ours, official):
            restored, rgbs = net(x, randomize_noise=False)
            torch.testing.assert_close(restored, expected, rtol=1e-5, atol=1e-6)
            for rgb, expected_rgb in zip(rgbs, expected_rgbs, strict=True):
                torch.testing.assert_close(rgb, expected_rgb, rtol=1e-5, atol=1e-6)
    back = bilinear_to_clean(state, clean.state_dict(), config["lr_mlp"])
    torch.testing.assert_close(back, clean.state_dict(), rtol=1e-6, atol=1e-7)


def test_convert_command_writes_a_bilinear_file(tmp_path: Path) -> None:
    """`python -m facerevive.weights.convert`: a Clean export becomes a bilinear file build_generator loads."""
    from facerevive.weights import build_generator
    from facerevive.weights.convert import main

    clean = randomised(tiny_clean(different_w=False), seed=6).eval()
    source = atomic_torch_save(
        {"params_ema": clean.state_dict(), "net_g_config": tiny_net_g_config(different_w=False)}, tmp_path / "c.pth"
    )
    assert main([str(source), str(tmp_path / "b.pth")]) == 0
    bilinear = build_generator(tmp_path / "b.pth")
    assert type(bilinear).__name__ == "GFPGANBilinear"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(
            bilinear(x, randomize_noise=False)[0], clean(x, randomize_noise=False)[0], rtol=1e-5, atol=1e-6
        )
    discriminator = atomic_torch_save({"params": FacialComponentDiscriminator().state_dict()}, tmp_path / "d.pth")
    assert main([str(discriminator), str(tmp_path / "x.pth")]) == 1
