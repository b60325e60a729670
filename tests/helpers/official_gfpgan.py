"""The official `gfpgan.models.gfpgan_model.GFPGANModel` and the matching FaceRevive set-up, built side by side.

Used by the training-parity test and by benchmarks/bench_train.py: an official option dict (train_gfpgan_v1.yml
numbers), the same set-up as a GFPGANModule config, the offline official model (random VGG19 where basicsr looks
for it), the weight copy official -> ours, synthetic batches with component boxes, and, on a GPU, the attempt
to run the official side with basicsr's compiled ops.
"""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path

import torch
from hydra.utils import instantiate

from facerevive.models import GFPGANModule
from helpers.reference import import_reference

LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}
TESTS_DIR = Path(__file__).resolve().parents[1]


def official_opt(
    out_size: int,
    narrow: float,
    components: bool,
    reg_every: int,
    remove_pyramid: int,
    num_style_feat: int = 64,
    num_gpu: int = 0,
) -> dict:
    """An official training option dict (train_gfpgan_v1.yml numbers; by default a small style width, CPU).

    The paper uses num_style_feat 512; num_gpu 1 puts the official model on the current CUDA device.
    """
    opt = {
        "num_gpu": num_gpu,
        "dist": False,
        "is_train": True,
        "rank": 0,
        "world_size": 1,
        "network_g": {
            "type": "GFPGANv1",
            "out_size": out_size,
            "num_style_feat": num_style_feat,
            "channel_multiplier": 1,
            "resample_kernel": [1, 3, 3, 1],
            "decoder_load_path": None,
            "fix_decoder": True,
            "num_mlp": 8,
            "lr_mlp": 0.01,
            "input_is_latent": True,
            "different_w": True,
            "narrow": narrow,
            "sft_half": True,
        },
        "network_d": {
            "type": "StyleGAN2Discriminator",
            "out_size": out_size,
            "channel_multiplier": 1,
            "narrow": narrow,
        },
        "network_identity": {"type": "ResNetArcFace", "block": "IRBlock", "layers": [2, 2, 2, 2], "use_se": False},
        "path": {},
        "train": {
            "optim_g": {"type": "Adam", "lr": 2e-3},
            "optim_d": {"type": "Adam", "lr": 2e-3},
            "optim_component": {"type": "Adam", "lr": 2e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [2], "gamma": 0.5},
            "total_iter": 10,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 0.1, "reduction": "mean"},
            "L1_opt": {"type": "L1Loss", "loss_weight": 1, "reduction": "mean"},
            "pyramid_loss_weight": 1,
            "remove_pyramid_loss": remove_pyramid,
            "perceptual_opt": {
                "type": "PerceptualLoss",
                "layer_weights": dict(LAYER_WEIGHTS),
                "vgg_type": "vgg19",
                "use_input_norm": True,
                "perceptual_weight": 1.0,
                "style_weight": 50,
                "range_norm": True,
                "criterion": "l1",
            },
            "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": 0.1},
            "r1_reg_weight": 10,
            "net_d_iters": 1,
            "net_d_init_iters": 0,
            "net_d_reg_every": reg_every,
            "identity_weight": 10,
        },
    }
    if components:
        for name in ("left_eye", "right_eye", "mouth"):
            opt[f"network_d_{name}"] = {"type": "FacialComponentDiscriminator"}
        opt["train"]["gan_component_opt"] = {
            "type": "GANLoss",
            "gan_type": "vanilla",
            "real_label_val": 1.0,
            "fake_label_val": 0.0,
            "loss_weight": 1,
        }
        opt["train"]["comp_style_weight"] = 200
    return opt


def our_config(opt: dict) -> dict:
    """The same training set-up as a GFPGANModule config, built the way Hydra builds configs/model."""
    g = {k: v for k, v in opt["network_g"].items() if k != "type"}
    train = opt["train"]
    config = {
        "_target_": "facerevive.models.GFPGANModule",
        "_convert_": "all",
        "net_g": {"_target_": "facerevive.archs.GFPGANv1", **g},
        "net_d": {"_target_": "facerevive.archs.StyleGAN2Discriminator", **opt["network_d"]},
        "optimizer_g": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3, "betas": [0.0, 0.99]},
        "optimizer_d": {
            "_target_": "facerevive.models.lazy_r1_adam",
            "_partial_": True,
            "lr": 2e-3,
            "betas": [0.0, 0.99],
            "reg_every": train["net_d_reg_every"],
        },
        "scheduler": {
            "_target_": "torch.optim.lr_scheduler.MultiStepLR",
            "_partial_": True,
            "milestones": train["scheduler"]["milestones"],
            "gamma": 0.5,
        },
        "net_identity": {"_target_": "facerevive.archs.ResNetArcFace", "block": "IRBlock", "layers": [2, 2, 2, 2]},
        "perceptual": {
            "_target_": "facerevive.losses.PerceptualLoss",
            "layer_weights": dict(LAYER_WEIGHTS),
            "range_norm": True,
            "perceptual_weight": 1.0,
            "style_weight": 50.0,
        },
        "loss_weights": {
            "_target_": "facerevive.models.GFPGANLossWeights",
            "pixel": 0.1,
            "pyramid": 1.0,
            "remove_pyramid_after": train["remove_pyramid_loss"],
            # The official code keeps a 1e-12 weight after the cut-off (DDP unused parameters); match it here.
            "removed_pyramid": 1e-12,
        },
        "net_d_reg_every": train["net_d_reg_every"],
        "total_iter": train["total_iter"],
        "seed": 0,
    }
    config["net_d"].pop("type")
    config["net_identity"]["use_se"] = False
    if "network_d_left_eye" in opt:
        for name in ("left_eye", "right_eye", "mouth"):
            config[f"net_d_{name}"] = {"_target_": "facerevive.archs.FacialComponentDiscriminator"}
        config["optimizer_component"] = {
            "_target_": "torch.optim.Adam",
            "_partial_": True,
            "lr": 2e-3,
            "betas": [0.9, 0.99],
        }
    return config


