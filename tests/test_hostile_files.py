"""Files are data: a generator config read from any file never chooses what runs (issue 21).

Hypothesis draws `net_g_config`s around a Hydra payload that writes a marker file when instantiated (nested
`_target_`s, `_args_`/`_partial_`/`_recursive_`/`_convert_`, unknown keys, wrong types, huge integers), writes
each in every format FaceRevive reads (.pth, Lightning .ckpt, .safetensors metadata, ONNX metadata) and hands it
to every entry point (build_generator, load_checkpoint, model.init.* (decoder included), `restore.py weights=`,
`evaluate.py ours:`, facerevive-export, facerevive.Restorer). The marker never appears, and the refusal is one
line naming the file and a key that is really wrong. The number of cases tried is printed at the end of the
session (conftest). Before the fix the payload wrote the marker through build_generator.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from helpers.configs import tiny_net_g_config
from helpers.hostile import (
    FORMATS,
    HOSTILE_CASES,
    export_metadata,
    hostile_configs,
    payload,
    write_config_file,
    write_onnx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facerevive.weights import build_generator, generator_from_config, load_checkpoint
from facerevive.weights.checkpoint import CheckpointError
from facerevive.weights.generator_schema import (
    ARGUMENTS,
    GENERATORS,
    GeneratorConfigError,
    constructor_arguments,
)

pytestmark = pytest.mark.unit

HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ROOT = Path(__file__).resolve().parents[1]
PHOTO = sorted((ROOT / "data" / "samples").glob("*.png"))[0]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "written-by-a-file"
    yield path
    assert not path.exists(), "a config read from a file ran its payload"


def assert_refusal(message: str, path: Path, bad: set[str]) -> None:
    """One line, naming the file and one of the keys that are really wrong."""
    assert "\n" not in message, message
    assert path.name in message, message
    # A long or escaped key is shortened in the message: its quoted start must be there.
    assert any(f"key {repr(key)[:20]}" in message for key in bad), f"{message!r} names none of {sorted(bad)}"


def test_the_documented_payload_wrote_a_file_before_and_is_refused_now(tmp_path, marker):
    """The issue's reproduction: a plain-data .pth whose net_g_config writes a file when instantiated."""
    config = {"_target_": "builtins.dict", "a": payload(marker)}
    path = write_config_file(tmp_path, "export", "pth", config)
    with pytest.raises(GeneratorConfigError) as refusal:
        build_generator(path)
    assert str(refusal.value).startswith(f"{path}: net_g_config key '_target_' refused: 'builtins.dict'")
    HOSTILE_CASES["build_generator"] += 1


@HOSTILE
@given(data=st.data(), fmt=st.sampled_from(["pth", "ckpt", "safetensors"]))
def test_generated_configs_are_refused_by_every_weights_reader(tmp_path, marker, data, fmt):
    """build_generator, load_checkpoint, model.init.* (net_g, decoder) and the bilinear converter all read files
    through read_checkpoint, which checks the carried config before anyone sees it."""
    from facerevive.models.init_weights import load_network, read_decoder_state
    from facerevive.weights.convert import convert_file

    config, bad = data.draw(hostile_configs(marker))
    path = write_config_file(tmp_path, "hostile", fmt, config)
    net = generator_from_config(tiny_net_g_config())
    readers = {
        "build_generator": lambda: build_generator(path),
        "load_checkpoint": lambda: load_checkpoint(net, path),
        "model.init.net_g": lambda: load_network(net, str(path), "model.init.net_g", "net_g"),
        "model.init.decoder": lambda: read_decoder_state(str(path)),
        "weights.convert": lambda: convert_file(path, tmp_path / "converted.pth"),
    }
    for name, read in readers.items():
        with pytest.raises(GeneratorConfigError) as refusal:
            read()
        assert_refusal(str(refusal.value), path, bad)
        assert not marker.exists(), name
        HOSTILE_CASES[name] += 1


