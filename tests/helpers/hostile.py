"""Hostile generator configs and the files that carry them, for tests/test_hostile_files.py.

A payload is the Hydra config that, instantiated, writes a marker file (`pathlib.Path(marker).write_text(...)`):
what an attacker puts in a weights file. `hostile_configs` draws whole `net_g_config`s around it (nested
`_target_`s, Hydra's `_args_`/`_partial_`/..., unknown keys, wrong types, huge integers) together with the keys
a refusal may name; `write_config_file` puts a config in any file format FaceRevive reads. `HOSTILE_CASES`
counts every (config, format, entry point) tried; conftest prints the total at the end of the session.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st

HOSTILE_CASES: Counter[str] = Counter()
FORMATS = ("pth", "ckpt", "safetensors", "onnx")
VALID_TARGET = "facerevive.archs.GFPGANv1Clean"
HYDRA_KEYS = ("_args_", "_partial_", "_recursive_", "_convert_")
# Constructor arguments of the tiny generator with values that are fine, and the scalar ones a bad value is put in.
GOOD_VALUES: dict[str, list[Any]] = {
    "out_size": [16, 32],
    "num_style_feat": [16, 32],
    "channel_multiplier": [1, 2],
    "narrow": [0.25, 0.5],
    "num_mlp": [1, 2],
    "input_is_latent": [True, False],
    "different_w": [True, False],
    "sft_half": [True, False],
    "fix_decoder": [False],
    "decoder_load_path": [None],
}
SCALAR_KEYS = [key for key in GOOD_VALUES if key != "decoder_load_path"]
HOSTILE_TARGETS = [
    "pathlib.Path.write_text",
    "builtins.dict",
    "builtins.exec",
    "torch.hub.load",
    "os.system",
    "shutil.rmtree",
    "facerevive.archs.gfpgan_clean_arch.GFPGANv1Clean",  # a real class, but not by the name FaceRevive records
    "facerevive.archs.GFPGANv1Clean ",
    "facerevive.archs.ResNetArcFace",  # a FaceRevive network, not a generator
]


def payload(marker: Path) -> dict[str, Any]:
    """The config that writes `marker` when Hydra instantiates it (recursively, from anywhere in a config)."""
    return {
        "_target_": "pathlib.Path.write_text",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "written by a weights file"],
    }


@st.composite
def hostile_configs(draw: st.DrawFn, marker: Path) -> tuple[dict[str, Any], set[str]]:
    """(net_g_config, the keys a refusal may name): always at least one hostile entry, so it must be refused."""
    attack = payload(marker)
    config: dict[str, Any] = {}
    bad: set[str] = set()
    target = draw(st.sampled_from(["valid", "hostile", "payload", "missing"]))
    if target == "valid":
        config["_target_"] = VALID_TARGET
    elif target == "hostile":
        config["_target_"] = draw(st.sampled_from(HOSTILE_TARGETS))
    elif target == "payload":
        config["_target_"] = attack
    if target != "valid":
        bad.add("_target_")
    for key in draw(st.lists(st.sampled_from(list(GOOD_VALUES)), max_size=6, unique=True)):
        config[key] = draw(st.sampled_from(GOOD_VALUES[key]))
    wrong_values = st.sampled_from(
        [attack, [attack], [1, 2], 2**200, -(2**70), float("inf"), "64", "${oc.env:HOME}", None]
    )
    entries = st.one_of(
        st.tuples(st.sampled_from(SCALAR_KEYS), wrong_values),
        st.tuples(st.sampled_from(HYDRA_KEYS), st.sampled_from([[attack], True, "all", attack])),
        st.tuples(st.text(min_size=1, max_size=12).filter(lambda k: k not in GOOD_VALUES), wrong_values),
        st.tuples(st.sampled_from(["a", "payload", "__init__"]), st.just(attack)),
    )
    # A config without `_target_` and nothing else is an empty record (no config), not an attack: add entries.
    hostile_target = target in ("hostile", "payload")
    for key, value in draw(
        st.lists(entries, min_size=0 if hostile_target else 1, max_size=4, unique_by=lambda e: e[0])
    ):
        if key == "_target_":
            continue
        config[key] = value
        bad.add(key)
    if draw(st.booleans()):  # the hostile keys anywhere in the order, not only last
        keys = draw(st.permutations(list(config)))
        config = {key: config[key] for key in keys}
    return config, bad


def _tiny_state() -> dict[str, torch.Tensor]:
    return {"conv_body_first.weight": torch.zeros(1)}


def write_config_file(tmp_path: Path, name: str, fmt: str, config: dict[str, Any]) -> Path:
    """A file of format `fmt` ('pth', 'ckpt', 'safetensors', 'onnx') carrying `config` where FaceRevive keeps
    a generator config; the Lightning checkpoint also carries it in its hyper-parameters."""
    path = tmp_path / f"{name}.{fmt}"
    state = _tiny_state()
    if fmt == "pth":
        torch.save({"params_ema": state, "params": state, "net_g_config": config}, path)
    elif fmt == "ckpt":
        checkpoint = {
            "pytorch-lightning_version": "2.5.2",
            "state_dict": {f"net_g_ema.{k}": v for k, v in state.items()},
            "hyper_parameters": {"net_g": config},
            "net_g_config": config,
        }
        torch.save(checkpoint, path)
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({"params_ema.w": torch.zeros(1)}, str(path), metadata={"net_g_config": json.dumps(config)})
    elif fmt == "onnx":
        write_onnx(path, {"facerevive.net_g_config": json.dumps(config)})
    else:
        raise ValueError(fmt)
    return path


def export_metadata(**values: str) -> dict[str, str]:
    """The `facerevive.*` metadata of a fixed-noise 32 px export, with `values` replacing or adding keys."""
    base = {"format_version": "1", "architecture": "GFPGANv1Clean", "noise": "fixed", "out_size": "32"}
    return {f"facerevive.{key}": value for key, value in {**base, "fidelity": "1.0", **values}.items()}


def write_onnx(path: Path, metadata: dict[str, str]) -> Path:
    """A one-node ONNX model (input -> Identity -> output) whose metadata is a FaceRevive export's plus
    `metadata` (full `facerevive.*` keys)."""
    import onnx
    from onnx import TensorProto, helper

    face = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g", [face], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in {**export_metadata(), **metadata}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path
