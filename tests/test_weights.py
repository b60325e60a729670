"""Checkpoint loading, generator building and `make weights` (offline behaviour, checksums, atomic writes)."""

from __future__ import annotations

import hashlib
import logging
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from facerevive.archs import GFPGANv1Clean, ResNetArcFace
from facerevive.weights import (
    OFFICIAL_MODELS,
    CheckpointError,
    build_generator,
    generator_from_config,
    load_checkpoint,
    pretrained_dir,
    registry,
    set_pretrained_dir,
)
from facerevive.weights import download as dl
from facerevive.weights.registry import WEIGHT_FILES, WeightFile

pytestmark = pytest.mark.unit

SMALL = {
    "out_size": 32,
    "num_style_feat": 32,
    "narrow": 0.25,
    "input_is_latent": True,
    "different_w": True,
    "sft_half": True,
}


@pytest.fixture
def weights_dir(tmp_path):
    """tmp_path as the weights folder of the Python API, reset afterwards."""
    set_pretrained_dir(tmp_path)
    yield tmp_path
    set_pretrained_dir(None)


def small_net() -> GFPGANv1Clean:
    return GFPGANv1Clean(**SMALL)


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_official_format_prefers_params_ema(tmp_path):
    ema, live = small_net(), small_net()
    path = tmp_path / "official.pth"
    torch.save({"params": live.state_dict(), "params_ema": ema.state_dict()}, path)
    _assert_same_weights(load_checkpoint(small_net(), path), ema)
    _assert_same_weights(load_checkpoint(small_net(), path, key="params"), live)


def test_params_only_file_falls_back_to_params(tmp_path):
    live = small_net()
    path = tmp_path / "params_only.pth"
    torch.save({"params": live.state_dict()}, path)
    _assert_same_weights(load_checkpoint(small_net(), path), live)


def test_lightning_checkpoint_and_ddp_prefix(tmp_path):
    ema, live = small_net(), small_net()
    state = {f"net_g_ema.{k}": v for k, v in ema.state_dict().items()}
    state.update({f"net_g.module.{k}": v for k, v in live.state_dict().items()})
    state["net_d.final_linear.0.weight"] = torch.zeros(1)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": state, "pytorch-lightning_version": "2.6.6", "epoch": 3}, path)
    _assert_same_weights(load_checkpoint(small_net(), path), ema)
    _assert_same_weights(load_checkpoint(small_net(), path, key="params"), live)
    with pytest.raises(CheckpointError, match=r"no weights under 'net_x\.'"):
        load_checkpoint(small_net(), path, key="net_x")


def test_bare_state_dict(tmp_path):
    net = ResNetArcFace("IRBlock", [2, 2, 2, 2], use_se=False)
    path = tmp_path / "arcface.pth"
    torch.save(net.state_dict(), path)
    _assert_same_weights(load_checkpoint(ResNetArcFace("IRBlock", [2, 2, 2, 2], use_se=False), path), net)


def test_missing_keys_are_listed_and_nothing_is_loaded(tmp_path):
    source = small_net()
    state = source.state_dict()
    dropped = [k for k in state if k.startswith("condition_scale")]
    for key in dropped:
        del state[key]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "half.pth"
    torch.save({"params_ema": state}, path)
    target = small_net()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target, path)
    message = str(info.value)
    assert f"missing keys ({len(dropped)})" in message and "condition_scale.0.0.weight" in message
    assert "unexpected keys (1): extra.weight" in message
    assert str(path) in message
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items()), "a failed load changed the net"


def test_non_strict_loads_matching_keys_and_warns(tmp_path, caplog):
    source = small_net()
    state = source.state_dict()
    del state["final_linear.bias"]
    path = tmp_path / "partial.pth"
    torch.save({"params_ema": state}, path)
    with caplog.at_level(logging.WARNING):
        target = load_checkpoint(small_net(), path, strict=False)
    assert "missing keys (1): final_linear.bias" in caplog.text
    assert torch.equal(target.final_linear.weight, source.final_linear.weight)


