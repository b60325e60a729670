"""Every command the documentation shows runs here, so the docs cannot rot.

Each command of README.md, data/README.md, docs/ and the metrics README (tests/helpers/doc_commands.py) must match
exactly one rule below, which says how it is checked:
- `compose`: a `train.py` / `evaluate.py` / `restore.py` command that needs data, weights or a cluster that are not
  here: its arguments become the Hydra overrides its entry point hands Hydra and are composed by Hydra and fully
  resolved (a sweep is expanded into its jobs, each composed);
- `run`: run for real, with tiny overrides appended where the full command would take long: a `python` command
  or console script in this process as `python` would run it (`run_python`: `__main__`, argv, the activated
  environment's variables and folder), since each subprocess would import torch and FaceRevive again for a
  start-up of 5-20 s; make, the shell, and the entry points whose Hydra run sets up logging in a subprocess;
- `covered`: a command that another test already runs for real (named in COVERED, and that test must exist): its
  arguments are composed here as for `compose`, and the run is not repeated;
- `make -n`: a make target that would recurse into the test suite, install, download or benchmark: the target
  must exist and print the command it runs;
- `external`: a third-party command that fetches a data set (or a package) over the network; its reason is stated.
A command that matches no rule fails the test: add the command's check when you add it to the docs.

The README's set-up says to activate `.venv` in every new shell (`source .venv/bin/activate`), and the commands run
here as they would then: `.venv/bin` first on PATH (the checkout's `.venv` where it exists, else this interpreter's
environment), VIRTUAL_ENV set; `test_activation_comes_before_the_commands` keeps the docs saying so.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import cv2
import pytest
from helpers.configs import compose_config
from helpers.doc_commands import ROOT, DocCommand, doc_commands, doc_python_snippets
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from facerevive.cli.restore_options import command_overrides, renamed_keys
from facerevive.demo.settings import load_settings

pytestmark = pytest.mark.docs

PYTHON = str(Path(sys.executable))
SAMPLES = ROOT / "data" / "samples"
# Small enough for a CPU test, same code path: a narrow 64 px network in place of the 512 px release one.
TINY_RESTORE = [
    "weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
    "detector=tiny_retinaface",
]
TINY_TRAIN = [
    "model.total_iter=2",
    "callbacks.iteration_checkpoint.every_n_iter=2",
    "callbacks.image_grid.every_n_iter=2",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]
ENTRY_CONFIGS = {
    "train.py": ("train.yaml", list),
    "evaluate.py": ("evaluate.yaml", list),
    "restore.py": ("restore.yaml", command_overrides),
    "export.py": ("export.yaml", renamed_keys),
}
EXTERNAL = {
    "git clone https://github.com/NVlabs/ffhq-dataset": "fetches NVlabs' FFHQ scripts (network)",
    "cd data/downloads/ffhq-dataset && python download_ffhq.py": "downloads FFHQ, 89 GB (network)",
    "wget ": "downloads an official release file (network; `make weights` does the same)",
    "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu": "PyTorch's CPU build from "
    "PyTorch's own index (network; the Makefile installs from the default index)",
    "gdown ": "downloads the VQFR test sets from Google Drive (network)",
    "cd data/downloads/vqfr_testsets && for f in *.zip": "unpacks the downloaded test sets",
}
# Make targets that cannot run inside a test: the suite itself, installs, network downloads, benchmarks.
DRY_RUN_TARGETS = {
    "test",
    "test-fast",
    "test-unit",
    "lint",
    "format",
    "install",
    "weights",
    "demo",
    "bench-archs",
    "bench-data",
    "bench-eval",
    "bench-restore",
    "bench-train",
    "device-check",
    "clean",
}


ACTIVATE = "source .venv/bin/activate"


def virtual_env() -> Path:
    """The environment the README's set-up makes: the checkout's .venv (make train / make test create it), else
    the one running the tests (a shared one during development)."""
    own = ROOT / ".venv"
    return own if (own / "bin" / "python").is_file() else Path(PYTHON).parent.parent


def environment(tmp_path: Path) -> dict[str, str]:
    """The variables of a shell in which `source .venv/bin/activate` ran (VIRTUAL_ENV, its bin first on PATH)."""
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "PROJECT_ROOT": str(ROOT),
        "FACEREVIVE_WEIGHTS_DIR": str(tmp_path / "no_weights"),
        "VIRTUAL_ENV": str(virtual_env()),
        "PATH": os.pathsep.join([str(virtual_env() / "bin"), os.environ.get("PATH", "")]),
    }


def sh(command: list[str] | str, tmp_path: Path, cwd: Path = ROOT, timeout: int = 600) -> str:
    """Run `command` (a list, or a string for the shell) and require exit 0; returns its output."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(command, str),
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


