"""Datasets, sources, bad input, component boxes, the DataModule and the data configs (small synthetic faces)."""

from __future__ import annotations

import functools
import json
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_data_support import FIVE_POINT_TEMPLATE_512, gfpgan_v1, synthetic_face, write_box_file, write_faces

from facerevive.data import (
    DegradationPipeline,
    FaceDataModule,
    FFHQDegradationDataset,
    PairedImageDataset,
    UnpairedImageDataset,
    degradation_from_options,
    load_degradation,
)
from facerevive.data import component_boxes as cb
from facerevive.data.datamodule import SHARED_KEYS, build_datamodule
from facerevive.data.make_lmdb import make_lmdb
from facerevive.data.sampler import ResumableDataLoader, ResumableSampler, SeededDataset
from facerevive.data.sources import SourceError
from facerevive.data.synthesize_testset import synthesize

pytestmark = pytest.mark.unit

SIZE = 64


@pytest.fixture
def faces(tmp_path) -> Path:
    write_faces(tmp_path / "faces", 6, SIZE)
    return tmp_path / "faces"


def _sample(dataset: FFHQDegradationDataset, index: int, seed: int = 0) -> dict:
    dataset.reseed(seed)
    return dataset[index]


# ----------------------------------------------------------------------------------------------- sources


def test_folder_list_lmdb_and_zip_give_the_same_samples(tmp_path, faces):
    names = sorted(p.name for p in faces.iterdir())
    list_file = tmp_path / "train.txt"
    list_file.write_text("# FFHQ subset\n" + "\n".join(f"faces/{n}" for n in names) + "\n")
    lmdb_path = tmp_path / "faces.lmdb"
    assert make_lmdb(faces, lmdb_path) == len(names)
    small = tmp_path / "small.lmdb"
    make_lmdb(faces, small, size=32)
    assert (small / "meta_info.txt").read_text().splitlines()[0] == "00000.png (32,32,3) 1"
    zip_path = tmp_path / "faces.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for n in names:
            archive.write(faces / n, n)
    reference = _sample(FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE), 3)
    for root in (list_file, lmdb_path, zip_path):
        dataset = FFHQDegradationDataset(root, gfpgan_v1(), out_size=SIZE)
        assert len(dataset) == len(names)
        sample = _sample(dataset, 3)
        assert torch.equal(sample["gt"], reference["gt"]) and torch.equal(sample["lq"], reference["lq"])
        assert Path(sample["gt_path"].split("::")[-1]).stem == "00003"


def test_make_lmdb_writes_basicsr_meta_info_and_never_overwrites(tmp_path, faces):
    lmdb_path = tmp_path / "ffhq_64.lmdb"
    make_lmdb(faces, lmdb_path)
    lines = (lmdb_path / "meta_info.txt").read_text().splitlines()
    assert lines[0] == f"00000.png ({SIZE},{SIZE},3) 1"
    assert len(lines) == 6
    with pytest.raises(FileExistsError):
        make_lmdb(faces, lmdb_path)
    with pytest.raises(ValueError, match=r"\.lmdb"):
        make_lmdb(faces, tmp_path / "no_suffix")


def test_missing_and_empty_sources_fail_at_start(tmp_path):
    with pytest.raises(SourceError, match="does_not_exist"):
        FFHQDegradationDataset(tmp_path / "does_not_exist", gfpgan_v1(), out_size=SIZE)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match="contains no images"):
        FFHQDegradationDataset(tmp_path / "empty", gfpgan_v1(), out_size=SIZE)
    (tmp_path / "list.txt").write_text("missing.png\n")
    with pytest.raises(SourceError, match=r"missing\.png"):
        FFHQDegradationDataset(tmp_path / "list.txt", gfpgan_v1(), out_size=SIZE)


# ----------------------------------------------------------------------------------------------- bad input


