"""The official release files FaceRevive can use: where they come from, their checksums, and what they build."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from facerevive.paths import CONFIG_DIR, set_config_environment

GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
FACEXLIB_RELEASES = "https://github.com/xinntao/facexlib/releases/download"
CODEFORMER_RELEASES = "https://github.com/sczhou/CodeFormer/releases/download"
RESTOREFORMER_RELEASES = "https://github.com/wzhouxiff/RestoreFormerPlusPlus/releases/download"
# The GFPGAN README's "more models (such as the discriminators)" folder (also on Tencent Weiyun:
# https://share.weiyun.com/ShYoCCoc); no release asset and no published checksum.
GFPGAN_DRIVE = "https://drive.google.com/drive/folders/17rLiFzcUMoQuhLnptDsKolegHWwJOnHu"
# The release generators are described once, as the training configs of configs/model/net_g/.
NET_G_CONFIG_DIR = CONFIG_DIR / "model" / "net_g"


@dataclass(frozen=True)
class WeightFile:
    """One downloadable file: its name on disk, address, SHA-256 and what it is for."""

    filename: str
    url: str
    # None where no checksum is published anywhere we could verify; `make weights` then prints the digest.
    sha256: str | None
    purpose: str
    # Prefix of the SHA-256 carried in the file name (torchvision / pytorch-fid convention), when there is one.
    sha256_prefix: str | None = None
    # Published only behind a web page (e.g. a Google Drive folder): `url` is that page, the user places the file.
    manual: bool = False
    # Fetched only when named (`python -m facerevive.weights.download codeformer`), not by a bare `make weights`:
    # other projects' models, under their own licences.
    on_request: bool = False


@dataclass(frozen=True)
class OfficialModel:
    """An official restoration model: its weight file and the generator config GFPGANer builds it with
    (`configs/model/net_g/<config>.yaml`, the one description of each release generator)."""

    weights: str
    config: str

    @property
    def net_g_config(self) -> dict[str, Any]:
        """The generator's `_target_` config as a plain dict (a fresh copy; `decoder_load_path` is None)."""
        return copy.deepcopy(release_config(self.config))


@cache
def release_config(name: str) -> dict[str, Any]:
    """`configs/model/net_g/<name>.yaml` resolved without its `decoder_load_path` (weights follow, and the
    prior path of the training config interpolates `paths`, which a release generator does not need)."""
    path = NET_G_CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"release generator config {path} is missing")
    node = OmegaConf.load(path)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ValueError(f"{path}: a generator config must be a mapping with a `_target_`")
    if "decoder_load_path" in node:
        del node["decoder_load_path"]
    config = OmegaConf.to_container(node, resolve=True)
    assert isinstance(config, dict)
    return {**config, "decoder_load_path": None}


