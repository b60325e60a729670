"""The whole FaceRevive FFHQ pipeline against GFPGAN's FFHQDegradationDataset, sample for sample.

Both are configured from the same official options: FaceRevive's pipeline through the one adapter,
`facerevive.data.official.degradation_from_options`. How both get the same random draws: record and replay.
FaceRevive's dataset runs first with a recording pipeline (`record=True`) and reports every value it drew (flip,
kernel type, sigmas, angle, scale, noise sigma and field, JPEG draw, the apply-or-not coins of the colour steps,
colour offsets, jitter order and factors). The official dataset then runs with its random sources replaced by
scripted ones that hand back exactly those values, in the order the official code asks for them: Python's
`random` in basicsr.data.transforms (flip) and basicsr.data.degradations (kernel type), numpy's
`np.random.uniform` / `randn` in both official modules, and `torch.randperm` / `torch.tensor(1.).uniform_` in the
dataset module. Each scripted `uniform(low, high)` checks that the replayed value lies in the requested range, so
a draw-order mismatch fails loudly instead of passing silently. Seeding numpy identically cannot work: FaceRevive
draws from a `numpy.random.Generator` shared by albumentations transforms, the official code from the legacy
global state, Python `random` and torch.

The blur runs with `blur_tolerance=0` in the adapter (the dense filter, bit-identical to the official
`cv2.filter2D`) so the comparison isolates the pipeline; the fast blur's own bound is tested in
test_data_degradations_parity.py.
"""

from __future__ import annotations

import collections
import types

import numpy as np
import pytest
import torch
from helpers.reference import import_reference, official_ffhq_options
from test_data_support import ONE_LEVEL, record_abs_error, write_box_file, write_faces

from facerevive.data import FFHQDegradationDataset, degradation_from_options

pytestmark = pytest.mark.parity

NO = 0.999999  # a replayed coin that is not below any probability < 1
YES = 0.0  # a replayed coin that is below any probability > 0


class _Script:
    """A queue of replayed values; `uniform` checks each value against the range the caller asks for."""

    def __init__(self) -> None:
        self.values: collections.deque = collections.deque()

    def push(self, *values) -> None:
        self.values.extend(values)

    def pop(self, what: str):
        assert self.values, f"the official code asked for an extra draw ({what})"
        return self.values.popleft()

    def uniform(self, low=0.0, high=1.0, size=None):
        value = self.pop(f"uniform({low}, {high}, size={size})")
        arr = np.asarray(value, dtype=np.float64)
        assert arr.shape == (() if size is None else (size,)), f"replayed {value} for size {size}"
        assert np.all(arr >= low) and np.all(arr <= high), f"replayed {value} outside [{low}, {high}]"
        return float(arr) if size is None else arr

    def randn(self, *shape):
        value = np.asarray(self.pop(f"randn{shape}"), dtype=np.float64)
        assert value.shape == shape, f"replayed normals {value.shape} for randn{shape}"
        return value


def _numpy_proxy(script: _Script):
    random_ns = types.SimpleNamespace(uniform=script.uniform, randn=script.randn)

    class NumpyProxy:
        def __getattr__(self, name):
            return random_ns if name == "random" else getattr(np, name)

    return NumpyProxy()


def _torch_proxy(script: _Script):
    class Factor:
        def uniform_(self, low, high):
            self.value = script.uniform(low, high)
            return self

        def item(self):
            return self.value

    class TorchProxy:
        def __getattr__(self, name):
            return getattr(torch, name)

        @staticmethod
        def randperm(n):
            return torch.tensor(script.pop(f"randperm({n})"))

        @staticmethod
        def tensor(value):
            return Factor()

        @staticmethod
        def load(path):
            # The official dataset calls torch.load(path) on a box file of numpy floats, which torch >= 2.6
            # refuses under its weights_only default: allow exactly the numpy scalar types it holds.
            allowed = [np._core.multiarray.scalar, np.dtype, np.dtypes.Float64DType]
            with torch.serialization.safe_globals(allowed):
                return torch.load(path)

    return TorchProxy()