def _write_bad_files(folder: Path) -> dict[str, str]:
    good = cv2.imencode(".png", synthetic_face(SIZE, 99))[1].tobytes()
    (folder / "b_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)) + b"IEND\xaeB`\x82")
    (folder / "b_truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "b_text.jpg").write_text("this is not an image")
    cv2.imwrite(str(folder / "b_gray.png"), synthetic_face(SIZE, 1)[:, :, 0])
    cv2.imwrite(str(folder / "b_rgba.png"), cv2.cvtColor(synthetic_face(SIZE, 2), cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "b_16bit.png"), synthetic_face(SIZE, 3).astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "b_size.png"), synthetic_face(SIZE * 2, 4))
    return {
        "b_corrupt.png": "not a decodable image",
        "b_truncated.png": "truncated PNG",
        "b_text.jpg": "not a decodable image",
        "b_gray.png": "grayscale",
        "b_rgba.png": "alpha",
        "b_16bit.png": "uint16",
        "b_size.png": "size 128x128",
    }


def test_bad_files_are_counted_and_skipped_with_one_warning_each(faces):
    expected = _write_bad_files(faces)
    dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE)
    assert len(dataset) == 6 + len(expected)
    with pytest.warns(UserWarning) as caught:
        samples = [dataset[i] for i in range(len(dataset))]
    messages = [str(w.message) for w in caught if "skipping" in str(w.message)]
    assert len(messages) == len(expected)
    for name, reason in expected.items():
        assert sum(name in m and reason in m for m in messages) == 1, (name, messages)
    assert set(dataset.bad_files) == set(expected)
    assert all(Path(s["gt_path"]).name.startswith("0") for s in samples)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [dataset[i] for i in range(len(dataset))]


def test_resize_gt_takes_square_images_of_any_size(tmp_path):
    write_faces(tmp_path / "big", 2, 96)
    cv2.imwrite(str(tmp_path / "big" / "wide.png"), np.zeros((96, 120, 3), np.uint8))
    dataset = FFHQDegradationDataset(tmp_path / "big", gfpgan_v1(), out_size=SIZE, resize_gt=True, use_hflip=False)
    sample = _sample(dataset, 0)
    expected = cv2.resize(synthetic_face(96, 0), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    expected = torch.from_numpy(expected[..., ::-1].astype(np.float32).transpose(2, 0, 1) / 255 * 2 - 1)
    assert torch.allclose(sample["gt"], expected, atol=1e-6)
    with pytest.warns(UserWarning, match="wide.png.*non-square"):
        dataset[2]


# ----------------------------------------------------------------------------------------------- boxes


def test_box_file_must_cover_every_image(tmp_path, faces):
    box_path = write_box_file(tmp_path / "boxes.pth", 5, SIZE)
    with pytest.raises(KeyError, match=r"00005\.png.*'00005' or '00000005'"):
        FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, component_path=box_path, component_size=SIZE)


def test_boxes_scale_flip_and_cache_is_never_mutated(tmp_path, faces):
    box_path = write_box_file(tmp_path / "boxes.pth", 6, 512, official_keys=False)
    dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, component_path=box_path, component_size=512)
    cached = json.dumps(dataset.boxes, sort_keys=True)
    raw = cb.load_boxes(box_path)["00002"]
    s = SIZE / 512
    plain, flipped = dataset.component_locations(2, False), dataset.component_locations(2, True)
    for name in cb.COMPONENTS:
        enlarge = 1.4 if "eye" in name else 1.0
        x, y, h = (v * s for v in raw[name])
        expected = [x - h * enlarge + 1, y - h * enlarge + 1, x + h * enlarge, y + h * enlarge]
        assert torch.allclose(plain[f"loc_{name}"], torch.tensor(expected, dtype=torch.float32))
    for name, source in (("left_eye", "right_eye"), ("right_eye", "left_eye"), ("mouth", "mouth")):
        x, y, h = (v * s for v in raw[source])
        h *= 1.4 if "eye" in name else 1.0
        mirrored = SIZE - x
        assert torch.allclose(flipped[f"loc_{name}"], torch.tensor([mirrored - h + 1, y - h + 1, mirrored + h, y + h]))
    seen_flip = set()
    for seed in range(12):
        dataset.reseed(seed)
        sample, record = dataset.generate(2)
        seen_flip.add(record["hflip"])
        expected = flipped if record["hflip"] else plain
        assert all(torch.equal(sample[k], expected[k]) for k in expected)
    assert seen_flip == {True, False}
    assert json.dumps(dataset.boxes, sort_keys=True) == cached


def test_flip_moves_image_and_boxes_together(tmp_path, faces):
    """The flipped GT is the mirror image, and its left-eye box sits on what was the right eye."""
    box_path = write_box_file(tmp_path / "boxes.pth", 6, SIZE)
    dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, component_path=box_path, component_size=SIZE)
    for seed in range(20):
        dataset.reseed(seed)
        sample, record = dataset.generate(0)
        if record["hflip"]:
            break
    assert record["hflip"]
    original = torch.from_numpy(synthetic_face(SIZE, 0)[..., ::-1].astype(np.float32).transpose(2, 0, 1) / 255 * 2 - 1)
    assert torch.allclose(sample["gt"], original.flip(-1), atol=1e-6)
    plain = dataset.component_locations(0, False)
    centre = lambda box: (box[0] + box[2]) / 2  # noqa: E731
    assert abs(centre(sample["loc_left_eye"]) - (SIZE + 1 - centre(plain["loc_right_eye"]))) < 1e-4


def test_68_point_rule():
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 400, (68, 2))
    points[36:42] = [[200, 240], [210, 236], [220, 236], [230, 240], [220, 244], [210, 244]]  # 30 x 8 px eye
    boxes = cb.boxes_from_68_points(points)
    assert boxes["left_eye"] == pytest.approx([215.0, 240.0, 16.0])  # half extent 15 -> floor 16
    mouth = points[48:68]
    half = max(np.ptp(mouth[:, 0]), np.ptp(mouth[:, 1])) / 2
    assert boxes["mouth"] == pytest.approx([*mouth.mean(axis=0), max(half, 16)])
    assert boxes["right_eye"][:2] == pytest.approx(points[42:48].mean(axis=0))


def test_five_point_rule_on_the_ffhq_template():
    """On the template the rule gives the boxes measured from the 68-point mean face (see component_boxes)."""
    boxes = cb.boxes_from_five_points(FIVE_POINT_TEMPLATE_512)
    assert boxes["left_eye"][:2] == pytest.approx(FIVE_POINT_TEMPLATE_512[0])
    assert boxes["left_eye"][2] == pytest.approx(24.2, abs=0.1)
    assert boxes["mouth"][1] == pytest.approx(379.1, abs=0.2)
    assert boxes["mouth"][2] == pytest.approx(55.4, abs=0.1)
    tiny = cb.boxes_from_five_points(FIVE_POINT_TEMPLATE_512 / 8, min_half_len=2.0)
    assert tiny["left_eye"][2] == pytest.approx(24.2 / 8, abs=0.02)
    with pytest.raises(ValueError, match="5"):
        cb.boxes_from_five_points(np.zeros((68, 2)))


def test_box_files_round_trip_and_official_format_loads(tmp_path):
    official = write_box_file(tmp_path / "official.pth", 3, 512)
    boxes = cb.load_boxes(official)
    assert set(boxes) == {"00000000", "00000001", "00000002"}
    ours = tmp_path / "ours.pth"
    cb.save_boxes(boxes, ours)
    assert cb.load_boxes(ours) == boxes
    with pytest.raises(FileExistsError):
        cb.save_boxes(boxes, ours)
    as_json = tmp_path / "ours.json"
    cb.save_boxes(boxes, as_json)
    assert json.loads(as_json.read_text())["00000001"]["mouth"] == boxes["00000001"]["mouth"]
    assert cb.load_boxes(as_json) == boxes


def test_cli_from_ffhq_json_and_from_images_without_weights(tmp_path, faces):
    rng = np.random.default_rng(1)
    landmarks = [rng.uniform(300, 700, (68, 2)) for _ in range(2)]
    meta = {
        str(i): {"image": {"file_path": f"images1024x1024/00000/{i:05d}.png", "face_landmarks": lm.tolist()}}
        for i, lm in enumerate(landmarks)
    }
    json_path = tmp_path / "ffhq-dataset-v2.json"
    json_path.write_text(json.dumps(meta))
    out = tmp_path / "FFHQ_eye_mouth_landmarks_512.pth"
    cb.main(["--ffhq-json", str(json_path), "--out", str(out)])
    boxes = cb.load_boxes(out)
    expected = cb.boxes_from_68_points(landmarks[1] * 0.5)
    assert all(boxes["00000001"][k] == pytest.approx(expected[k]) for k in cb.COMPONENTS)
    with pytest.raises(FileNotFoundError, match=r"detection_Resnet50_Final\.pth"):
        cb.main(["--images", str(faces), "--out", str(tmp_path / "b.pth"), "--weights-dir", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match=r"alignment_WFLW_4HG\.pth"):
        cb.main(["--images", str(faces), "--out", str(tmp_path / "b.pth"), "--landmarks", "68", "--weights-dir", "x"])


# ----------------------------------------------------------------------------------------------- test sets


def test_paired_and_unpaired_datasets(tmp_path):
    write_faces(tmp_path / "hq", 3, SIZE)
    write_faces(tmp_path / "lq", 3, SIZE, start_seed=10, ext=".jpg")
    paired = PairedImageDataset(tmp_path / "lq", tmp_path / "hq")
    item = paired[1]
    assert Path(item["lq_path"]).name == "00001.jpg" and Path(item["gt_path"]).name == "00001.png"
    assert item["gt"].shape == (3, SIZE, SIZE) and item["gt"].min() >= -1 and item["gt"].min() < 0
    unsigned = PairedImageDataset(tmp_path / "lq", tmp_path / "hq", signed=False)[1]
    assert torch.allclose(unsigned["gt"] * 2 - 1, item["gt"], atol=1e-6)
    assert PairedImageDataset(tmp_path / "lq", tmp_path / "hq", size=32)[0]["lq"].shape == (3, 32, 32)
    (tmp_path / "hq" / "00002.png").unlink()
    with pytest.raises(SourceError, match=r"00002\.jpg has no GT"):
        PairedImageDataset(tmp_path / "lq", tmp_path / "hq")
    unpaired = UnpairedImageDataset(tmp_path / "lq")
    assert len(unpaired) == 3 and set(unpaired[0]) == {"lq", "lq_path"}
    (tmp_path / "lq" / "00000.jpg").write_text("broken")
    with pytest.raises(ValueError, match=r"00000\.jpg"):
        unpaired[0]


def test_synthesized_test_set_is_bit_for_bit_reproducible(tmp_path):
    write_faces(tmp_path / "gt", 3, 80)
    synthesize(tmp_path / "gt", tmp_path / "a", seed=7, size=SIZE)
    synthesize(tmp_path / "gt", tmp_path / "b", seed=7, size=SIZE)
    synthesize(tmp_path / "gt", tmp_path / "c", seed=8, size=SIZE)
    for sub in ("lq", "hq"):
        files = sorted((tmp_path / "a" / sub).iterdir())
        assert len(files) == 3
        for f in files:
            assert f.read_bytes() == (tmp_path / "b" / sub / f.name).read_bytes()
    assert (tmp_path / "a" / "lq" / "00000.png").read_bytes() != (tmp_path / "c" / "lq" / "00000.png").read_bytes()
    assert len((tmp_path / "a" / "params.jsonl").read_text().splitlines()) == 3
    with pytest.raises(FileExistsError):
        synthesize(tmp_path / "gt", tmp_path / "a", seed=7, size=SIZE)
    paired = PairedImageDataset(tmp_path / "a" / "lq", tmp_path / "a" / "hq")
    assert paired[0]["lq"].shape == (3, SIZE, SIZE)


def test_synthesize_cli_presets_flags_and_overrides(tmp_path):
    """--no-color picks the no_color config, range flags set their steps, other changes are Hydra overrides."""
    from facerevive.data.synthesize_testset import main

    write_faces(tmp_path / "gt", 2, SIZE)
    out = tmp_path / "set"
    flags = ["--gt", str(tmp_path / "gt"), "--out", str(out), "--size", str(SIZE), "--no-color"]
    flags += ["--blur-sigma", "2", "3"]
    main([*flags, "data.degradation.steps.jpeg=null", "data.degradation.steps.gray.p=1"])
    for line in (out / "params.jsonl").read_text().splitlines():
        steps = dict(json.loads(line)["steps"])
        assert "RandomJPEG" not in steps and "RandomColorShift" not in steps and "RandomColorJitter" not in steps
        assert 2 <= steps["RandomMixedGaussianBlur"]["sigma_x"] <= 3 and "RandomGrayscale" in steps
    hq = cv2.imread(str(out / "hq" / "00000.png"))
    assert np.array_equal(hq[..., 0], hq[..., 1]), "no_color turns the GT gray with the LQ"
    with pytest.raises(ValueError, match="record=True"):
        synthesize(tmp_path / "gt", tmp_path / "other", size=SIZE, degradation=gfpgan_v1())


def test_make_lmdb_leaves_nothing_behind_on_failure(tmp_path, faces, monkeypatch):
    import facerevive.data.make_lmdb as module

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module, "atomic_write_text", failing)
    with pytest.raises(OSError, match="disk full"):
        make_lmdb(faces, tmp_path / "out" / "faces.lmdb")
    assert list((tmp_path / "out").iterdir()) == []


# ----------------------------------------------------------------------------------------------- DataModule


def _batches(datamodule: FaceDataModule, epoch: int = 0, count: int = 2) -> list[torch.Tensor]:
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(epoch)
    out = []
    for batch in loader:
        out.append(batch["lq"])
        if len(out) == count:
            break
    return out


def test_datamodule_data_is_a_function_of_seed_and_epoch(faces):
    """Same seed and epoch: the same batches whatever the number of workers or the global RNG; seed or epoch
    changed: other batches."""
    make = functools.partial(FFHQDegradationDataset, root=faces, degradation=gfpgan_v1(), out_size=SIZE)

    def datamodule(seed: int, workers: int) -> FaceDataModule:
        dm = FaceDataModule(
            train=make, val=make, batch_size=2, num_workers=workers, persistent_workers=False, seed=seed
        )
        dm.setup("fit")
        return dm

    torch.manual_seed(0)
    first = _batches(datamodule(0, workers=2))
    torch.manual_seed(1)
    again = _batches(datamodule(0, workers=0))
    assert first[0].shape == (2, 3, SIZE, SIZE)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], _batches(datamodule(1, workers=0))[0])
    assert not torch.equal(first[0], _batches(datamodule(0, workers=0), epoch=1)[0])
    dm = datamodule(0, workers=0)
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, torch.utils.data.DistributedSampler), "Lightning must not wrap it under DDP"
    assert loader.drop_last
    assert isinstance(dm.val_dataloader().sampler, torch.utils.data.SequentialSampler)
    assert dm.test_dataloader() == [], "an unconfigured test set gives no loader (Lightning skips it)"
    with pytest.raises(RuntimeError, match="no train dataset"):
        FaceDataModule(train=None).train_dataloader()


def test_resumable_sampler_order_ranks_and_resume():
    """The permutation and rank split equal DistributedSampler's; a resumed epoch continues at the position."""
    data = list(range(11))
    for world in (1, 2, 3):
        for rank in range(world):
            ours = ResumableSampler(data, num_replicas=world, rank=rank, seed=5)
            ours.set_epoch(2)
            reference = torch.utils.data.DistributedSampler(data, num_replicas=world, rank=rank, seed=5)
            reference.set_epoch(2)
            assert [key.index for key in ours] == list(reference)
    whole = list(ResumableSampler(data, seed=5))
    assert len({key.seed for key in whole}) == len(whole), "every sample has its own seed"
    sampler = ResumableSampler(data, seed=5)
    sampler.resume(0, 4)
    assert list(sampler) == whole[4:]
    assert list(sampler) == whole, "a resume position applies to one pass only"
    sampler.resume(0, 4)
    sampler.set_epoch(1)
    assert len(list(sampler)) == 11, "moving to another epoch cancels the resume position"
    # rank 1 of 2, resumed at global position 4: positions 5, 7, 9, 11 (padding repeats the first index)
    two = ResumableSampler(data, num_replicas=2, rank=1, seed=5)
    full = [key.index for key in two]
    two.resume(0, 4)
    assert [key.index for key in two] == full[2:]


def test_resumable_loader_state(faces, caplog):
    """The saved state names the next batch; a finished epoch is saved as the start of the next one."""
    dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE)
    done = {"batches": 1}

    def loader() -> ResumableDataLoader:
        sampler = ResumableSampler(dataset, seed=3)
        return ResumableDataLoader(
            SeededDataset(dataset), batch_size=2, sampler=sampler, batches_done=lambda: done["batches"]
        )

    straight = [batch["lq"] for batch in loader()]
    state = loader().state_dict()
    assert (state["epoch"], state["position"]) == (0, 2)
    resumed = loader()
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip([b["lq"] for b in resumed], straight[1:], strict=True))
    done["batches"] = len(straight)
    assert {k: loader().state_dict()[k] for k in ("epoch", "position")} == {"epoch": 1, "position": 0}
    grown = ResumableDataLoader(
        SeededDataset(dataset), batch_size=1, sampler=ResumableSampler(dataset, seed=3), batches_done=lambda: 0
    )
    with caplog.at_level("WARNING"):
        grown.load_state_dict(state)
    assert "batch_size" in caplog.text and "not bit-exact" in caplog.text


def test_workers_draw_different_degradations(faces):
    """Two workers on the same image must not produce the same LQ (each worker has its own stream)."""
    dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, use_hflip=False)

    class SameImage(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return dataset[0]["lq"]

    torch.manual_seed(0)
    batches = list(torch.utils.data.DataLoader(SameImage(), batch_size=1, num_workers=2))
    assert not torch.equal(batches[0], batches[1])


# ----------------------------------------------------------------------------------------------- configs


def _data_overrides(faces: Path, *extra: str) -> list[str]:
    """The paper recipe with the tiny 64 px generator: no quickstart value, data from `faces`."""
    return [
        "experiment=gfpgan_v1",
        "model/net_g=gfpgan_clean_tiny",
        f"data.root={faces}",
        "data.component_path=null",
        "data.val=null",
        *extra,
    ]


def _train_dataset(compose, faces: Path, *extra: str) -> FFHQDegradationDataset:
    cfg = compose("train", _data_overrides(faces, *extra))
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    return datamodule.datasets["train"]


def test_data_config_builds_the_degradation_pipeline_once(compose, faces, monkeypatch):
    """One build of cfg.data makes one DegradationPipeline (the train dataset's), and the module takes no shared
    value: they live in the datasets that interpolate them."""
    built = []
    original = DegradationPipeline.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(DegradationPipeline, "__init__", counting_init)
    datamodule = build_datamodule(compose("train", _data_overrides(faces)).data)
    datamodule.setup("fit")
    assert len(built) == 1 and datamodule.datasets["train"].pipeline is built[0]
    assert not set(SHARED_KEYS) & set(datamodule.hparams)


def _names(pipeline: DegradationPipeline) -> list[str]:
    return [type(step).__name__ for step in pipeline.transforms]


OFFICIAL_ORDER = [
    "RandomMixedGaussianBlur",
    "RandomDownscale",
    "RandomGaussianNoise",
    "RandomJPEG",
    "ResizeBack",
    "RandomColorShift",
    "RandomGrayscale",
    "RandomColorJitter",
    "Quantize8Bit",
]


def test_ffhq_config_is_the_official_recipe_at_the_generator_size(compose, faces):
    cfg = compose("train", _data_overrides(faces))
    assert cfg.data.out_size == cfg.model.net_g.out_size == SIZE, "data.out_size follows model.net_g.out_size"
    assert (cfg.data.batch_size, cfg.data.train.eye_enlarge_ratio, cfg.data.train.use_hflip) == (3, 1.4, True)
    dataset = _train_dataset(compose, faces)
    assert dataset.out_size == SIZE and _names(dataset.pipeline) == OFFICIAL_ORDER
    assert dataset.pipeline.steps["blur"].tolerance == 1e-4
    sample = _sample(dataset, 0)
    assert sample["lq"].shape == sample["gt"].shape == (3, SIZE, SIZE)
    for net_g in ("gfpgan_v1", "gfpgan_clean_c2"):
        cfg = compose("train", [f"model/net_g={net_g}"])
        assert cfg.data.out_size == cfg.model.net_g.out_size == 512


def test_degradation_config_and_official_options_build_the_same_steps(faces):
    """configs/data/degradation/gfpgan_v1.yaml and the adapter fed the official options agree step for step,
    number for number, and so draw the same samples: the two descriptions cannot drift apart."""
    from helpers.reference import official_ffhq_options

    config, adapted = gfpgan_v1(), degradation_from_options(official_ffhq_options(faces, SIZE))
    assert list(config.steps) == list(adapted.steps)
    assert config.quantize and adapted.quantize
    for name, step in config.steps.items():
        other = adapted.steps[name]
        assert type(step) is type(other), name
        assert step.get_transform_init_args() == other.get_transform_init_args(), name
    image = synthetic_face(SIZE, 0)[..., ::-1].astype(np.float32) / 255
    for seed in range(4):
        config.reseed(seed)
        adapted.reseed(seed)
        assert np.array_equal(config(image.copy(), image)["image"], adapted(image.copy(), image)["image"])
    with pytest.raises(KeyError, match="jpeg_range"):
        degradation_from_options({k: v for k, v in official_ffhq_options(faces).items() if k != "jpeg_range"})


def test_no_color_config_and_switching_steps_off_and_on(compose, faces):
    no_color = _train_dataset(compose, faces, "data/degradation=no_color").pipeline
    assert "RandomColorShift" not in _names(no_color) and "RandomColorJitter" not in _names(no_color)
    assert no_color.steps["gray"].apply_to_gt and no_color.steps["gray"].p == 0.01
    dataset = _train_dataset(
        compose,
        faces,
        "data.degradation.steps.jpeg=null",
        "data.degradation.steps.gray.p=0",
        "+data.degradation.steps.sharpen={_target_: albumentations.Sharpen, p: 1.0}",
    )
    names = _names(dataset.pipeline)
    assert "RandomJPEG" not in names and names[-2:] == ["Sharpen", "Quantize8Bit"]
    assert dataset.pipeline.steps["gray"].p == 0
    assert dataset[0]["lq"].shape == (3, SIZE, SIZE)
    clean = _train_dataset(compose, faces, "data/degradation=none")
    sample = _sample(clean, 2)
    assert _names(clean.pipeline) == ["Quantize8Bit"] and torch.equal(sample["lq"], sample["gt"])


def test_bad_degradation_steps_fail_with_their_name(faces):
    with pytest.raises(TypeError, match="'sharpen'"):
        DegradationPipeline({"sharpen": "albumentations.Sharpen"})
    with pytest.raises(TypeError, match=r"data\.degradation"):
        FFHQDegradationDataset(faces, {"blur": None}, out_size=SIZE)
    with pytest.raises(ValueError, match=r"no degradation config 'nope'.*gfpgan_v1"):
        load_degradation("nope")


def test_load_degradation_inside_a_hydra_app_keeps_the_app_config():
    """Entry points (evaluate's sample set) build a preset while their own Hydra is initialised."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from facerevive.paths import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        app_hydra = GlobalHydra.instance().hydra
        assert "gray" in load_degradation("no_color").steps
        assert GlobalHydra.instance().hydra is app_hydra
        assert compose("train.yaml").model.net_g.out_size == 64


def test_train_loader_partitions_the_data_across_ranks(faces):
    """Under DDP the train loader is built with the trainer's rank and world size; ranks see disjoint samples.

    Its sampler is a DistributedSampler, which is Lightning's sign that the loader is already distributed
    (`_DataConnector._requires_distributed_sampler`), so Lightning does not rebuild it.
    """
    from types import SimpleNamespace

    make = functools.partial(FFHQDegradationDataset, root=faces, degradation=gfpgan_v1(), out_size=SIZE)
    seen = []
    for rank in range(2):
        datamodule = FaceDataModule(train=make, batch_size=1, num_workers=0, drop_last=False)
        progress = SimpleNamespace(current=SimpleNamespace(processed=0))
        datamodule.trainer = SimpleNamespace(
            world_size=2, global_rank=rank, fit_loop=SimpleNamespace(epoch_progress=progress)
        )
        loader = datamodule.train_dataloader()
        assert isinstance(loader.sampler, torch.utils.data.DistributedSampler) and loader.sampler.rank == rank
        seen.append({Path(batch["gt_path"][0]).name for batch in loader})
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 6


def test_cli_from_images_runs_facexlib_detectors(tmp_path):
    """With randomly initialised detectors saved under the official weight names, the image path runs end to end.

    Random weights cannot find real landmarks, so only the plumbing is checked (loading, detection, file format).
    """
    from facexlib.alignment.awing_arch import FAN
    from facexlib.detection.retinaface import RetinaFace

    weights = tmp_path / "weights"
    weights.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(
            RetinaFace(network_name="resnet50", half=False, device="cpu").state_dict(), weights / cb.DETECTOR_WEIGHTS[5]
        )
    torch.save(
        {"state_dict": FAN(num_modules=4, num_landmarks=98, device="cpu").state_dict()},
        weights / cb.DETECTOR_WEIGHTS[68],
    )
    faces = tmp_path / "one_face"
    write_faces(faces, 1, SIZE)  # one image: the random-weight detectors take seconds per image on a CPU
    stems = {"00000"}
    for n_points in (5, 68):
        out = tmp_path / f"boxes{n_points}.pth"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cb.main(
                ["--images", str(faces), "--out", str(out), "--landmarks", str(n_points), "--weights-dir", str(weights)]
            )
        boxes = cb.load_boxes(out)
        assert set(boxes) <= stems
        assert all(entry[c][2] > 0 for entry in boxes.values() for c in cb.COMPONENTS)
    assert set(cb.load_boxes(tmp_path / "boxes68.pth")) == stems


def test_exact_box_flip_is_the_mirror_image(tmp_path, faces):
    box_path = write_box_file(tmp_path / "boxes.pth", 6, SIZE)
    official = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, component_path=box_path, component_size=SIZE)
    exact = FFHQDegradationDataset(
        faces, gfpgan_v1(), out_size=SIZE, component_path=box_path, component_size=SIZE, exact_box_flip=True
    )
    plain, mirrored, rule = (
        exact.component_locations(1, False),
        exact.component_locations(1, True),
        official.component_locations(1, True),
    )
    for name, source in (("left_eye", "right_eye"), ("right_eye", "left_eye"), ("mouth", "mouth")):
        x1, y1, x2, y2 = plain[f"loc_{source}"].tolist()
        assert torch.allclose(mirrored[f"loc_{name}"], torch.tensor([SIZE - x2, y1, SIZE - x1, y2]))
        assert torch.allclose(rule[f"loc_{name}"] - mirrored[f"loc_{name}"], torch.tensor([1.0, 0, 1, 0]), atol=1e-4)
    assert torch.equal(official.component_locations(1, False)["loc_mouth"], plain["loc_mouth"])


def test_lmdb_is_readable_by_the_official_dataset(tmp_path, faces):
    """facerevive-make-lmdb writes what GFPGAN's dataset reads with its lmdb backend (meta_info keys + PNG bytes)."""
    from helpers.reference import import_reference, official_ffhq_options

    official_cls = import_reference("gfpgan.data.ffhq_degradation_dataset").FFHQDegradationDataset
    lmdb_path = tmp_path / "ffhq.lmdb"
    make_lmdb(faces, lmdb_path)
    options = official_ffhq_options(
        lmdb_path,
        SIZE,
        io_backend={"type": "lmdb"},
        use_hflip=False,
        color_jitter_prob=None,
        color_jitter_pt_prob=None,
        gray_prob=None,
    )
    official = official_cls(options)
    expected = {index: official[index]["gt"] for index in (0, 4)}
    # py-lmdb refuses a second handle on one environment in a process: close the official reader first.
    for env in official.file_client.client._client.values():
        env.close()
    ours = FFHQDegradationDataset(lmdb_path, gfpgan_v1(), out_size=SIZE, use_hflip=False)
    assert official.paths == ours.source.keys
    for index, gt in expected.items():
        assert torch.equal(gt, _sample(ours, index)["gt"])


@pytest.mark.parametrize("kind", ["lmdb", "zip"])
def test_lmdb_and_zip_after_fork_in_workers(tmp_path, faces, kind):
    """The main process reads first (its handle is open), then forked workers read: same bytes, no shared handle."""
    if kind == "lmdb":
        root = tmp_path / "faces.lmdb"
        make_lmdb(faces, root)
    else:
        root = tmp_path / "faces.zip"
        with zipfile.ZipFile(root, "w") as archive:
            for path in sorted(faces.iterdir()):
                archive.write(path, path.name)
    dataset = FFHQDegradationDataset(root, gfpgan_v1(), out_size=SIZE)
    expected = [dataset.source.read(key) for key in dataset.source.keys]
    loader = torch.utils.data.DataLoader(
        list(range(len(expected))) * 3,
        batch_size=None,
        num_workers=2,
        collate_fn=lambda i: dataset.source.read(dataset.source.keys[i]),
    )
    assert list(loader) == expected * 3


def test_check_images_reports_bad_files_at_start(faces):
    expected = _write_bad_files(faces)
    with pytest.warns(UserWarning) as caught:
        dataset = FFHQDegradationDataset(faces, gfpgan_v1(), out_size=SIZE, check_images=True)
    assert set(dataset.bad_files) == set(expected)
    assert sum("skipping" in str(w.message) for w in caught) == len(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [dataset[i] for i in range(len(dataset))]