WEIGHT_FILES: dict[str, WeightFile] = {
    "gfpgan_v1": WeightFile("GFPGANv1.pth", f"{GFPGAN_RELEASES}/v0.1.0/GFPGANv1.pth", None, "GFPGAN paper model"),
    "gfpgan_v1.2": WeightFile(
        "GFPGANCleanv1-NoCE-C2.pth",
        f"{GFPGAN_RELEASES}/v0.2.0/GFPGANCleanv1-NoCE-C2.pth",
        "29e25ee90c170f4231163f4c83df6b59c968b73f3ce00cb884015ae005db083c",
        "GFPGAN v1.2 (clean architecture)",
    ),
    "gfpgan_v1.3": WeightFile(
        "GFPGANv1.3.pth",
        f"{GFPGAN_RELEASES}/v1.3.0/GFPGANv1.3.pth",
        "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70",
        "GFPGAN v1.3",
    ),
    "gfpgan_v1.4": WeightFile(
        "GFPGANv1.4.pth",
        f"{GFPGAN_RELEASES}/v1.3.0/GFPGANv1.4.pth",
        "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
        "GFPGAN v1.4",
    ),
    "stylegan2_prior": WeightFile(
        "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
        f"{GFPGAN_RELEASES}/v0.1.0/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
        None,
        "StyleGAN2 facial prior for training GFPGANv1",
    ),
    **{
        f"gfpgan_v1_{net}": WeightFile(
            f"GFPGANv1_{net}.pth",
            GFPGAN_DRIVE,
            None,
            f"GFPGAN v1 {role} discriminator: starts model.init.{net} when fine-tuning",
            manual=True,
        )
        for net, role in (
            ("net_d", "global"),
            ("net_d_left_eye", "left-eye"),
            ("net_d_right_eye", "right-eye"),
            ("net_d_mouth", "mouth"),
        )
    },
    "arcface": WeightFile(
        "arcface_resnet18.pth",
        f"{GFPGAN_RELEASES}/v0.1.0/arcface_resnet18.pth",
        None,
        "ArcFace ResNet-18: identity loss and identity metrics",
    ),
    "ffhq_components": WeightFile(
        "FFHQ_eye_mouth_landmarks_512.pth",
        f"{GFPGAN_RELEASES}/v0.1.0/FFHQ_eye_mouth_landmarks_512.pth",
        None,
        "eye and mouth boxes of FFHQ at 512 for the component losses",
    ),
    "vgg19": WeightFile(
        "vgg19-dcbb9e9d.pth",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        "ImageNet VGG19 for the perceptual loss",
        sha256_prefix="dcbb9e9d",
    ),
    "fid_inception": WeightFile(
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        "TF-FID Inception-v3 for FID",
        sha256_prefix="6726825d",
    ),
    "vgg16": WeightFile(
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        None,
        "ImageNet VGG16 backbone of LPIPS-VGG (torchvision IMAGENET1K_V1)",
        sha256_prefix="397923af",
    ),
    "alexnet": WeightFile(
        "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        None,
        "ImageNet AlexNet backbone of LPIPS-Alex (torchvision IMAGENET1K_V1)",
        sha256_prefix="7be5be79",
    ),
    "ffhq_fid_stats": WeightFile(
        "inception_FFHQ_512-f7b384ab.pth",
        "https://drive.google.com/drive/folders/1k3RCSliF6PsujCMIdCD1hNM63EozlDIZ",
        None,
        "FFHQ 512 Inception statistics (50,000 images) for the GFPGAN-lineage FID (BasicSR docs/Metrics.md)",
        manual=True,
    ),
    "retinaface_resnet50": WeightFile(
        "detection_Resnet50_Final.pth",
        f"{FACEXLIB_RELEASES}/v0.1.0/detection_Resnet50_Final.pth",
        "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d",
        "facexlib RetinaFace-R50 face detector",
    ),
    "parsenet": WeightFile(
        "parsing_parsenet.pth",
        f"{FACEXLIB_RELEASES}/v0.2.2/parsing_parsenet.pth",
        "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2",
        "facexlib face parsing for the paste-back mask",
    ),
    "awing": WeightFile(
        "alignment_WFLW_4HG.pth",
        f"{FACEXLIB_RELEASES}/v0.1.0/alignment_WFLW_4HG.pth",
        "bbfd137307a4c7debd5c283b9b0ce539466cee417ac0a155e184d857f9f2899c",
        "facexlib AWing 98-point landmarks for LMD",
    ),
    "retinaface_mobilenet": WeightFile(
        "detection_mobilenet0.25_Final.pth",
        f"{FACEXLIB_RELEASES}/v0.1.0/detection_mobilenet0.25_Final.pth",
        "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
        "facexlib RetinaFace-mobilenet0.25 face detector",
    ),
    "bisenet": WeightFile(
        "parsing_bisenet.pth",
        f"{FACEXLIB_RELEASES}/v0.2.0/parsing_bisenet.pth",
        "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567",
        "facexlib BiSeNet face parsing",
    ),
    "realesrgan_x2plus": WeightFile(
        "RealESRGAN_x2plus.pth",
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
        "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        "Real-ESRGAN x2 background upsampler",
    ),
    # Other projects' face networks, run through spandrel (weights.foreign); no checksum is published for any.
    "codeformer": WeightFile(
        "codeformer.pth",
        f"{CODEFORMER_RELEASES}/v0.1.0/codeformer.pth",
        None,
        "CodeFormer (NeurIPS 2022; NTU S-Lab License 1.0, non-commercial)",
        on_request=True,
    ),
    "restoreformer": WeightFile(
        "RestoreFormer.ckpt",
        f"{RESTOREFORMER_RELEASES}/v1.0.0/RestoreFormer.ckpt",
        None,
        "RestoreFormer (CVPR 2022), RestoreFormerPlusPlus release (Apache-2.0)",
        on_request=True,
    ),
    "restoreformer++": WeightFile(
        "RestoreFormer++.ckpt",
        f"{RESTOREFORMER_RELEASES}/v1.0.0/RestoreFormer++.ckpt",
        None,
        "RestoreFormer++ (TPAMI 2023; Apache-2.0)",
        on_request=True,
    ),
    "restoreformer_gfpgan": WeightFile(
        "RestoreFormer.pth",
        f"{GFPGAN_RELEASES}/v1.3.4/RestoreFormer.pth",
        None,
        "RestoreFormer as released with GFPGAN v1.3.4 (the file GFPGANer and spandrel's tests load)",
        on_request=True,
    ),
}

# The release name -> its weight file and its generator config (GFPGANer: v1 'original', v1.2-v1.4 'clean').
OFFICIAL_MODELS: dict[str, OfficialModel] = {
    "gfpgan_v1": OfficialModel("gfpgan_v1", "gfpgan_v1"),
    "gfpgan_v1.2": OfficialModel("gfpgan_v1.2", "gfpgan_clean_c2"),
    "gfpgan_v1.3": OfficialModel("gfpgan_v1.3", "gfpgan_clean_c2"),
    "gfpgan_v1.4": OfficialModel("gfpgan_v1.4", "gfpgan_clean_c2"),
}


# Set by the entry points from `paths.pretrained_dir` (and by `set_pretrained_dir` in the Python API).
_configured_dir: Path | None = None


def set_pretrained_dir(path: str | Path | None) -> None:
    """Make `path` the weights folder for everything in this process (None: back to the default)."""
    global _configured_dir
    _configured_dir = None if path is None else Path(path)


def default_pretrained_dir() -> Path:
    """`paths.pretrained_dir` of configs/paths/default.yaml ($FACEREVIVE_WEIGHTS_DIR, else the checkout's
    experiments/pretrained_models): the default has its one home in that file."""
    set_config_environment()
    paths = OmegaConf.load(CONFIG_DIR / "paths" / "default.yaml")
    return Path(OmegaConf.select(OmegaConf.create({"paths": paths}), "paths.pretrained_dir", throw_on_missing=True))


def pretrained_dir() -> Path:
    """The weights folder: `set_pretrained_dir`'s (the entry points pass `paths.pretrained_dir`), else the
    default of configs/paths/default.yaml."""
    if _configured_dir is not None:
        return _configured_dir
    return default_pretrained_dir()


def weight_path(name: str) -> Path:
    """Local path of a registered weight file (it may not exist yet)."""
    if name not in WEIGHT_FILES:
        raise KeyError(f"unknown weight file {name!r}; known: {sorted(WEIGHT_FILES)}")
    return pretrained_dir() / WEIGHT_FILES[name].filename
