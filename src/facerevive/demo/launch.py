"""`facerevive-demo [key=value ...]` / `make demo`: serve the web demo at http://<server_name>:<server_port>.

Settings are configs/demo.yaml (`--help` prints it); a setting that cannot work is one line and exit status 2,
before anything is built or served. Everything the process writes besides the kept results (uploads, Gradio's
cache, any library's temporary file, and the results when `work_dir` is null) is in one private folder that is
removed when the demo stops, on Ctrl-C and SIGTERM alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn

from facerevive.demo.models import ModelMenu
from facerevive.demo.session import DemoRestorer
from facerevive.demo.settings import DemoSettings, SettingsError, load_settings, settings_help
from facerevive.restore.build import is_random_model
from facerevive.utils.cpu_threads import use_cpu_threads
from facerevive.weights import set_pretrained_dir
from facerevive.weights.hint import weights_command
from facerevive.weights.registry import OFFICIAL_MODELS, weight_path

log = logging.getLogger("demo")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class DemoFolders:
    """The demo's private folder (`root`, removed at exit) and what lives in it: Gradio's upload and cache folder
    (GRADIO_TEMP_DIR), the process's temporary folder (TMPDIR) with the files each run hands to Gradio (`pages`),
    and the runs unless `work_dir` keeps them."""

    root: Path
    runs: Path

    @property
    def uploads(self) -> Path:
        return self.root / "gradio"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    @property
    def pages(self) -> Path:
        """Each run's previews and zip: in the process's temp folder, from which Gradio takes a function's files
        (copying them into its cache) without serving the folder itself, unlike `allowed_paths`."""
        return self.temp / "pages"


@contextlib.contextmanager
def demo_folders(settings: DemoSettings) -> Iterator[DemoFolders]:
    """A fresh private folder in `settings.work_dir` (created) or the system temp folder, removed when the demo
    stops; the runs go to `work_dir` when it is set (kept), else into the private folder."""
    if settings.work_dir is not None:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="facerevive-demo-", dir=settings.work_dir)).resolve()
    try:
        folders = DemoFolders(root, settings.work_dir.resolve() if settings.work_dir is not None else root / "runs")
        for folder in (folders.uploads, folders.temp, folders.pages, folders.runs):
            folder.mkdir(exist_ok=True)
        yield folders
    finally:
        shutil.rmtree(root, ignore_errors=True)


def keep_files_inside(folders: DemoFolders) -> None:
    """Point Gradio's upload and cache folder and every temporary file of this process (and of its children) into
    the private folder. Gradio reads GRADIO_TEMP_DIR when it is imported, so this runs before that."""
    os.environ["GRADIO_TEMP_DIR"] = str(folders.uploads)
    os.environ["TMPDIR"] = str(folders.temp)
    tempfile.tempdir = str(folders.temp)


def exposure_warning(settings: DemoSettings) -> str | None:
    """The start-up warning of a demo that other machines can reach (any address but the loopback)."""
    if settings.server_name in LOOPBACK:
        return None
    login = "a login (auth_env)" if settings.auth is not None else "NO login (set auth_env= to require one)"
    return (
        f"serving on {settings.server_name}: other machines can reach this demo, upload photos and use its CPU/GPU; "
        f"it asks {login}; Gradio serves plain HTTP, so put it behind an HTTPS proxy"
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the demo as Ctrl-C does: the server closes and the temporary result folder is removed."""
    raise KeyboardInterrupt


def _usage_error(reason: str) -> NoReturn:
    print(f"demo: {reason} (facerevive-demo --help lists the settings)", file=sys.stderr)
    raise SystemExit(2)


def check_default_model(settings: DemoSettings) -> None:
    """Say at start-up what the page's default model is when it is not a downloaded release."""
    weights = str(settings.option("weights"))
    if is_random_model(weights):
        log.warning("model %s is RANDOMLY INITIALISED: every output is labelled RANDOM WEIGHTS", weights)
    elif weights in OFFICIAL_MODELS and not weight_path(OFFICIAL_MODELS[weights].weights).is_file():
        log.warning(
            "%s is missing (%s downloads it); the page will say so, and restore.weights=random:%s runs "
            "the demo with random weights",
            weight_path(OFFICIAL_MODELS[weights].weights),
            weights_command(weights),
            weights,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Check the settings, build the page and serve it until interrupted."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(settings_help())
        raise SystemExit(0)
    try:
        settings = load_settings(args)  # the restore options checked there, the device resolved
    except (SettingsError, RuntimeError, ValueError) as exc:
        _usage_error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one line each
    set_pretrained_dir(settings.pretrained_dir)
    use_cpu_threads(settings.option("threads"))
    check_default_model(settings)
    # Offline: no telemetry and no version check (set before Gradio is imported).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    warning = exposure_warning(settings)
    if warning is not None:
        log.warning("%s", warning)
    signal.signal(signal.SIGTERM, _stop)
    with demo_folders(settings) as folders:
        keep_files_inside(folders)
        from facerevive.demo.app import build_app

        models = ModelMenu(settings, private_folders=(folders.root,))
        restorer = DemoRestorer(settings, folders.runs, folders.uploads, models, page_dir=folders.pages)
        try:
            app = build_app(settings, restorer)
            app.queue(default_concurrency_limit=settings.concurrent_runs, max_size=settings.max_queue).launch(
                server_name=settings.server_name,
                server_port=settings.server_port,
                max_file_size=f"{settings.max_upload_mb:g}mb",
                show_error=True,
                auth=settings.auth,
                # No allowed_paths: Gradio serves only its own (private) upload and cache folder; the runs'
                # inputs and results are never served, and the model folders are blocked outright.
                blocked_paths=[str(f) for f in (settings.pretrained_dir, settings.models_dir) if f is not None],
            )
        finally:
            restorer.close()