def run_python(argv: list[str], tmp_path: Path, cwd: Path = ROOT) -> str:
    """`python <argv>` (`-m module ...`, `-c code` or `script.py ...`) in this process, as the interpreter runs it:
    `__main__`, sys.argv, the activated shell's variables (environment()) and folder; requires exit 0 and
    returns what it printed. A console script is its entry point's function, called the same way."""
    out = io.StringIO()
    code: object = 0
    with (
        mock.patch.dict(os.environ, environment(tmp_path)),
        mock.patch.object(sys, "argv", argv[1:] if argv[0] in ("-m", "-c") else list(argv)),
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", RuntimeWarning)  # runpy: "found in sys.modules" (it was imported before)
        try:
            if argv[0] == "-m":
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            elif argv[0] == "-c":
                sys.argv[0] = "-c"
                exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})  # the docs' own code
            elif argv[0].startswith("facerevive-"):
                (entry,) = importlib.metadata.entry_points(group="console_scripts", name=argv[0])
                entry.load()()
            else:
                runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as exit_info:
            code = exit_info.code
    assert code in (0, None), f"python {shlex.join(argv)} exited {code}:\n{out.getvalue()[-3000:]}"
    return out.getvalue()


# ------------------------------------------------------------------ checks
def compose_command(command: DocCommand, tmp_path: Path) -> None:
    """Compose (and resolve) every job of a train/evaluate/restore command as its entry point would."""
    argv = command.argv
    script = Path(argv[1]).name if argv[0] == "python" else argv[0].removeprefix("facerevive-") + ".py"
    config_name, rewrite = ENTRY_CONFIGS[script]
    args = [arg for arg in argv[2 if argv[0] == "python" else 1 :] if arg not in ("-m", "--multirun")]
    overrides = OverridesParser.create().parse_overrides(rewrite(args))
    for batch in BasicSweeper.split_arguments(overrides, None):
        for job in batch:
            cfg = compose_config(config_name, list(job), tmp_path)
            OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def dry_run_make(command: DocCommand, tmp_path: Path) -> None:
    target, *make_args = command.argv[1:]
    targets = sorted(t for t in DRY_RUN_TARGETS if t.startswith("bench-")) if target == "bench-*" else [target]
    for name in targets:
        assert name in DRY_RUN_TARGETS, f"make {name}: no rule says how to check it"
        out = sh(["make", "-n", name, *make_args], tmp_path)
        assert out.strip(), f"make -n {name} printed nothing"


def make_without_install() -> list[str]:
    """`make` that runs a target's own recipe in virtual_env() and never its install prerequisite: that recipe
    (`python -m venv --clear .venv`, checked by `make -n install` and run by CI's `make install`) would rebuild the
    environment of a checkout whose pyproject.toml is newer than its install stamp, in the middle of a test run."""
    return ["make", "-o", ".venv/.installed-stamp", f"BIN={virtual_env() / 'bin'}"]