@HOSTILE
@given(data=st.data())
def test_generated_configs_in_onnx_metadata_are_refused(tmp_path, marker, data):
    from facerevive.restore.onnx_runtime import OnnxGenerator

    config, bad = data.draw(hostile_configs(marker))
    path = write_config_file(tmp_path, "hostile", "onnx", config)
    with pytest.raises(GeneratorConfigError) as refusal:
        OnnxGenerator(path)
    assert_refusal(str(refusal.value), path, bad)
    HOSTILE_CASES["OnnxGenerator"] += 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("out_size", "1073741824"),
        ("out_size", "-64"),
        ("out_size", "48"),
        ("out_size", "9" * 5000),
        ("fidelity", "nan"),
        ("fidelity", "1e400"),
        ("fidelity", "-0.5"),
        ("noise", "random"),
        ("noise_shapes", json.dumps([[1, 1, 65536, 65536]])),
        ("noise_shapes", "[" * 100_000),
        ("format_version", "2"),
        ("architecture", "x" * 10_000),
    ],
)
def test_onnx_scalar_metadata_is_range_checked_before_anything_is_allocated(tmp_path, key, value):
    """`out_size=1073741824` used to reach OpenCV's allocator; every value is now checked, naming file and key."""
    from facerevive.restore.onnx_runtime import OnnxGenerator
    from facerevive.weights.export_metadata import ExportMetadataError

    values = {key: value, **({"noise": "input"} if key == "noise_shapes" else {})}
    path = write_onnx(tmp_path / "bad.onnx", export_metadata(**values))
    with pytest.raises(ExportMetadataError) as refusal:
        OnnxGenerator(path)
    message = str(refusal.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith(f"{path}: metadata facerevive.{key}")
    HOSTILE_CASES["OnnxGenerator"] += 1


def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path):
    """An ONNX initialiser may name an external file; onnxruntime refuses paths outside the model's folder and
    FaceRevive says so naming the file (a server file never becomes weights)."""
    import onnx
    from onnx import TensorProto, helper

    from facerevive.restore.onnx_runtime import OnnxGenerator

    (tmp_path / "secret.bin").write_bytes(b"\0" * 128)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[32], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "128")):
        weight.external_data.add(key=key, value=value)
    face = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Add", ["input", "w"], ["output"])], "g", [face], [out], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in export_metadata().items():
        model.metadata_props.add(key=key, value=value)
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "ext.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match=rf"{path}: not a readable ONNX model.*escapes model directory"):
        OnnxGenerator(path)
    HOSTILE_CASES["OnnxGenerator"] += 1


@FEW
@given(data=st.data())
def test_generated_configs_are_refused_by_restore_in_every_format(tmp_path, marker, compose, caplog, data):
    """`restore.py weights=<file>` through the cli's run(cfg): exit 2, the refusal logged, no output folder."""
    from facerevive.cli.restore import run

    config, bad = data.draw(hostile_configs(marker))
    for fmt in FORMATS:
        path = write_config_file(tmp_path, "hostile", fmt, config)
        out = tmp_path / "out"
        cfg = compose("restore.yaml", [f"input={PHOTO}", f"output={out}", f"weights={path}", "device=cpu"])
        caplog.clear()
        with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
            run(cfg)
        assert exit_info.value.code == 2
        refusal = next(r.getMessage() for r in caplog.records if path.name in r.getMessage())
        assert_refusal(refusal, path, bad)
        assert not out.exists() and not marker.exists()
        HOSTILE_CASES["restore.py weights="] += 1


@FEW
@given(data=st.data())
def test_generated_configs_are_refused_by_export_and_the_python_api(tmp_path, marker, compose, capsys, data):
    """`facerevive-export weights=<file>` (exit 2, one line) and `facerevive.Restorer(<file>)` (the error)."""
    from facerevive import Restorer
    from facerevive.cli.export import run

    config, bad = data.draw(hostile_configs(marker))
    for fmt in ("pth", "ckpt", "safetensors"):
        path = write_config_file(tmp_path, "hostile", fmt, config)
        out = tmp_path / "export.onnx"
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            run(compose("export.yaml", [f"weights={path}", f"out={out}"]))
        assert exit_info.value.code == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith("export: ")
        assert_refusal(line, path, bad)
        assert not out.exists() and not marker.exists()
        HOSTILE_CASES["facerevive-export"] += 1
    for fmt in FORMATS:
        path = write_config_file(tmp_path, "hostile", fmt, config)
        with pytest.raises(GeneratorConfigError) as refusal:
            Restorer(str(path), device="cpu")
        assert_refusal(str(refusal.value), path, bad)
        assert not marker.exists()
        HOSTILE_CASES["facerevive.Restorer"] += 1


@pytest.mark.slow
@FEW
@given(data=st.data())
def test_generated_configs_are_refused_by_evaluate(tmp_path, marker, compose, data):
    """`evaluate.py methods=[ours:<file>, ...]`: each method's row says why it was not computed."""
    from facerevive.cli.evaluate import run

    config, bad = data.draw(hostile_configs(marker))
    paths = [write_config_file(tmp_path, "hostile", fmt, config) for fmt in ("pth", "ckpt", "safetensors")]
    methods = ",".join(f"ours:{path}" for path in paths)
    _, out_dir = run(compose("evaluate.yaml", [f"methods=[{methods}]", "~metrics", "+metrics={}"]))
    report = (out_dir / "metrics.md").read_text()
    for path in paths:
        refusal = next(line for line in report.splitlines() if f"{path}: net_g_config" in line)
        assert_refusal(refusal, path, bad)
        HOSTILE_CASES["evaluate.py ours:"] += 1
    assert not marker.exists()