def _push_replay(script: _Script, py_script: _Script, record: dict, rgb_to_bgr: bool = True) -> None:
    """Translate one FaceRevive record into the official draw sequence."""
    py_script.push(YES if record["hflip"] else NO)
    steps = dict(record["applied"])
    blur = steps["RandomMixedGaussianBlur"]
    py_script.push(blur["kernel_type"])
    script.push(blur["sigma_x"])
    if blur["kernel_type"] == "aniso":
        script.push(blur["sigma_y"], blur["theta"])
    script.push(steps["RandomDownscale"]["scale"])
    noise = steps["RandomGaussianNoise"]
    assert not noise["gray_noise"]
    script.push(noise["sigma"], NO, noise["normals"][..., ::-1] if rgb_to_bgr else noise["normals"])
    script.push(steps["RandomJPEG"]["quality_draw"])
    if "RandomColorShift" in steps:
        script.push(YES, steps["RandomColorShift"]["offsets"][::-1].astype(np.float64))
    else:
        script.push(NO)
    script.push(YES if "RandomGrayscale" in steps else NO)
    if "RandomColorJitter" in steps:
        jitter = steps["RandomColorJitter"]
        names = ["brightness", "contrast", "saturation", "hue"]
        script.push(YES, jitter["order"], *[jitter["factors"][names[i]] for i in jitter["order"]])
    else:
        script.push(NO)


class _KernelChoices:
    """Stands in for Python's `random` in basicsr.data.degradations: `choices` returns the replayed type."""

    def __init__(self, script: _Script) -> None:
        self.script = script

    def choices(self, population, weights):
        kind = self.script.pop("kernel type")
        assert kind in population
        return [kind]


class _FlipCoin:
    def __init__(self, script: _Script) -> None:
        self.script = script

    def random(self):
        return self.script.pop("flip coin")


@pytest.fixture
def official(monkeypatch):
    """The official dataset class with its random sources scripted; yields (class, numpy script, python script)."""
    module = import_reference("gfpgan.data.ffhq_degradation_dataset")
    degradations = import_reference("basicsr.data.degradations")
    transforms = import_reference("basicsr.data.transforms")
    script, py_script = _Script(), _Script()
    monkeypatch.setattr(module, "np", _numpy_proxy(script))
    monkeypatch.setattr(degradations, "np", _numpy_proxy(script))
    monkeypatch.setattr(module, "torch", _torch_proxy(script))
    monkeypatch.setattr(degradations, "random", _KernelChoices(py_script))
    monkeypatch.setattr(transforms, "random", _FlipCoin(py_script))
    return module.FFHQDegradationDataset, script, py_script


def _compare(tmp_path, official, size, count, seed, **overrides):
    official_cls, script, py_script = official
    root = tmp_path / f"faces{size}"
    write_faces(root, count, size, start_seed=seed)
    box_path = write_box_file(tmp_path / f"boxes{size}.pth", count, size)
    options = official_ffhq_options(root, size, box_path, **overrides)
    ours = FFHQDegradationDataset(
        root,
        degradation_from_options(options, blur_tolerance=0.0, record=True),
        out_size=size,
        component_path=box_path,
        component_size=size,
    )
    ours.reseed(seed)
    reference = official_cls(options)
    # The official folder backend lists files in os.scandir order, which the filesystem decides, while its box
    # file is keyed by list position; FFHQ's LMDB meta_info is sorted. Sort, so both index the same files.
    reference.paths = sorted(reference.paths)
    seen = collections.Counter()
    for index in range(count):
        sample, record = ours.generate(index)
        _push_replay(script, py_script, record)
        expected = reference[index]
        assert not script.values and not py_script.values, "the official code left replayed draws unused"
        steps = {name for name, _ in record["applied"]}
        seen.update(steps | ({"hflip"} if record["hflip"] else set()))
        # In [-1, 1] units one 8-bit level is 2/255.
        record_abs_error(f"pipeline lq {size}px", sample["lq"].numpy(), expected["lq"].numpy(), 2 * ONE_LEVEL)
        record_abs_error(f"pipeline gt {size}px", sample["gt"].numpy(), expected["gt"].numpy(), 0.0)
        for part in ("loc_left_eye", "loc_right_eye", "loc_mouth"):
            record_abs_error(f"{part} {size}px", sample[part].numpy(), expected[part].numpy(), 0.0)
        assert sample["gt_path"] == expected["gt_path"]
    return seen


def test_pipeline_matches_official_at_128(tmp_path, official):
    """Official probabilities; every branch is forced in the next test."""
    seen = _compare(tmp_path, official, size=128, count=16, seed=0)
    assert {"hflip", "RandomMixedGaussianBlur", "RandomJPEG"} <= set(seen)


def test_pipeline_matches_official_all_branches(tmp_path, official):
    """Colour shift, gray (with GT, the no-colourisation switch) and colour jitter forced often."""
    seen = _compare(
        tmp_path,
        official,
        size=96,
        count=16,
        seed=1,
        color_jitter_prob=0.7,
        color_jitter_pt_prob=0.7,
        gray_prob=0.4,
        gt_gray=True,
    )
    assert {"RandomColorShift", "RandomGrayscale", "RandomColorJitter", "hflip"} <= set(seen)


def test_pipeline_matches_official_at_512(tmp_path, official):
    _compare(tmp_path, official, size=512, count=4, seed=2)