@pytest.fixture(scope="module")
def make_train_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make train` with a 2-iteration quickstart, once for `make train` and `make evaluate`: its log folder."""
    tmp_path = tmp_path_factory.mktemp("make_train")
    logs = f"paths.log_dir={tmp_path / 'experiments'}"
    sh([*make_without_install(), "train", f"ARGS={' '.join([*TINY_TRAIN, logs])}"], tmp_path)
    return tmp_path


def run_make_train_then_evaluate(command: DocCommand, tmp_path: Path) -> None:
    """`make train` left a checkpoint (make_train_run); `make evaluate` reports on it (same log folder)."""
    assert list((tmp_path / "experiments" / "quickstart" / "runs").glob("*/checkpoints/last.ckpt"))
    if command.argv[1] == "evaluate":
        logs = f"paths.log_dir={tmp_path / 'experiments'}"
        out = sh([*make_without_install(), "evaluate", f"ARGS={logs} metrics.fid=null metrics.lmd=null"], tmp_path)
        assert "metrics.md" in out


def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    if not path.exists():
        cv2.imwrite(str(path), cv2.imread(str(sorted(SAMPLES.glob("*.png"))[0])))
    return path


def run_paired_evaluate(command: DocCommand, tmp_path: Path) -> None:
    """`evaluate.py dataset=paired dataset.root=<folder> ...` on a paired folder of that name that the test makes
    (the sample faces degraded at 64 px), with the input and a tiny random network as methods: the report is
    titled with the folder's name (or the command's dataset.name), never "CelebA-Test"."""
    args = command.argv[2:]
    (root_arg,) = [a for a in args if a.startswith("dataset.root=")]
    root = tmp_path / Path(root_arg.removeprefix("dataset.root=")).name
    run_python(
        ["-m", "facerevive.data.synthesize_testset", "--gt", str(SAMPLES), "--out", str(root), "--size", "64"], tmp_path
    )
    args = [f"dataset.root={root}" if a == root_arg else a for a in args]
    tiny = ["methods=[input,random:gfpgan_v1.4]", f"random_overrides={TINY_RESTORE[0].split('=', 1)[1]}"]
    run_dir = tmp_path / "run"
    logs = [f"paths.log_dir={tmp_path / 'logs'}", f"hydra.run.dir={run_dir}"]
    sh([PYTHON, "evaluate.py", *args, *tiny, *logs], tmp_path)
    names = [a.removeprefix("dataset.name=") for a in args if a.startswith("dataset.name=")]
    title = (run_dir / "metrics.md").read_text().splitlines()[0]
    assert title == f"# {names[0] if names else root.name}", title


def run_as_is(command: DocCommand, tmp_path: Path) -> None:
    """`python <script> --help` or `python -c <code>`, as shown."""
    run_python(command.argv[1:], tmp_path)


def run_make_lmdb(command: DocCommand, tmp_path: Path) -> None:
    """facerevive-make-lmdb on the sample faces (the docs' FFHQ folder is not here)."""
    out = tmp_path / "faces.lmdb"
    run_python(["facerevive-make-lmdb", str(SAMPLES), str(out), *command.argv[3:]], tmp_path)
    assert (out / "data.mdb").is_file()


def run_resize_heredoc(command: DocCommand, tmp_path: Path) -> None:
    """The inline resize script, in a scratch folder whose 'FFHQ 1024' folder holds one upscaled sample face."""
    src = tmp_path / "data" / "downloads" / "ffhq-dataset" / "images1024x1024" / "00000"
    src.mkdir(parents=True)
    face = cv2.imread(str(sorted(SAMPLES.glob("*.png"))[0]))
    cv2.imwrite(str(src / "00000.png"), cv2.resize(face, (1024, 1024)))
    sh(command.text.replace("python -", f"{PYTHON} -", 1), tmp_path, cwd=tmp_path)
    assert cv2.imread(str(tmp_path / "data" / "ffhq" / "ffhq_512" / "00000.png")).shape == (512, 512, 3)


def run_synthesize(command: DocCommand, tmp_path: Path) -> None:
    """synthesize_testset with the docs' flags, on the sample faces into a scratch folder."""
    argv = command.argv[1:]
    argv[argv.index("--gt") + 1] = str(SAMPLES)
    argv[argv.index("--out") + 1] = str(tmp_path / "set")
    run_python(argv, tmp_path)
    assert len(list((tmp_path / "set" / "lq").iterdir())) == len(list(SAMPLES.glob("*.png")))


def run_prepare_faces(command: DocCommand, tmp_path: Path) -> None:
    """prepare_faces with the docs' flags on a folder of raw photos (a public-domain photo of scikit-image, as
    JPEG) into a scratch folder: its face and the box file are written."""
    import skimage.data

    argv = command.argv[1:]
    photos, faces = tmp_path / "photos", tmp_path / "faces"
    photos.mkdir()
    cv2.imwrite(str(photos / "astronaut.jpg"), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    first = next(i for i, a in enumerate(argv) if i > argv.index("-m") + 1 and not a.startswith("-"))
    argv[first : first + 2] = [str(photos), str(faces)]
    run_python(argv, tmp_path)
    assert (faces / "astronaut_00.png").is_file() and (faces / "components_512.json").is_file()


def run_make_samples(command: DocCommand, tmp_path: Path) -> None:
    """scripts/make_samples.py into a scratch folder: the four sample faces and their box file."""
    run_python([*command.argv[1:], "--out", str(tmp_path / "samples")], tmp_path)
    made = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert made == sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".json"))


def help_only(command: DocCommand, tmp_path: Path) -> None:
    """A module that needs a download or weights that are not here: it must exist and parse its options."""
    argv = command.argv
    module = argv[argv.index("-m") + 1]
    run_python(["-m", module, "--help"], tmp_path)


def console_script(command: DocCommand, tmp_path: Path) -> None:
    """The script is installed, and its entry point prints its --help."""
    script = Path(PYTHON).parent / command.argv[0]
    assert script.is_file(), f"{command.argv[0]} is not installed (pip install -e .)"
    run_python([command.argv[0], "--help"], tmp_path)


def check_demo(command: DocCommand, tmp_path: Path) -> None:
    """`facerevive-demo ...` serves a page until it is stopped: its settings are loaded and checked as the command
    does it (tests/test_demo_browser.py starts the page and uses it); a bare `facerevive-demo` or `--help` runs
    `--help`."""
    args = command.argv[1:]
    if args in ([], ["--help"]):
        console_script(command, tmp_path)
        return
    # What the operator prepares: the folder `models_dir=` names, the login variable `auth_env=` names.
    values = dict(arg.split("=", 1) for arg in args if "=" in arg)
    if "models_dir" in values:
        (tmp_path / values["models_dir"]).mkdir(parents=True, exist_ok=True)
    login = {values["auth_env"]: "docs:placeholder"} if "auth_env" in values else {}
    with contextlib.chdir(tmp_path), mock.patch.dict(os.environ, login):
        load_settings(args)


def makefile_install_words() -> set[str]:
    """Every word (option, value, requirement) of the Makefile's pip commands in its .venv install recipe."""
    recipe = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    words: set[str] = set()
    for line in recipe.splitlines():
        if "$(BIN)/pip install" in line:
            words.update(shlex.split(line.split("$(BIN)/pip install", 1)[1]))
    return words


def check_pip_install(command: DocCommand, tmp_path: Path) -> None:
    """`pip install [options] <what>`: the tree (`.` or `.[extras]`, every extra declared in pyproject.toml) or the
    tools the Makefile's install recipe puts first, with only options that recipe uses. `make install` runs that
    recipe in every CI run, so a documented install cannot drift from a tested one (the wheel's install and a
    restore outside the checkout run in tests/test_packaging.py)."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    recipe = makefile_install_words()
    for word in command.argv[2:]:
        extras = re.fullmatch(r"\.(?:\[([\w,]+)\])?", word)
        if extras:
            missing = set((extras.group(1) or "").split(",")) - set(declared) - {""}
            assert not missing, f"{command.source}: extras {sorted(missing)} are not in pyproject.toml"
        else:
            assert word in recipe, (
                f"{command.source}: `{command.text}`: {word!r} is not in the Makefile's install recipe"
            )


def run_with_own_config_dir(command: DocCommand, tmp_path: Path) -> None:
    """`facerevive-train --config-dir <folder> experiment=<name>`: a folder of that name with that experiment
    (over the quickstart) composes, as the docs describe it."""
    argv = command.argv
    folder = tmp_path / argv[argv.index("--config-dir") + 1]
    (name,) = [a.removeprefix("experiment=") for a in argv if a.startswith("experiment=")]
    (folder / "experiment").mkdir(parents=True)
    (folder / "experiment" / f"{name}.yaml").write_text(
        "# @package _global_\ndefaults:\n  - quickstart\n  - _self_\ntask_name: " + name + "\n"
    )
    args = [str(folder) if a == argv[argv.index("--config-dir") + 1] else a for a in argv[1:]]
    out = run_python(["train.py", *args, "--cfg", "job"], tmp_path)
    assert f"task_name: {name}" in out


def check_activation(command: DocCommand, tmp_path: Path) -> None:
    """`source .venv/bin/activate`: `make install` (which make train / make test run first) creates .venv with
    `python -m venv` (the recipe is printed with --always-make: a made .venv would print nothing), and in a new
    shell (no PYTHONPATH, a bare PATH) the activated `python` imports FaceRevive."""
    assert f"-m venv --clear {ROOT.joinpath('.venv').relative_to(ROOT)}" in sh(
        ["make", "--dry-run", "--always-make", "install"], tmp_path
    )
    activate = virtual_env() / "bin" / "activate"
    assert activate.is_file(), f"{activate} is missing"
    shell = f". {shlex.quote(str(activate))} && cd {shlex.quote(str(ROOT))} && python -c 'import facerevive'"
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-c", shell], env=fresh, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def weights_script(command: DocCommand, tmp_path: Path) -> None:
    """`facerevive-weights <names>` downloads: its module must exist, parse its options and know the names."""
    names = [arg for arg in command.argv[1:] if not arg.startswith("-")]
    out = run_python(["-m", "facerevive.weights.download", "--list", "--dir", str(tmp_path)], tmp_path)
    for name in names:
        assert re.search(rf"^{re.escape(name)} ", out, re.M), f"{name}: not a weights name"


# Commands another test already runs for real (the same entry point and options, at a tiny size): test id.
COVERED = {
    "python restore.py input=photo.jpg weights=random:gfpgan_v1.4": (
        "tests/test_restore_pipeline.py::test_restore_cli_without_internet"
    ),
    "facerevive-export weights=random:gfpgan_v1.4 out=random_v1.4.onnx": (
        "tests/test_export.py::test_export_command_writes_and_checks"
    ),
}


def defines_test(test_id: str) -> bool:
    """Whether tests/<file>::<name> is a test function defined in that file."""
    path, name = test_id.split("::")
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def covered(command: DocCommand, tmp_path: Path) -> None:
    """Run for real by the test COVERED names (which must exist); its arguments are composed here."""
    covering = COVERED[command.text]
    assert defines_test(covering), f"{command.text}: the covering test {covering} is gone"
    argv = command.argv
    if argv[1:3] == ["-m", "facerevive.export"]:
        argv = ["facerevive-export", *argv[3:]]
    compose_command(DocCommand(shlex.join(argv), command.source), tmp_path)


def external(command: DocCommand, tmp_path: Path) -> None:
    """Not FaceRevive's command: nothing to run here (the reason is in EXTERNAL)."""


Rule = tuple[str, Callable[[DocCommand, Path], None]]
RULES: list[Rule] = [
    (r"^make (train|evaluate)$", run_make_train_then_evaluate),
    (rf"^{re.escape(ACTIVATE)}$", check_activation),
    (r"^pip install torch torchvision --index-url ", external),
    (r"^pip install ", check_pip_install),
    (r"^facerevive-weights( |$)", weights_script),
    (r"^facerevive-train --config-dir ", run_with_own_config_dir),
    (r"^make [\w*-]+( [A-Z]+=\S*)?$", dry_run_make),
    *[(rf"^{re.escape(text)}$", covered) for text in COVERED],
    (r"^python (restore|train|evaluate)\.py --help$", run_as_is),
    (r"^python evaluate\.py dataset=paired ", run_paired_evaluate),
    (r"^(python (train|evaluate|restore)\.py|facerevive-(train|evaluate|restore|export) )", compose_command),
    (r"^facerevive-(train|evaluate|restore|export)$", console_script),
    (r"^facerevive-demo( |$)", check_demo),
    (r"^facerevive-make-lmdb ", run_make_lmdb),
    (r"^python - <<", run_resize_heredoc),
    (r"^python -m facerevive\.data\.synthesize_testset ", run_synthesize),
    (r"^python -m facerevive\.data\.prepare_faces ", run_prepare_faces),
    (r"^python scripts/make_samples\.py$", run_make_samples),
    (r"^python -c ", run_as_is),
    (
        r"^(python|\.venv/bin/python) -m facerevive\."
        r"(weights\.download|weights\.convert|data\.component_boxes|restore\.strip) ",
        help_only,
    ),
    *[(rf"^{re.escape(prefix)}", external) for prefix in EXTERNAL],
]


def rule_for(command: DocCommand) -> Callable[[DocCommand, Path], None]:
    matches = [check for pattern, check in RULES if re.search(pattern, command.text)]
    assert matches, f"{command.source}: no rule says how to run `{command.text}` (add one in {__name__})"
    return matches[0]


COMMANDS = sorted({c.text: c for c in doc_commands()}.values(), key=lambda c: (c.source, c.text))


def test_docs_show_commands() -> None:
    assert len(COMMANDS) > 30, "the documentation's commands were not found"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.source}:{c.text[:60]}" for c in COMMANDS])
def test_doc_command_runs(command: DocCommand, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    check = rule_for(command)
    # make train and make evaluate share one training run (module scope), made when the first of them runs.
    folder = request.getfixturevalue("make_train_run") if check is run_make_train_then_evaluate else tmp_path
    check(command, folder)


@pytest.mark.slow
@pytest.mark.parametrize("snippet", doc_python_snippets(), ids=lambda s: s.source)
def test_doc_python_snippet_runs(snippet: DocCommand, tmp_path: Path, monkeypatch) -> None:
    """A Python snippet runs as shown; a release file it loads is a random network of the release's exact shapes."""
    import torch

    from facerevive.weights import build_generator

    monkeypatch.chdir(tmp_path)
    for name, filename in re.findall(r'"experiments/pretrained_models/((GFPGANv1\.\d)\.pth)"', snippet.text):
        release = "gfpgan_v" + filename.removeprefix("GFPGANv")
        path = tmp_path / "experiments" / "pretrained_models" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"params_ema": build_generator(f"random:{release}").state_dict()}, path)
    namespace = {"x": torch.rand(1, 3, 512, 512) * 2 - 1}
    exec(compile(snippet.text, snippet.source, "exec"), namespace)  # the docs' own code, nothing from a user


def test_every_command_has_a_rule() -> None:
    """The first matching rule decides; this catches a command that no rule covers before the slow runs start."""
    for command in COMMANDS:
        rule_for(command)
    assert not [c for c in COMMANDS if shlex.split(c.text.splitlines()[0], comments=True) == []]


def test_activation_comes_before_the_commands() -> None:
    """The README's first block is the two set-up commands; the activation follows before any `python` or
    `facerevive-` command; every other doc file that shows such commands says to activate first."""
    readme = [c for c in doc_commands() if c.source == "README.md"]
    assert [c.text for c in readme[:3]] == ["make train", "make test", ACTIVATE]
    needs_env = re.compile(r"^(python|facerevive-)")
    for source in sorted({c.source for c in doc_commands() if needs_env.match(c.text)} - {"README.md"}):
        assert ACTIVATE in (ROOT / source).read_text(encoding="utf-8"), f"{source} does not say `{ACTIVATE}`"