def test_hyper_parameters_of_a_lightning_checkpoint_are_never_instantiated(tmp_path, marker):
    """A checkpoint whose net_g_config is valid but whose hyper-parameters hold the payload builds, and the
    payload stays data (FaceRevive never builds anything from hyper-parameters)."""
    config = tiny_net_g_config()
    net = generator_from_config(config)
    path = tmp_path / "last.ckpt"
    torch.save(
        {
            "pytorch-lightning_version": "2.5.2",
            "state_dict": {f"net_g_ema.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": {"net_g": payload(marker), "net_d": {"_target_": "os.system", "_args_": ["true"]}},
            "net_g_config": config,
        },
        path,
    )
    rebuilt = build_generator(path)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), net.state_dict().values()))
    HOSTILE_CASES["build_generator"] += 1


def test_every_constructor_argument_of_every_listed_generator_has_a_schema():
    for target, cls in GENERATORS.items():
        assert target == f"facerevive.archs.{cls.__name__}"
        missing = set(constructor_arguments(cls)) - set(ARGUMENTS)
        assert not missing, f"{cls.__name__}: no schema for {missing}"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"out_size": 2048}, "is not a power of two from 8 to 1024"),
        ({"out_size": 48}, "is not a power of two"),
        ({"out_size": True}, "True is not a power of two"),
        ({"narrow": 0}, "0 is not a number in [0.00390625, 1]"),
        ({"narrow": 2.0}, "2.0 is not a number in"),
        ({"channel_multiplier": 1.5}, "1.5 is not a whole number in [1, 4]"),
        ({"channel_multiplier": 10**30}, "an integer of 100 bits is not"),
        ({"num_mlp": 100}, "100 is not a whole number in [1, 16]"),
        ({"sft_half": 1}, "1 is not true or false"),
        ({"num_style_feat": [512]}, "a list of 1 is not a whole number"),
        ({"decoder_load_path": {"_target_": "x"}}, "a nested mapping is not a path string or null"),
        ({"resample_kernel": [1, 3, 3, 1]}, "not an argument of GFPGANv1Clean"),
    ],
)
def test_schema_refusals_say_what_is_allowed(tmp_path, override, reason):
    config = {**tiny_net_g_config(), **override}
    path = write_config_file(tmp_path, "odd", "pth", config)
    with pytest.raises(GeneratorConfigError) as refusal:
        build_generator(path)
    key = next(iter(override))
    assert str(refusal.value).startswith(f"{path}: net_g_config key '{key}' refused: ")
    assert reason in str(refusal.value)
    HOSTILE_CASES["build_generator"] += 1


def test_files_facerevive_writes_still_load_and_their_decoder_path_is_never_opened(tmp_path):
    """An export whose config still names a decoder file (older records did) loads; the path is not opened."""
    config = {**tiny_net_g_config(), "decoder_load_path": str(tmp_path / "never-opened.pth")}
    net = generator_from_config(tiny_net_g_config())
    path = tmp_path / "export.pth"
    torch.save({"params_ema": net.state_dict(), "net_g_config": config}, path)
    assert build_generator(path).config["decoder_load_path"] is None
    prior_config = {"_target_": "facerevive.archs.StyleGAN2GeneratorClean", "out_size": 16, "num_style_feat": 16}
    prior = generator_from_config(prior_config)
    prior_file = tmp_path / "prior.pth"
    torch.save({"params_ema": prior.state_dict(), "net_g_config": prior.config}, prior_file)
    with pytest.raises(CheckpointError, match=r"prior\.pth: .*StyleGAN2GeneratorClean, a StyleGAN2 prior"):
        build_generator(prior_file)


@pytest.mark.parametrize("name", ["/etc/hostname", "../outside.png", "faces/../../outside.png"])
def test_a_list_file_cannot_name_images_outside_its_root(tmp_path, name):
    """The lines of a data list file are names under its root, never paths to anywhere on the machine."""
    from facerevive.data.sources import ListFileSource, SourceError

    root = tmp_path / "data"
    (root / "faces").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(b"not read")
    (root / "faces" / "a.png").write_bytes(b"read")
    list_file = root / "train.txt"
    list_file.write_text(f"faces/a.png\n{name}\n")
    with pytest.raises(SourceError, match=rf"train\.txt names {name}, outside its root"):
        ListFileSource(list_file)
    list_file.write_text("faces/a.png\nfaces/./a.png\n")
    assert ListFileSource(list_file).read("faces/a.png") == b"read"
    HOSTILE_CASES["data list file"] += 1
