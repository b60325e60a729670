"""StyleGAN2 prior training end to end on tiny settings: exact resume, the export as a GFPGAN decoder, sample
grids and FID (or the "not computed" line), every prior experiment composing and running one iteration, and
`experiment=prior_quickstart` as `python train.py` runs it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.recorders import RECORDER_OVERRIDE, recorder_of
from helpers.reference import import_reference
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from test_data_support import write_faces
from test_gfpgan_module_parity import run_ours
from test_stylegan2_module_parity import make_batches, official_opt, our_config
from test_train import compose_cfg

from facerevive.archs import StyleGAN2Discriminator, StyleGAN2Generator
from facerevive.callbacks import PriorSamplesCallback
from facerevive.callbacks.image_grid import LABEL_HEIGHT
from facerevive.callbacks.prior_samples import psi_label
from facerevive.cli.train import run as train_run
from facerevive.data.make_lmdb import make_lmdb
from facerevive.data.prior_dataset import FaceImageDataset
from facerevive.metrics.fid import FIDStats, random_inception_trunk
from facerevive.models import StyleGAN2Module
from facerevive.models.init_weights import load_network
from facerevive.paths import CONFIG_DIR, PROJECT_ROOT

pytestmark = pytest.mark.e2e

PRIOR_EXPERIMENTS = sorted(
    p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml") if p.stem.startswith(("stylegan2_", "prior_"))
)
FLAVOURS = {"equalized": "facerevive.archs.GFPGANv1", "clean": "facerevive.archs.GFPGANv1Clean"}
# A 32 px prior of narrow width on the four sample faces (batch 4), no FID; checkpoints as the test asks.
TINY = [
    "model.net_g.out_size=32",
    "model.net_g.num_style_feat=32",
    "model.net_g.num_mlp=2",
    "model.net_g.narrow=0.0625",
    f"data.root={PROJECT_ROOT}/data/samples",
    "data.train.resize_gt=true",
    "data.batch_size=4",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.pin_memory=false",
    "trainer=cpu",
    "trainer.devices=1",
    "trainer.limit_val_batches=0",
    "trainer.val_check_interval=null",
    "logger=csv",
    "callbacks.prior_samples.fid_every_n_iter=null",
    "callbacks.prior_samples.mean_latent_samples=64",
]


def tiny_run(tmp_path: Path, overrides: list[str], run_dir: Path | None = None):
    cfg = compose_cfg(tmp_path, ["experiment=prior_quickstart", *TINY, *overrides], run_dir)
    _, objects = train_run(cfg)
    return cfg, objects


def test_face_dataset_flips_by_seed_reads_lmdb_and_skips_bad_files(tmp_path: Path) -> None:
    """GT-only faces in [-1, 1]: the flip follows the per-sample seed (mirror image or not), an LMDB gives the
    folder's images, and a bad file is skipped with a warning naming it."""
    faces = tmp_path / "faces"
    write_faces(faces, 3, 32)
    (faces / "broken.png").write_bytes(b"not an image")
    dataset = FaceImageDataset(faces, out_size=32)
    flips = []
    for seed in range(8):
        dataset.reseed(seed)
        first = dataset[0]
        dataset.reseed(seed)
        assert torch.equal(dataset[0]["gt"], first["gt"])
        flips.append(first["gt"])
    plain = FaceImageDataset(faces, out_size=32, use_hflip=False)[0]["gt"]
    assert set(dataset[1]) == {"gt", "gt_path"}
    assert plain.min() >= -1 and plain.max() <= 1 and plain.shape == (3, 32, 32)
    mirrored = [torch.equal(f, plain.flip(-1)) for f in flips]
    assert any(mirrored) and not all(mirrored) and all(m or torch.equal(f, plain) for m, f in zip(mirrored, flips))
    with pytest.warns(UserWarning, match="broken.png"):
        assert dataset[3]["gt_path"].endswith("00000.png")  # the next good image
    (faces / "broken.png").unlink()
    make_lmdb(faces, tmp_path / "faces.lmdb")
    lmdb = FaceImageDataset(tmp_path / "faces.lmdb", out_size=32, use_hflip=False)
    assert len(lmdb) == 3 and torch.equal(lmdb[0]["gt"], plain)