def build_ours(config: dict, **networks) -> GFPGANModule:
    """Instantiate `config` (recursively, as Hydra builds the model group); `networks` replace built ones."""
    return instantiate(config, **networks)


def build_official(opt: dict, workdir: Path, crop_sizes: tuple[int, int] | None = None):
    """The official model, offline: random VGG19 weights where basicsr looks for them, float Adam betas.

    The official code crops the facial components at 80 x int(out_size / 512) px (eyes) and 120 x that (mouth),
    i.e. at 0 px below 512. `crop_sizes` (eye, mouth) makes its own crop code run at those sizes there, as
    FaceRevive crops (sizes scaled linearly); at 512 and above it changes nothing.
    """
    import torchvision

    gfpgan_model = import_reference("gfpgan.models.gfpgan_model")
    import_reference("gfpgan.archs")
    vgg_path = workdir / "experiments" / "pretrained_models" / "vgg19-dcbb9e9d.pth"
    vgg_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), vgg_path)

    class FloatBetasGFPGANModel(gfpgan_model.GFPGANModel):
        def get_optimizer(self, optim_type, params, lr, **kwargs):
            if "betas" in kwargs:
                kwargs["betas"] = tuple(float(b) for b in kwargs["betas"])
            return super().get_optimizer(optim_type, params, lr, **kwargs)

        def get_roi_regions(self, eye_out_size=80, mouth_out_size=120):
            out_size = self.opt["network_g"]["out_size"]
            if crop_sizes is None or out_size >= 512:
                return super().get_roi_regions(eye_out_size, mouth_out_size)
            # Run the official crop code with its size factor at 1 and the scaled sizes.
            self.opt["network_g"]["out_size"] = 512
            try:
                return super().get_roi_regions(*crop_sizes)
            finally:
                self.opt["network_g"]["out_size"] = out_size

    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        return FloatBetasGFPGANModel(copy.deepcopy(opt))
    finally:
        os.chdir(cwd)


def try_compiled_ops(timeout_s: float = 900) -> str | None:
    """Ask basicsr to build its CUDA upfirdn2d / fused_act (BASICSR_JIT) before it is first imported here.

    The build runs in a child process first, so that a failed build leaves this process able to import the
    official code with its native ops; returns None when BASICSR_JIT is now on, else why the ops did not build.
    Call it before anything imports basicsr.
    """
    if "basicsr" in sys.modules:
        return "basicsr was imported before the compiled ops were tried"
    if os.environ.get("BASICSR_JIT") == "True":
        return None
    probe = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); from helpers.reference import import_reference; "
        "import_reference('basicsr.ops.upfirdn2d.upfirdn2d'); import_reference('basicsr.ops.fused_act.fused_act')"
    )
    env = {**os.environ, "BASICSR_JIT": "True"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"the BASICSR_JIT build took over {timeout_s:.0f} s"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"the BASICSR_JIT build failed: {lines[-1] if lines else f'exit status {done.returncode}'}"
    os.environ["BASICSR_JIT"] = "True"
    return None


def official_ops() -> dict[str, str]:
    """Which implementation the imported official code runs for each StyleGAN2 op: 'compiled' or 'native'."""
    upfirdn = importlib.import_module("basicsr.ops.upfirdn2d.upfirdn2d")
    fused = importlib.import_module("basicsr.ops.fused_act.fused_act")
    has_fused_ext = getattr(fused, "fused_act_ext", None) is not None
    fused_native = fused.FusedLeakyReLUFunction.__name__ == "ReferenceFusedLeakyReLUFunction"
    return {
        "upfirdn2d": "compiled" if getattr(upfirdn, "upfirdn2d_ext", None) is not None else "native",
        "fused_act": "compiled"
        if has_fused_ext and not fused_native
        else ("native (built, but tests/helpers/reference.py swaps in the formula)" if has_fused_ext else "native"),
    }


def copy_weights(official, ours: GFPGANModule) -> None:
    ours.net_g.load_state_dict(official.net_g.state_dict())
    ours.net_g_ema.load_state_dict(official.net_g_ema.state_dict())
    ours.net_d.load_state_dict(official.net_d.state_dict())
    ours.net_identity.load_state_dict(official.network_identity.state_dict())
    ours.perceptual.vgg.vgg_net.load_state_dict(official.cri_perceptual.vgg.vgg_net.state_dict())
    if ours.use_components:
        for name in ("left_eye", "right_eye", "mouth"):
            getattr(ours, f"net_d_{name}").load_state_dict(getattr(official, f"net_d_{name}").state_dict())


def make_batches(out_size: int, batch_size: int, iterations: int) -> list[dict]:
    generator = torch.Generator().manual_seed(1234)
    scale = out_size / 512
    batches = []
    for _ in range(iterations):
        gt = torch.rand(batch_size, 3, out_size, out_size, generator=generator) * 2 - 1
        lq = (gt + 0.3 * torch.randn(gt.shape, generator=generator)).clamp(-1, 1)
        jitter = torch.rand(batch_size, 1, generator=generator) * 8
        batches.append(
            {
                "lq": lq,
                "gt": gt,
                "loc_left_eye": (torch.tensor([[150.0, 200.0, 230.0, 280.0]]) + jitter) * scale,
                "loc_right_eye": (torch.tensor([[280.0, 200.0, 360.0, 280.0]]) + jitter) * scale,
                "loc_mouth": (torch.tensor([[196.0, 320.0, 316.0, 440.0]]) + jitter) * scale,
            }
        )
    return batches