def test_shape_mismatch_always_raises(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save({"params_ema": GFPGANv1Clean(**{**SMALL, "narrow": 0.5}).state_dict()}, path)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_checkpoint(small_net(), path, strict=False)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="make weights"):
        load_checkpoint(small_net(), tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pth"):
        load_checkpoint(small_net(), bad)


def test_build_generator_from_export_and_random(tmp_path):
    net = small_net()
    config = {"_target_": "facerevive.archs.GFPGANv1Clean", **SMALL}
    path = tmp_path / "export.pth"
    torch.save({"params": small_net().state_dict(), "params_ema": net.state_dict(), "net_g_config": config}, path)
    built = build_generator(path)
    _assert_same_weights(built, net)
    assert not built.training
    random_net = build_generator("random:gfpgan_v1.4", overrides={**SMALL, "channel_multiplier": 1})
    assert isinstance(random_net, GFPGANv1Clean)


def test_build_generator_errors(tmp_path, weights_dir):
    with pytest.raises(FileNotFoundError, match=r"GFPGANv1\.4\.pth is missing .*make weights"):
        build_generator("v1.4")
    path = tmp_path / "anonymous.pth"
    torch.save({"params_ema": small_net().state_dict()}, path)
    with pytest.raises(CheckpointError, match="net_g_config"):
        build_generator(path)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_generator("random:gfpgan_v9")


def test_official_file_name_is_recognised(tmp_path, monkeypatch):
    """A release file passed by path under its original name builds the GFPGANer configuration."""
    import facerevive.weights.build as build

    small_config = {"_target_": "facerevive.archs.GFPGANv1Clean", **SMALL, "channel_multiplier": 2}
    monkeypatch.setitem(
        build.OFFICIAL_MODELS, "gfpgan_v1.4", SimpleNamespace(weights="gfpgan_v1.4", net_g_config=small_config)
    )
    net = GFPGANv1Clean(**{**SMALL, "channel_multiplier": 2})
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    _assert_same_weights(build_generator(path), net)


def _entry(tmp_path: Path, payload: bytes, sha256: str | None, prefix: str | None = None) -> WeightFile:
    source = tmp_path / "server" / "file.bin"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(payload)
    return WeightFile("file.bin", source.as_uri(), sha256, "test file", sha256_prefix=prefix)


def test_download_verifies_and_renames_atomically(tmp_path):
    payload = b"weights" * 1000
    digest = hashlib.sha256(payload).hexdigest()
    target = tmp_path / "models" / "file.bin"
    assert dl.fetch(_entry(tmp_path, payload, digest), target) == digest
    assert target.read_bytes() == payload
    assert list(target.parent.iterdir()) == [target]


def test_download_with_wrong_checksum_leaves_nothing(tmp_path):
    target = tmp_path / "models" / "file.bin"
    with pytest.raises(dl.DownloadError, match="differs from the published"):
        dl.fetch(_entry(tmp_path, b"tampered", "0" * 64), target)
    with pytest.raises(dl.DownloadError, match="does not start with"):
        dl.fetch(_entry(tmp_path, b"tampered", None, prefix="deadbeef"), target)
    assert list(target.parent.iterdir()) == []


def test_offline_download_fails_with_one_clear_line(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    assert dl.main(["arcface", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "arcface_resnet18.pth" in err[0] and WEIGHT_FILES["arcface"].url in err[0]
    assert list(tmp_path.iterdir()) == []


def test_present_file_with_bad_checksum_is_reported(tmp_path):
    (tmp_path / WEIGHT_FILES["gfpgan_v1.4"].filename).write_bytes(b"truncated")
    with pytest.raises(dl.DownloadError, match="delete it and run `make weights`"):
        dl.ensure("gfpgan_v1.4", tmp_path)


def test_manual_file_says_where_to_get_it(tmp_path):
    with pytest.raises(dl.DownloadError, match=r"published only at https://drive\.google\.com"):
        dl.ensure("ffhq_fid_stats", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_registry_entries_are_well_formed():
    for name, entry in WEIGHT_FILES.items():
        assert entry.url.startswith("https://"), name
        assert entry.manual or entry.url.endswith(entry.filename), name
        assert entry.sha256 is None or (len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0), name
        if entry.sha256 and entry.sha256_prefix:
            assert entry.sha256.startswith(entry.sha256_prefix), name


# GFPGANer's generator for each release (gfpgan/utils.py: arch 'original' for v1, 'clean' for v1.2-v1.4).
GFPGANER_ARCHS = {
    "gfpgan_v1": ("gfpgan.archs.gfpganv1_arch", "GFPGANv1", {"channel_multiplier": 1, "fix_decoder": True}),
    "gfpgan_v1.2": ("gfpgan.archs.gfpganv1_clean_arch", "GFPGANv1Clean", {"channel_multiplier": 2}),
    "gfpgan_v1.3": ("gfpgan.archs.gfpganv1_clean_arch", "GFPGANv1Clean", {"channel_multiplier": 2}),
    "gfpgan_v1.4": ("gfpgan.archs.gfpganv1_clean_arch", "GFPGANv1Clean", {"channel_multiplier": 2}),
}


@pytest.mark.parametrize("name", list(OFFICIAL_MODELS))
def test_release_configs_build_the_official_generators(name):
    """Each release config (read from configs/model/net_g/) builds GFPGANer's network: same state-dict keys,
    shapes and parameter count (86,444,252 for v1.4)."""
    from helpers.reference import import_reference

    module, cls, extra = GFPGANER_ARCHS[name]
    kwargs = {"out_size": 512, "num_style_feat": 512, "decoder_load_path": None, "fix_decoder": False, "num_mlp": 8}
    kwargs.update(input_is_latent=True, different_w=True, narrow=1, sft_half=True, **extra)
    with torch.device("meta"):
        official = getattr(import_reference(module), cls)(**kwargs)
        ours = generator_from_config(OFFICIAL_MODELS[name].net_g_config)
    assert type(ours).__name__ == cls
    expected = {k: tuple(v.shape) for k, v in official.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in official.parameters())
    if name == "gfpgan_v1.4":
        assert count == 86_444_252


def test_release_configs_are_read_from_the_yaml_files(tmp_path, monkeypatch):
    """The registry follows configs/model/net_g/*.yaml (one source); the prior path is dropped unresolved."""
    config = OFFICIAL_MODELS["gfpgan_v1"].net_g_config
    assert config["_target_"] == "facerevive.archs.GFPGANv1" and config["decoder_load_path"] is None
    (tmp_path / "gfpgan_v1.yaml").write_text(
        "_target_: facerevive.archs.GFPGANv1\nout_size: 256\ndecoder_load_path: ${paths.pretrained_dir}/prior.pth\n"
    )
    monkeypatch.setattr(registry, "NET_G_CONFIG_DIR", tmp_path)
    registry.release_config.cache_clear()
    try:
        assert OFFICIAL_MODELS["gfpgan_v1"].net_g_config == {
            "_target_": "facerevive.archs.GFPGANv1",
            "out_size": 256,
            "decoder_load_path": None,
        }
        with pytest.raises(FileNotFoundError, match=r"gfpgan_clean_c2\.yaml is missing"):
            registry.release_config("gfpgan_clean_c2")
    finally:
        registry.release_config.cache_clear()


def test_pretrained_dir_setting_and_default(tmp_path, monkeypatch):
    """set_pretrained_dir wins; otherwise configs/paths/default.yaml decides ($FACEREVIVE_WEIGHTS_DIR first)."""
    monkeypatch.setenv("FACEREVIVE_WEIGHTS_DIR", str(tmp_path / "env"))
    assert pretrained_dir() == tmp_path / "env"
    set_pretrained_dir(tmp_path / "set")
    try:
        assert registry.weight_path("arcface") == tmp_path / "set" / "arcface_resnet18.pth"
    finally:
        set_pretrained_dir(None)
    monkeypatch.delenv("FACEREVIVE_WEIGHTS_DIR")
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path / "checkout"))
    assert pretrained_dir() == tmp_path / "checkout" / "experiments" / "pretrained_models"


def test_download_cli_honours_paths_pretrained_dir(tmp_path, capsys):
    """`make weights ARGS=paths.pretrained_dir=<dir>` checks and fills that folder, like the entry points."""
    present = tmp_path / "weights" / WEIGHT_FILES["arcface"].filename
    present.parent.mkdir()
    present.write_bytes(b"arcface")
    assert dl.main(["arcface", f"paths.pretrained_dir={present.parent}"]) == 0
    assert f"ok       {present}" in capsys.readouterr().out
    assert dl.main(["--list", f"paths.pretrained_dir={present.parent}"]) == 0
    listing = capsys.readouterr().out
    assert f"weights folder: {present.parent}" in listing and "arcface              present" in listing
    with pytest.raises(SystemExit):
        dl.main(["arcface", "path.pretrained_dir=/typo"])
    assert "bad override" in capsys.readouterr().err


def test_safetensors_export_builds_the_same_generator(tmp_path: Path) -> None:
    """An export written with save_export_safetensors ('params.'/'params_ema.' prefixes, config as JSON
    metadata) builds, loads and restores exactly like the same export as .pth."""
    import safetensors

    from facerevive.utils.files import atomic_torch_save
    from facerevive.weights import save_export_safetensors

    torch.manual_seed(0)
    source = build_generator("random:gfpgan_v1.4", overrides={"out_size": 32})
    state = source.state_dict()
    export = {"params": state, "params_ema": state, "net_g_config": source.config}
    pth = atomic_torch_save(export, tmp_path / "e.pth")
    st = save_export_safetensors(export, tmp_path / "e.safetensors")
    with safetensors.safe_open(str(st), framework="pt") as handle:
        assert "net_g_config" in (handle.metadata() or {})
        assert all(k.startswith(("params.", "params_ema.")) for k in handle.keys())  # noqa: SIM118 (not iterable)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    out_pth = build_generator(pth)(x, randomize_noise=False)[0]
    out_st = build_generator(st)(x, randomize_noise=False)[0]
    assert torch.equal(out_pth, out_st)
    net = build_generator("random:gfpgan_v1.4", overrides={"out_size": 32})
    load_checkpoint(net, st, key="params")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


def test_download_converts_a_release_to_safetensors(tmp_path: Path) -> None:
    """`--safetensors` (convert_to_safetensors): a release without a config gains the release generator's
    config in the metadata, and build_generator loads the .safetensors as it loads the .pth."""
    from facerevive.utils.files import atomic_torch_save

    torch.manual_seed(0)
    source = build_generator("random:gfpgan_v1.4", overrides={"out_size": 32})
    release = atomic_torch_save({"params_ema": source.state_dict()}, tmp_path / "release.pth")
    converted = dl.convert_to_safetensors(release, source.config)
    assert converted == tmp_path / "release.safetensors"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    expected = source(x, randomize_noise=False)[0]
    assert torch.equal(build_generator(converted)(x, randomize_noise=False)[0], expected)


def test_v1_discriminator_files_are_registered_as_drive_files():
    """The four GFPGANv1_net_d*.pth of the fine-tune experiments: only on the GFPGAN Drive, no checksum."""
    for net in ("net_d", "net_d_left_eye", "net_d_right_eye", "net_d_mouth"):
        entry = WEIGHT_FILES[f"gfpgan_v1_{net}"]
        assert entry.filename == f"GFPGANv1_{net}.pth" and entry.manual and entry.sha256 is None
        assert entry.url.startswith("https://drive.google.com/drive/folders/")


def test_bare_download_says_where_to_get_manual_files(tmp_path, monkeypatch, capsys):
    """A bare `make weights` names each missing Drive-only file with its page (not a failure), and checks
    and prints the digest of one the user has placed."""
    entries = {name: WEIGHT_FILES[name] for name in ("gfpgan_v1_net_d", "gfpgan_v1_net_d_mouth")}
    monkeypatch.setattr(dl, "WEIGHT_FILES", entries)
    placed = tmp_path / "GFPGANv1_net_d_mouth.pth"
    placed.write_bytes(b"mouth")
    assert dl.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"manual   GFPGANv1_net_d.pth: published only at {entries['gfpgan_v1_net_d'].url}" in out
    assert (
        f"ok       {placed} (no published SHA-256 to check; its SHA-256 is {hashlib.sha256(b'mouth').hexdigest()})"
        in out
    )