def _state(model: StyleGAN2Module, trainer) -> dict[str, torch.Tensor]:
    """Every tensor of the training state: networks (EMA, path-length mean), optimiser moments, RNG stream."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for i, optimizer in enumerate(trainer.optimizers):
        for j, moments in enumerate(optimizer.state_dict()["state"].values()):
            state.update({f"opt{i}.{j}.{k}": torch.as_tensor(v).clone() for k, v in moments.items()})
    state["rng"] = model.rng.state_dict()["cpu"].clone()
    return state


@pytest.mark.slow
def test_resume_is_exact(tmp_path: Path) -> None:
    """5 iterations straight == 3, then `ckpt_path=last` in a new run, then 2: the same batches (the four faces in
    batches of 4: one per epoch, flips differing), losses and bit-identical weights, EMA, Adam moments, path-length
    mean and RNG stream. R1 and path length every 2 iterations, so both run before and after the resume."""
    common = [
        "model.net_d_reg_every=2",
        "model.net_g_reg_every=2",
        "trainer.deterministic=true",
        "callbacks.iteration_checkpoint.every_n_iter=3",
        "callbacks.prior_samples.every_n_iter=2",
        "callbacks.prior_samples.max_images=4",
        "callbacks.prior_samples.truncation_rows=1",
        RECORDER_OVERRIDE,
    ]

    def fit(workdir: Path, extra: list[str], run_name: str):
        runs = workdir / "logs" / "prior_quickstart" / "runs"
        _, objects = tiny_run(workdir, [*common, *extra], runs / run_name)
        return objects["model"], objects["trainer"]

    straight, straight_trainer = fit(tmp_path / "straight", ["model.total_iter=5"], "run")
    _, first_trainer = fit(tmp_path / "resumed", ["model.total_iter=3"], "first")
    # Another sample seed: the resumed run must keep the checkpoint's latents, not draw new ones.
    resume = ["model.total_iter=5", "ckpt_path=last", "callbacks.prior_samples.seed=7"]
    resumed, resumed_trainer = fit(tmp_path / "resumed", resume, "second")

    whole, first, second = (recorder_of(t) for t in (straight_trainer, first_trainer, resumed_trainer))
    assert resumed.iteration == straight.iteration == 5
    assert [*first.gt_paths, *second.gt_paths] == whole.gt_paths
    assert [*first.losses, *second.losses] == whole.losses
    assert "l_g_path" in second.losses[0] and "l_d_r1" in second.losses[0]  # iteration 4
    assert float(straight.mean_path_length) > 0
    mine, reference = _state(resumed, resumed_trainer), _state(straight, straight_trainer)
    assert mine.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(mine[key], value), key
    samples = [
        next(c for c in trainer.callbacks if isinstance(c, PriorSamplesCallback))
        for trainer in (straight_trainer, resumed_trainer)
    ]
    assert samples[0].latents is not None and torch.equal(samples[1].latents, samples[0].latents)
    grids = [Path(s.saved[-1]).read_bytes() for s in samples]  # samples_00000004.png of each run
    assert samples[1].saved[-1].name == "truncation_00000004.png" and grids[0] == grids[1]


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_export_loads_strictly_as_gfpgan_decoder(tmp_path: Path, flavour: str) -> None:
    """The export's params_ema (and a Lightning checkpoint's net_g_ema) is GFPGAN's `model.init.decoder`:
    GFPGANv1 for the equalized prior, GFPGANv1Clean for the clean one, loaded strictly, weights equal; the
    official classes load the export as well."""
    cfg, objects = tiny_run(
        tmp_path,
        [
            f"model/net_g=stylegan2_{flavour}",
            "model.total_iter=1",
            "callbacks.iteration_checkpoint.every_n_iter=1",
            "callbacks.prior_samples.every_n_iter=1000",
        ],
    )
    model = objects["model"]
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    export = torch.load(checkpoints / "net_g_latest.pth", map_location="cpu", weights_only=True)
    assert set(export) >= {"params", "params_ema"} and export["net_g_config"]["_target_"].endswith(
        "StyleGAN2Generator" if flavour == "equalized" else "StyleGAN2GeneratorClean"
    )
    g = cfg.model.net_g
    for source in ("net_g_latest.pth", "last.ckpt"):
        gfpgan = instantiate(
            {
                "_target_": FLAVOURS[flavour],
                "out_size": g.out_size,
                "num_style_feat": g.num_style_feat,
                "num_mlp": g.num_mlp,
                "channel_multiplier": g.channel_multiplier,
                "narrow": g.narrow,
            }
        )
        load_network(gfpgan.stylegan_decoder, str(checkpoints / source), "model.init.decoder", "decoder")
        decoder = gfpgan.stylegan_decoder.state_dict()
        ema = model.net_g_ema.state_dict()
        assert decoder.keys() == ema.keys() == export["params_ema"].keys()
        for key, value in ema.items():
            assert torch.equal(decoder[key], value), f"{source}: {key}"
        assert not any(p.requires_grad for p in gfpgan.stylegan_decoder.parameters())  # fix_decoder default
    # The official GFPGANv1 / GFPGANv1Clean load it too (their `torch.load(path)['params_ema']`, strict).
    official_module, official_name = {
        "equalized": ("gfpgan.archs.gfpganv1_arch", "GFPGANv1"),
        "clean": ("gfpgan.archs.gfpganv1_clean_arch", "GFPGANv1Clean"),
    }[flavour]
    official_cls = getattr(import_reference(official_module), official_name)
    sizes = {k: g[k] for k in ("num_style_feat", "num_mlp", "channel_multiplier", "narrow")}
    official = official_cls(g.out_size, decoder_load_path=str(checkpoints / "net_g_latest.pth"), **sizes)
    for key, value in model.net_g_ema.state_dict().items():
        assert torch.equal(official.stylegan_decoder.state_dict()[key], value), f"official: {key}"


def test_callback_writes_grids_and_says_fid_not_computed(tmp_path: Path, monkeypatch, caplog) -> None:
    """Grids of the fixed latents and the truncation strip every iteration; FID asked every iteration without
    Inception weights or statistics: one "FID not computed: ..." line, no number."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no hub cache holding the Inception file
    with caplog.at_level(logging.WARNING, logger="facerevive.callbacks.prior_samples"):
        cfg, objects = tiny_run(
            tmp_path,
            [
                "model.total_iter=2",
                f"paths.pretrained_dir={tmp_path / 'no_weights'}",
                "callbacks.prior_samples.every_n_iter=1",
                "callbacks.prior_samples.fid_every_n_iter=1",
                "callbacks.prior_samples.max_images=4",
                "callbacks.prior_samples.truncation_rows=2",
                "callbacks.prior_samples.truncation_psis=[1.0,0.5,0.0]",
            ],
        )
    images = Path(cfg.paths.output_dir) / "images"
    for name in ("samples_00000001.png", "samples_00000002.png", "truncation_00000002.png"):
        assert (images / name).is_file(), name
    messages = [r.getMessage() for r in caplog.records if "FID" in r.getMessage()]
    assert len(messages) == 1 and messages[0].startswith("FID not computed: "), messages
    assert "pt_inception" in messages[0] and "inception_FFHQ_512" in messages[0]
    callback = next(c for c in objects["trainer"].callbacks if isinstance(c, PriorSamplesCallback))
    assert callback.last_fid is None
    from torchvision.io import read_image

    strip = read_image(str(images / "truncation_00000002.png"))
    # 2 rows x 3 psi of 32 px with 2 px padding, under a label strip naming each column's psi
    assert strip.shape[1:] == (LABEL_HEIGHT + 2 * 34 + 2, 3 * 34 + 2)
    labels = strip[:, :LABEL_HEIGHT].float().mean(0)
    assert all((labels[:, 2 + 34 * c : 34 * (c + 1)] < 128).any() for c in range(3)), "a psi column has no label"
    assert psi_label(0.5) == "psi 0.5"
    samples = read_image(str(images / "samples_00000002.png"))
    assert (samples[:, :LABEL_HEIGHT].float().mean(0) < 128).any(), "the sample grid has no label"


def test_callback_fid_is_a_number_with_weights_and_statistics(tmp_path: Path) -> None:
    """With an Inception file (random weights here) and statistics, FID is computed from the EMA generator,
    reproducibly, and leaves torch's global stream untouched."""
    inception = tmp_path / "inception.pth"
    torch.save(random_inception_trunk().state_dict(), inception)
    rng = np.random.default_rng(0)
    reference = FIDStats(rng.normal(size=2048), np.eye(2048) * 0.1)
    reference.save(tmp_path / "stats.npz")
    callback = PriorSamplesCallback(
        tmp_path / "images",
        fid_every_n_iter=1,
        fid_num_samples=4,
        fid_batch_size=2,
        fid_stats=str(tmp_path / "stats.npz"),
        fid_inception=str(inception),
    )
    net = StyleGAN2Generator(32, num_style_feat=32, num_mlp=2, channel_multiplier=1, narrow=0.0625).eval()
    before = torch.get_rng_state()
    first = callback.fid(net, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    assert first is not None and np.isfinite(first) and first > 0
    assert callback.fid(net, torch.device("cpu")) == first


@pytest.mark.parametrize("experiment", PRIOR_EXPERIMENTS)
def test_prior_experiment_runs_one_iteration(tmp_path: Path, experiment: str) -> None:
    """Each prior experiment composes (its own numbers checked) and trains one iteration with tiny widths on CPU,
    leaving a checkpoint and an export."""
    recipe = compose_cfg(tmp_path, [f"experiment={experiment}"])
    g = recipe.model.net_g
    expected = {
        "stylegan2_512_cm1": ("StyleGAN2Generator", 512, 1, 3, 4),
        "stylegan2_clean_512_cm2": ("StyleGAN2GeneratorClean", 512, 2, 3, 4),
        "stylegan2_256_cm2": ("StyleGAN2Generator", 256, 2, 3, 8),
        "stylegan2_1024_cm2": ("StyleGAN2Generator", 1024, 2, 4, 8),
        "prior_quickstart": ("StyleGAN2Generator", 64, 2, 4, 1),
    }[experiment]
    got = (g._target_.rsplit(".", 1)[1], g.out_size, g.channel_multiplier, recipe.data.batch_size)
    assert (*got, recipe.trainer.devices) == expected
    assert recipe.model.net_d.out_size == g.out_size and recipe.data.out_size == g.out_size
    assert recipe.model._target_ == "facerevive.models.StyleGAN2Module" and recipe.task_name == experiment
    tiny = [arg for arg in TINY if not arg.startswith("model.net_g.")]
    tiny += ["model.net_g.out_size=32", "model.net_g.narrow=0.03125", "model.net_g.num_style_feat=32"]
    tiny += ["model.net_g.num_mlp=2", "model.total_iter=1", "callbacks.iteration_checkpoint.every_n_iter=1"]
    tiny += ["callbacks.prior_samples.every_n_iter=1"]
    cfg = compose_cfg(tmp_path, [f"experiment={experiment}", *tiny])
    _, objects = train_run(cfg)
    assert objects["model"].iteration == 1
    out = Path(cfg.paths.output_dir)
    assert (out / "checkpoints" / "net_g_latest.pth").is_file() and (out / "images" / "samples_00000001.png").is_file()


@pytest.mark.slow
def test_prior_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    """`python train.py experiment=prior_quickstart` (its own 64 px networks and data; a tiny total_iter) in a
    subprocess: exit 0, grids, checkpoint and export, listed in the run summary."""
    from test_train import run_script

    result = run_script(
        [
            "experiment=prior_quickstart",
            "model.total_iter=4",
            "callbacks.iteration_checkpoint.every_n_iter=2",
            "callbacks.prior_samples.every_n_iter=2",
            "callbacks.prior_samples.fid_every_n_iter=null",
            "logger=csv",
            f"paths.log_dir={tmp_path}",
        ]
    )
    assert "finished 4 iterations" in result.stdout and "image grids" in result.stdout
    (run,) = (tmp_path / "prior_quickstart" / "runs").iterdir()
    for name in ("checkpoints/last.ckpt", "checkpoints/net_g_latest.pth", "images/samples_00000004.png"):
        assert (run / name).is_file(), name
    assert (run / "images" / "truncation_00000004.png").is_file()


@pytest.mark.parametrize(
    ("options", "steps", "order"),
    [({}, 1, ["d", "g"]), ({"separate_reg_steps": True}, 2, ["d", "g"]), ({"step_order": "g_first"}, 1, ["g", "d"])],
    ids=["basicsr", "separate_reg_steps", "g_first"],
)
def test_official_options(options: dict, steps: int, order: list[str]) -> None:
    """The official-code options do what they say: with `separate_reg_steps` an iteration with R1 and path length
    steps each optimiser twice (main, then regulariser), `g_first` runs the G step before the D step."""
    config = our_config(official_opt("equalized", reg_every=1, mixing_prob=0.9), "equalized", total_iter=1)
    module = instantiate({**config, **options})
    called: list[str] = []
    module._discriminator_step = _recording(module._discriminator_step, "d", called)
    module._generator_step = _recording(module._generator_step, "g", called)
    losses = run_ours(module, make_batches(1))
    assert called == order and {"l_d_r1", "l_g_path"} <= set(losses[0])
    for optimizer in module.trainer.optimizers:
        assert {int(state["step"]) for state in optimizer.state.values()} == {steps}


def _recording(method, name: str, called: list[str]):
    def step(*args):
        called.append(name)
        return method(*args)

    return step


def test_bad_module_settings_name_the_key() -> None:
    net_d = StyleGAN2Discriminator(32, channel_multiplier=1, narrow=0.0625)
    adam = torch.optim.Adam
    with pytest.raises(TypeError, match=r"model\.net_g must be a StyleGAN2 generator"):
        StyleGAN2Module(torch.nn.Linear(2, 2), net_d, adam, adam)
    net_g = StyleGAN2Generator(32, num_style_feat=32, num_mlp=2, channel_multiplier=1, narrow=0.0625)
    with pytest.raises(ValueError, match=r"model\.step_order='x': allowed values are d_first, g_first"):
        StyleGAN2Module(net_g, net_d, adam, adam, step_order="x")
    with pytest.raises(ValueError, match=r"model\.net_g_reg_every=0: must be an integer >= 1"):
        StyleGAN2Module(net_g, net_d, adam, adam, net_g_reg_every=0)


def test_equalized_lr_trains_plain_layers_as_equalized_ones() -> None:
    """`equalized_lr`: Adam on a plain layer at lr * c takes the step that Adam at lr takes on the equalized layer
    (c its run-time scale); the factors match the equalized generator's layer scales, and the clean generator's
    optimiser groups carry them."""
    from facerevive.archs import StyleGAN2GeneratorClean
    from facerevive.archs.equalized import EqualLinear
    from facerevive.models.stylegan2_module import equalized_lr_scales

    torch.manual_seed(3)
    equal = EqualLinear(16, 8, bias_init_val=0.5, lr_mul=0.01)
    plain = torch.nn.Linear(16, 8)
    with torch.no_grad():
        plain.weight.copy_(equal.weight * equal.scale)
        plain.bias.copy_(equal.bias * equal.lr_mul)
    x, target = torch.randn(4, 16), torch.randn(4, 8)
    lr = 2e-3
    optimizers = [
        torch.optim.Adam(equal.parameters(), lr=lr, betas=(0.0, 0.99)),
        torch.optim.Adam(
            [{"params": [plain.weight], "lr": lr * 0.01 / 4}, {"params": [plain.bias], "lr": lr * 0.01}],
            betas=(0.0, 0.99),
        ),
    ]
    for _ in range(3):
        for layer, optimizer in zip((equal, plain), optimizers):
            optimizer.zero_grad()
            (layer(x) - target).pow(2).mean().backward()
            optimizer.step()
    torch.testing.assert_close(plain.weight, equal.weight * equal.scale, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(plain.bias, equal.bias * equal.lr_mul, rtol=1e-5, atol=1e-7)

    sizes = {"num_style_feat": 32, "num_mlp": 2, "channel_multiplier": 1, "narrow": 0.0625}
    clean, equalized = StyleGAN2GeneratorClean(32, **sizes), StyleGAN2Generator(32, **sizes)
    scales = equalized_lr_scales(clean)
    for name, module in equalized.named_modules():
        if hasattr(module, "scale") and f"{name}.weight" in scales:
            assert scales[f"{name}.weight"] == pytest.approx(module.scale), name
    assert scales["style_mlp.1.weight"] == pytest.approx(0.01 / 32**0.5) and scales["style_mlp.1.bias"] == 0.01

    config = our_config(official_opt("clean", reg_every=4, mixing_prob=0.9), "clean", total_iter=1)
    module = instantiate({**config, "equalized_lr": True})
    run_ours(module, make_batches(1))
    names = {id(p): n for n, p in module.net_g.named_parameters()}
    (optimizer_g, _) = module.trainer.optimizers
    for group in optimizer_g.param_groups:
        for param in group["params"]:
            assert group["lr"] == pytest.approx(2e-3 * scales[names[id(param)]]), names[id(param)]
    with pytest.raises(InstantiationException, match=r"model\.equalized_lr=true is for StyleGAN2GeneratorClean"):
        instantiate({**our_config(official_opt("equalized", 4, 0.9), "equalized", 1), "equalized_lr": True})
